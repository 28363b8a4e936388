/**
 * Long-running MQTT ingest supervisor, one per source (workflow ID `ingest-mqtt-<source>`). It runs the
 * consumer activity in a loop — one session, or `members` sessions on a shared subscription
 * (`$share/<group>/<topic>`) so several workers split the topic — restarts each run when it ends or
 * fails (at once after progress, with backoff otherwise), pauses and resumes on signals, answers the
 * `status` query, takes `configure` updates, and continues-as-new with its state before the history grows large (see
 * stream-supervisor.ts). Messages never pass through workflow history.
 */
import { ApplicationFailure, continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { MqttIngestActivities } from '../activities/mqtt-ingest';
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

export { MAX_RUNS_PER_HISTORY } from './stream-supervisor';

/** Largest batch: the MQTT Receive Maximum (the broker's in-flight window per session). */
export const MQTT_MAX_BATCH = 65535;
/** Largest number of shared-subscription sessions per stream. */
export const MQTT_MAX_MEMBERS = 32;

/** Consumer activity options: the streams' shared options, runs of up to 30 minutes. */
export const CONSUMER_ACTIVITY_OPTIONS = { ...STREAM_CONSUMER_ACTIVITY_OPTIONS, startToCloseTimeout: '30 minutes' } as const;

/** The options before the `stream-fast-recovery` patch (recorded histories). */
const LEGACY_OPTIONS = { ...LEGACY_STREAM_CONSUMER_ACTIVITY_OPTIONS, startToCloseTimeout: '30 minutes' } as const;
const legacy = proxyActivities<MqttIngestActivities>(LEGACY_OPTIONS);

/** Input of {@link mqttIngest}. */
export interface MqttIngestInput {
  source: string;
  /** @default `sensors/<source>/+` */
  topic?: string;
  /** What the topic carries. @default 'sensor' */
  kind?: string;
  /**
   * Sessions splitting the topic through the shared subscription `$share/<shareGroup>/<topic>`;
   * 1 = a plain subscription. Changeable with `configure`. @default 1
   */
  members?: number;
  /** Shared-subscription group. @default `ingest-<source>` */
  shareGroup?: string;
  /** @default 1000 */
  batchSize?: number;
  /** @default 500 */
  flushIntervalMs?: number;
  /** How long each consumer activity run lasts, ms. @default 60000 */
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

/** Supervises the MQTT consumer(s) of one source; never returns on its own. */
export async function mqttIngest(input: MqttIngestInput): Promise<void> {
  try {
    validateStreamConfig(input, { maxBatchSize: MQTT_MAX_BATCH, maxMembers: MQTT_MAX_MEMBERS });
  } catch (e) {
    throw ApplicationFailure.nonRetryable((e as Error).message, 'InvalidInput');
  }
  const state: StreamStatus =
    input.carried ??
    initialStreamStatus({
      source: input.source,
      stream: 'mqtt',
      kind: input.kind ?? 'sensor',
      batchSize: input.batchSize ?? 1000,
      flushIntervalMs: input.flushIntervalMs ?? 500,
      members: input.members ?? 1,
      heartbeatTimeoutMs: input.heartbeatTimeoutMs,
      restartBackoff: input.restartBackoff,
    });
  if (!input.carried && input.declaration !== undefined) {
    state.declaration = input.declaration;
    state.kind = `source:${input.declaration.name}`;
  }
  // Shared mode is fixed at start: switching a running stream from a plain to a shared subscription
  // would leave the plain session queueing messages nobody reads.
  const shared = (input.members ?? 1) > 1 || input.shareGroup !== undefined;
  await superviseStream({
    state,
    maxBatchSize: MQTT_MAX_BATCH,
    maxMembers: shared ? MQTT_MAX_MEMBERS : 1,
    runMember: (member, s, run) => {
      const { consumeMqtt } = run ? proxyActivities<MqttIngestActivities>(runActivityOptions(CONSUMER_ACTIVITY_OPTIONS, run)) : legacy;
      return consumeMqtt({
        source: input.source,
        topic: input.topic,
        kind: input.kind,
        shareGroup: shared ? (input.shareGroup ?? `ingest-${input.source}`) : undefined,
        member: shared ? member : undefined,
        batchSize: s.batchSize,
        flushIntervalMs: s.flushIntervalMs,
        runForMs: input.runForMs,
        ...(s.declaration !== undefined ? { declaration: s.declaration } : {}),
      });
    },
    continueAsNew: (carried) => continueAsNew<typeof mqttIngest>({ ...input, carried }),
    maxRunsPerHistory: input.maxRunsPerHistory,
  });
}

// Runs for as long as the stream (or device) exists: moves to a new worker build (versioning.ts).
autoUpgradeWhenVersioned(mqttIngest);
