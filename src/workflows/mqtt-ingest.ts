/**
 * Long-running MQTT ingest supervisor, one per source (workflow ID `ingest-mqtt-<source>`). It runs the
 * consumer activity in a loop, restarts it on failure (activity retries with backoff), pauses and
 * resumes on signals, answers the `status` query, takes `configure` updates, and continues-as-new with
 * its state before the history grows large. Messages never pass through workflow history.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { ConsumeMqttStats, MqttIngestActivities } from '../activities/mqtt-ingest';
import { configure, pause, resume, status, type StreamConfig, type StreamStatus } from './messages';

/** Consumer activity runs before continue-as-new even if the server does not suggest it. @default 500 */
export const MAX_RUNS_PER_HISTORY = 500;

/** Timeouts and retries of the consumer activity: restarts forever with backoff; heartbeats detect a dead worker. */
export const CONSUMER_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '15 seconds',
  // On pause, wait for the consumer to commit and acknowledge what it holds.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;

const { consumeMqtt } = proxyActivities<MqttIngestActivities>(CONSUMER_ACTIVITY_OPTIONS);

/** Input of {@link mqttIngest}. */
export interface MqttIngestInput {
  source: string;
  /** @default `sensors/<source>/+` */
  topic?: string;
  /** @default 1000 */
  batchSize?: number;
  /** @default 500 */
  flushIntervalMs?: number;
  /** How long each consumer activity run lasts, ms. @default 60000 */
  runForMs?: number;
  /** State carried over continue-as-new. */
  carried?: StreamStatus;
}

/** The stream's state, kept in one place and carried across continue-as-new. */
class StreamState {
  readonly s: StreamStatus;
  constructor(input: MqttIngestInput) {
    this.s = input.carried ?? {
      source: input.source,
      state: 'running',
      received: 0,
      committed: 0,
      inserted: 0,
      duplicates: 0,
      deadLettered: 0,
      batches: 0,
      runs: 0,
      batchSize: input.batchSize ?? 1000,
      flushIntervalMs: input.flushIntervalMs ?? 500,
    };
  }
  get paused(): boolean {
    return this.s.state === 'paused' || this.s.state === 'pausing';
  }
  add(r: ConsumeMqttStats): void {
    this.s.received += r.received;
    this.s.committed += r.committed;
    this.s.inserted += r.inserted;
    this.s.duplicates += r.duplicates;
    this.s.deadLettered += r.deadLettered;
    this.s.batches += r.batches;
    this.s.runs++;
    this.s.lastRunEndedAt = r.endedAt;
  }
}

/** Supervises the MQTT consumer of one source; never returns on its own. */
export async function mqttIngest(input: MqttIngestInput): Promise<void> {
  const st = new StreamState(input);
  let runsThisHistory = 0;
  let consumerRunning = false;
  setHandler(status, () => ({ ...st.s }));
  setHandler(pause, (reason) => {
    if (st.s.state === 'running') st.s.state = consumerRunning ? 'pausing' : 'paused';
    st.s.pausedReason = reason;
  });
  setHandler(resume, () => {
    st.s.state = 'running';
    st.s.pausedReason = undefined;
  });
  setHandler(
    configure,
    (c: StreamConfig) => {
      if (c.batchSize !== undefined) st.s.batchSize = c.batchSize;
      if (c.flushIntervalMs !== undefined) st.s.flushIntervalMs = c.flushIntervalMs;
      return { batchSize: st.s.batchSize, flushIntervalMs: st.s.flushIntervalMs };
    },
    {
      validator: (c: StreamConfig) => {
        if (c.batchSize !== undefined && (!Number.isInteger(c.batchSize) || c.batchSize < 1 || c.batchSize > 65535)) {
          throw new Error(`batchSize must be an integer from 1 to 65535 (the MQTT Receive Maximum); got ${c.batchSize}`);
        }
        if (c.flushIntervalMs !== undefined && (!Number.isInteger(c.flushIntervalMs) || c.flushIntervalMs < 10 || c.flushIntervalMs > 60_000)) {
          throw new Error(`flushIntervalMs must be an integer from 10 to 60000; got ${c.flushIntervalMs}`);
        }
      },
    },
  );

  for (;;) {
    if (st.paused) await condition(() => !st.paused || workflowInfo().continueAsNewSuggested);
    if (!st.paused) {
      const scope = new CancellationScope();
      consumerRunning = true;
      const run = scope.run(() =>
        consumeMqtt({
          source: input.source,
          topic: input.topic,
          batchSize: st.s.batchSize,
          flushIntervalMs: st.s.flushIntervalMs,
          runForMs: input.runForMs,
        }),
      );
      const watcher = new CancellationScope();
      void watcher.run(() => condition(() => st.paused)).then(
        () => scope.cancel(),
        () => undefined,
      );
      try {
        st.add(await run);
        st.s.lastError = undefined;
      } catch (e) {
        // The workflow itself was cancelled (`ingest stop`): the consumer has committed what it held; end.
        if (CancellationScope.current().consideredCancelled) throw e;
        if (!isCancellation(e)) st.s.lastError = e instanceof ActivityFailure ? String(e.cause?.message ?? e.message) : String(e);
      }
      watcher.cancel();
      consumerRunning = false;
      if (st.s.state === 'pausing') st.s.state = 'paused';
      runsThisHistory++;
    }
    if (workflowInfo().continueAsNewSuggested || runsThisHistory >= MAX_RUNS_PER_HISTORY) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof mqttIngest>({ ...input, carried: st.s });
    }
  }
}
