/**
 * A round-robin partition assigner that honours each member's own subscription, as Kafka's Java
 * `RoundRobinAssignor` does: when subscriptions differ across the members of a consumer group, a
 * partition goes only to members subscribed to its topic.
 *
 * Why: kafkajs's built-in `RoundRobinAssigner` distributes only the *leader's* topics over all members
 * (tulios/kafkajs#1040, #1679). This project runs one ingest workflow per (topic, consumer group), so
 * two workflows may share a group id with different topics; with the built-in assigner, whichever
 * member is elected leader decides which topic is consumed at all, and the other topic silently gets no
 * partitions.
 *
 * Assignment: topics in name order, partitions in id order, each handed to the next subscribed member
 * (member ids sorted, one cursor across topics, so load spreads like the built-in assigner when every
 * member has the same subscription).
 */
import { AssignerProtocol, type GroupMember, type PartitionAssigner } from 'kafkajs';

/** Wire name of the assignment strategy (members of one group must agree on it). */
export const SUBSCRIPTION_ROUND_ROBIN = 'SubscriptionRoundRobinAssigner';

/** The topics each member subscribed to, from its JoinGroup metadata. */
function subscriptions(members: GroupMember[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of members) {
    const meta = AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
    out.set(m.memberId, meta?.topics ?? []);
  }
  return out;
}

/**
 * Pure assignment: `partitions` maps a topic to its partition ids.
 * @returns member id → topic → partition ids (members with nothing assigned are absent)
 */
export function assignRoundRobin(
  memberTopics: Map<string, string[]>,
  partitions: Map<string, number[]>,
): Map<string, Record<string, number[]>> {
  const members = [...memberTopics.keys()].sort();
  const out = new Map<string, Record<string, number[]>>();
  let cursor = 0;
  for (const topic of [...partitions.keys()].sort()) {
    const subscribed = members.filter((m) => memberTopics.get(m)?.includes(topic));
    if (subscribed.length === 0) continue;
    for (const p of [...(partitions.get(topic) ?? [])].sort((a, b) => a - b)) {
      // One cursor over all members, skipping the unsubscribed ones (Java RoundRobinAssignor).
      let member = members[cursor % members.length]!;
      while (!memberTopics.get(member)?.includes(topic)) member = members[++cursor % members.length]!;
      cursor++;
      const a = out.get(member) ?? {};
      (a[topic] ??= []).push(p);
      out.set(member, a);
    }
  }
  return out;
}

/** The kafkajs `PartitionAssigner` for {@link assignRoundRobin}; pass it in `partitionAssigners`. */
export const subscriptionRoundRobinAssigner: PartitionAssigner = ({ cluster }) => ({
  name: SUBSCRIPTION_ROUND_ROBIN,
  version: 0,
  async assign({ members }) {
    const memberTopics = subscriptions(members);
    const topics = [...new Set([...memberTopics.values()].flat())];
    // The leader's metadata covers only its own topics: load the others' too.
    await cluster.addMultipleTargetTopics(topics);
    const partitions = new Map(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]));
    const assignment = assignRoundRobin(memberTopics, partitions);
    return [...memberTopics.keys()].map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: SUBSCRIPTION_ROUND_ROBIN,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
