/**
 * Long-running Kafka ingest supervisor, one per (consumer group, topic): workflow ID
 * `ingest-kafka-<group>-<topic>`. It runs `members` consumer-group member activities in parallel
 * (changeable with `configure`: a new member joins the group and Kafka rebalances), restarts them when
 * they end or fail (at once after progress, with backoff otherwise), and takes the same `pause` /
 * `resume` / `configure` / `status` messages as the MQTT stream (see stream-supervisor.ts). Exactly-once effect comes from the consumer (positions stored in the
 * batch transaction); messages never pass through workflow history.
 */
import { ApplicationFailure, continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { KafkaIngestActivities } from '../activities/kafka-ingest';
import type { SourceDeclarationInput } from '../sources/declaration';
import type { RestartBackoff, StreamStatus } from './messages';
import {
  initialStreamStatus,
  LEGACY_STREAM_CONSUMER_ACTIVITY_OPTIONS,
  runActivityOptions,
  STREAM_CONSUMER_ACTIVITY_OPTIONS,
  superviseStream,
  validateStreamConfig,
} from './stream-supervisor';
import { autoUpgradeWhenVersioned } from './versioning';

/** Largest transaction in messages. */
export const KAFKA_MAX_BATCH = 100_000;
/** Largest number of members per stream. */
export const KAFKA_MAX_MEMBERS = 64;

/** Consumer activity options: the streams' shared options, runs of up to 2 hours. */
export const KAFKA_CONSUMER_ACTIVITY_OPTIONS = { ...STREAM_CONSUMER_ACTIVITY_OPTIONS, startToCloseTimeout: '2 hours' } as const;

/** The options before the `stream-fast-recovery` patch (recorded histories). */
const LEGACY_OPTIONS = { ...LEGACY_STREAM_CONSUMER_ACTIVITY_OPTIONS, startToCloseTimeout: '2 hours' } as const;
const legacy = proxyActivities<KafkaIngestActivities>(LEGACY_OPTIONS);

/** Input of {@link kafkaIngest}. */
export interface KafkaIngestInput {
  topic: string;
  groupId: string;
  /** Source name recorded with every row. @default the topic */
  source?: string;
  /** What the topic carries. @default 'modem' */
  kind?: string;
  /** Group members (parallel consumer activities). @default 1 */
  members?: number;
  /** @default 5000 */
  batchSize?: number;
  /** @default 500 */
  flushIntervalMs?: number;
  /**
   * Where partitions the group has no position for start: `earliest`, or `latest` (the end of each
   * partition when the stream first starts, pinned then). Kafka's `auto.offset.reset`. @default 'earliest'
   */
  startFrom?: 'earliest' | 'latest';
  /** How long each member activity run lasts, ms. @default 300000 */
  runForMs?: number;
  /**
   * Heartbeat timeout of the consumer runs, ms (3000 – 600000): how soon a run whose worker died is
   * restarted elsewhere. Changeable with `configure`. @default 10000
   */
  heartbeatTimeoutMs?: number;
  /** Backoff between restarts of runs that fail without progress. Changeable with `configure`. @default 1 s doubling up to 30 s */
  restartBackoff?: Partial<RestartBackoff>;
  /** Consumer runs per workflow history before continue-as-new. @default 500 */
  maxRunsPerHistory?: number;
  /**
   * A declared source (a `sources/*.yaml` file parsed to JSON, see `src/sources/declaration.ts`): the
   * consumers map messages with it into its table; `kind` is then unused. Replaced on a running stream
   * by the `applySource` update (`sources apply`).
   */
  declaration?: SourceDeclarationInput;
  /** State carried over continue-as-new. */
  carried?: StreamStatus;
}

/** The workflow ID of a Kafka stream. */
export function kafkaIngestWorkflowId(groupId: string, topic: string): string {
  return `ingest-kafka-${groupId}-${topic}`;
}

/** Supervises the group members of one (group, topic); never returns on its own. */
export async function kafkaIngest(input: KafkaIngestInput): Promise<void> {
  try {
    validateStreamConfig(input, { maxBatchSize: KAFKA_MAX_BATCH, maxMembers: KAFKA_MAX_MEMBERS });
  } catch (e) {
    throw ApplicationFailure.nonRetryable((e as Error).message, 'InvalidInput');
  }
  const state: StreamStatus =
    input.carried ??
    initialStreamStatus({
      source: input.source ?? input.topic,
      stream: 'kafka',
      kind: input.kind ?? 'modem',
      batchSize: input.batchSize ?? 5000,
      flushIntervalMs: input.flushIntervalMs ?? 500,
      members: input.members ?? 1,
      heartbeatTimeoutMs: input.heartbeatTimeoutMs,
      restartBackoff: input.restartBackoff,
    });
  if (!input.carried && input.declaration !== undefined) {
    state.declaration = input.declaration;
    state.kind = `source:${input.declaration.name}`;
  }
  await superviseStream({
    state,
    maxBatchSize: KAFKA_MAX_BATCH,
    maxMembers: KAFKA_MAX_MEMBERS,
    runMember: (member, s, run) =>
      (run ? proxyActivities<KafkaIngestActivities>(runActivityOptions(KAFKA_CONSUMER_ACTIVITY_OPTIONS, run)) : legacy).consumeKafka({
        topic: input.topic,
        groupId: input.groupId,
        source: input.source,
        kind: input.kind,
        member,
        batchSize: s.batchSize,
        flushIntervalMs: s.flushIntervalMs,
        runForMs: input.runForMs,
        ...(input.startFrom ? { startFrom: input.startFrom } : {}),
        ...(run ? { heartbeatTimeoutMs: run.heartbeatTimeoutMs } : {}),
        ...(s.declaration !== undefined ? { declaration: s.declaration } : {}),
      }),
    continueAsNew: (carried) => continueAsNew<typeof kafkaIngest>({ ...input, carried }),
    maxRunsPerHistory: input.maxRunsPerHistory,
  });
}

// Runs for as long as the stream (or device) exists: moves to a new worker build (versioning.ts).
autoUpgradeWhenVersioned(kafkaIngest);
