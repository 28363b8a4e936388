/**
 * Sparkplug B topics (Eclipse Sparkplug 3.0, §4.1 "Topic Namespace Elements"):
 *
 * ```text
 * spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]
 * spBv1.0/STATE/<host_id>
 * ```
 *
 * Node messages (`NBIRTH`, `NDEATH`, `NDATA`, `NCMD`) have no device level; device messages (`DBIRTH`,
 * `DDEATH`, `DDATA`, `DCMD`) must have one. Group, edge node and device ids are single topic levels
 * (no `/`, `+` or `#`), which a topic split already guarantees except for empty levels.
 */

/** The Sparkplug B namespace: the first topic level. */
export const SPARKPLUG_NAMESPACE = 'spBv1.0';

/** Message types of edge nodes and devices, and whether each is a device message. */
export const MESSAGE_TYPES = {
  NBIRTH: false,
  NDEATH: false,
  NDATA: false,
  NCMD: false,
  DBIRTH: true,
  DDEATH: true,
  DDATA: true,
  DCMD: true,
} as const;

/** One of {@link MESSAGE_TYPES}. */
export type MessageType = keyof typeof MESSAGE_TYPES;

/** A parsed Sparkplug B topic. */
export type SparkplugTopic =
  { kind: 'edge'; groupId: string; messageType: MessageType; edgeNodeId: string; deviceId?: string } | { kind: 'state'; hostId: string };

/** What {@link parseSparkplugTopic} gives: the topic, or why it is not a Sparkplug B topic. */
export type ParsedTopic = { ok: true; topic: SparkplugTopic } | { ok: false; reason: string };

/** Parses `topic`; see the module comment for the forms. Never throws. */
export function parseSparkplugTopic(topic: string): ParsedTopic {
  const levels = topic.split('/');
  const bad = (why: string): ParsedTopic => ({ ok: false, reason: `topic ${topic}: ${why}` });
  if (levels[0] !== SPARKPLUG_NAMESPACE) return bad(`does not start with ${SPARKPLUG_NAMESPACE}/`);
  if (levels[1] === 'STATE') {
    if (levels.length !== 3 || !levels[2]) return bad('a STATE topic is spBv1.0/STATE/<host_id>');
    return { ok: true, topic: { kind: 'state', hostId: levels[2] } };
  }
  if (levels.length < 4 || levels.length > 5) return bad('expected spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]');
  const [, groupId, type, edgeNodeId, deviceId] = levels as [string, string, string, string, string | undefined];
  if (!(type in MESSAGE_TYPES)) return bad(`${JSON.stringify(type)} is not a message type (${Object.keys(MESSAGE_TYPES).join(', ')})`);
  const messageType = type as MessageType;
  if (!groupId || !edgeNodeId || deviceId === '') return bad('a group, edge node or device id is empty');
  if (MESSAGE_TYPES[messageType] !== (deviceId !== undefined)) {
    return bad(MESSAGE_TYPES[messageType] ? `${messageType} needs a device id level` : `${messageType} has no device id level`);
  }
  return { ok: true, topic: { kind: 'edge', groupId, messageType, edgeNodeId, ...(deviceId !== undefined ? { deviceId } : {}) } };
}

/** The topic a host application sends an edge node's commands to (`NCMD`), e.g. a rebirth request. */
export function nodeCommandTopic(groupId: string, edgeNodeId: string): string {
  return `${SPARKPLUG_NAMESPACE}/${groupId}/NCMD/${edgeNodeId}`;
}

/** The host application's own STATE topic (Sparkplug 3.0 §5.1.2: retained, QoS 1). */
export function hostStateTopic(hostId: string): string {
  return `${SPARKPLUG_NAMESPACE}/STATE/${hostId}`;
}
