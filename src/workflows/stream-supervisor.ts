/**
 * The supervision loop shared by the stream workflows (MQTT, Kafka): N member consumer activities run
 * in parallel, each restarted after it returns (or fails: activity retries with backoff); `pause` /
 * `resume` signals, the `configure` update (batch size, flush interval, members) and the `status`
 * query; continue-as-new when Temporal suggests it, after every member's current run has ended and
 * all handlers have finished. Deterministic: no I/O, time only from the workflow API.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ConsumerRunStats } from '../activities/stream-common';
import { configure, pause, resume, status, type StreamConfig, type StreamStatus } from './messages';

/**
 * Timeouts and retries shared by every stream's consumer activity: restarts forever with backoff,
 * heartbeats detect a dead worker within 15 s, and on pause the workflow waits for the consumer to
 * commit and acknowledge what it holds. Each stream adds its own `startToCloseTimeout`.
 */
export const STREAM_CONSUMER_ACTIVITY_OPTIONS = {
  heartbeatTimeout: '15 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;

/** Consumer activity runs before continue-as-new even if the server does not suggest it. @default 500 */
export const MAX_RUNS_PER_HISTORY = 500;

/** The status a new stream starts with: zero counters, `running`, its settings. */
export function initialStreamStatus(o: {
  source: string;
  stream: 'mqtt' | 'kafka';
  kind: string;
  batchSize: number;
  flushIntervalMs: number;
  members: number;
}): StreamStatus {
  return {
    source: o.source,
    state: 'running',
    received: 0,
    committed: 0,
    inserted: 0,
    duplicates: 0,
    deadLettered: 0,
    batches: 0,
    runs: 0,
    batchSize: o.batchSize,
    flushIntervalMs: o.flushIntervalMs,
    stream: o.stream,
    kind: o.kind,
    members: o.members,
  };
}

/** What a stream workflow plugs into {@link superviseStream}. */
export interface SupervisorSpec {
  /** Initial (or carried) state. */
  state: StreamStatus;
  /** Largest accepted batch size (MQTT: the Receive Maximum 65535). */
  maxBatchSize: number;
  /** Largest number of members. @default 1 (members not configurable) */
  maxMembers?: number;
  /** Starts one run of member `member`'s consumer activity with the current settings. */
  runMember: (member: number, s: StreamStatus) => Promise<ConsumerRunStats>;
  /** Continues as new with the carried state. */
  continueAsNew: (carried: StreamStatus) => Promise<never>;
  /** Consumer runs per history before continue-as-new, when the server has not suggested it earlier. @default {@link MAX_RUNS_PER_HISTORY} */
  maxRunsPerHistory?: number;
}

function errorText(e: unknown): string {
  return e instanceof ActivityFailure ? String(e.cause?.message ?? e.message) : String(e);
}

/** Supervises the stream; never returns on its own (cancellation ends it). */
export async function superviseStream(spec: SupervisorSpec): Promise<void> {
  const s = spec.state;
  s.members ??= 1;
  const maxMembers = spec.maxMembers ?? 1;
  let runsThisHistory = 0;
  const maxRuns = spec.maxRunsPerHistory ?? MAX_RUNS_PER_HISTORY;
  let running = 0;
  let draining = false;
  const latest = new Map<number, ConsumerRunStats>();
  const paused = () => s.state === 'paused' || s.state === 'pausing';

  setHandler(status, () => ({ ...s }));
  setHandler(pause, (reason) => {
    if (s.state === 'running') s.state = running > 0 ? 'pausing' : 'paused';
    s.pausedReason = reason;
  });
  setHandler(resume, () => {
    s.state = 'running';
    s.pausedReason = undefined;
  });
  setHandler(
    configure,
    (c: StreamConfig) => {
      if (c.batchSize !== undefined) s.batchSize = c.batchSize;
      if (c.flushIntervalMs !== undefined) s.flushIntervalMs = c.flushIntervalMs;
      if (c.members !== undefined) s.members = c.members;
      return { batchSize: s.batchSize, flushIntervalMs: s.flushIntervalMs, members: s.members };
    },
    {
      validator: (c: StreamConfig) => {
        if (c.batchSize !== undefined && (!Number.isInteger(c.batchSize) || c.batchSize < 1 || c.batchSize > spec.maxBatchSize)) {
          throw new Error(`batchSize must be an integer from 1 to ${spec.maxBatchSize}; got ${c.batchSize}`);
        }
        if (
          c.flushIntervalMs !== undefined &&
          (!Number.isInteger(c.flushIntervalMs) || c.flushIntervalMs < 10 || c.flushIntervalMs > 60_000)
        ) {
          throw new Error(`flushIntervalMs must be an integer from 10 to 60000; got ${c.flushIntervalMs}`);
        }
        if (c.members !== undefined && (!Number.isInteger(c.members) || c.members < 1 || c.members > maxMembers)) {
          throw new Error(`members must be an integer from 1 to ${maxMembers}; got ${c.members}`);
        }
      },
    },
  );

  const record = (member: number, r: ConsumerRunStats) => {
    s.received += r.received;
    s.committed += r.committed;
    s.inserted += r.inserted;
    s.duplicates += r.duplicates;
    s.deadLettered += r.deadLettered;
    s.batches += r.batches;
    s.runs++;
    s.lastRunEndedAt = r.endedAt;
    if (r.lastError) {
      s.lastError = r.lastError;
      s.lastErrorAt = new Date(Date.now()).toISOString();
    }
    latest.set(member, r);
    const live = [...latest.entries()].filter(([m]) => m < (s.members ?? 1)).map(([, x]) => x);
    s.ratePerSecond = Math.round(live.reduce((t, x) => t + (x.ratePerSecond ?? 0), 0) * 10) / 10;
    const waiting = live.map((x) => x.waitingReason).find((w) => w !== undefined);
    s.waitingReason = waiting;
    if (live.some((x) => x.lag)) s.lag = Object.assign({}, ...live.map((x) => x.lag ?? {})) as Record<string, number>;
  };

  const memberLoop = async (member: number): Promise<void> => {
    for (;;) {
      if (draining || member >= (s.members ?? 1)) return;
      if (paused()) {
        await condition(() => !paused() || draining || member >= (s.members ?? 1));
        continue;
      }
      const scope = new CancellationScope();
      running++;
      const run = scope.run(() => spec.runMember(member, s));
      const watcher = new CancellationScope();
      void watcher
        .run(() => condition(() => paused() || member >= (s.members ?? 1)))
        .then(
          () => scope.cancel(),
          () => undefined,
        );
      try {
        record(member, await run);
        if (!latest.get(member)?.lastError) s.lastError = undefined;
      } catch (e) {
        // The workflow itself was cancelled (`stop`): the consumer has committed what it held; end.
        if (CancellationScope.current().consideredCancelled) throw e;
        if (!isCancellation(e)) {
          s.lastError = errorText(e);
          s.lastErrorAt = new Date(Date.now()).toISOString();
        }
      }
      watcher.cancel();
      running--;
      if (s.state === 'pausing' && running === 0) s.state = 'paused';
      runsThisHistory++;
    }
  };

  for (;;) {
    const loops = new Map<number, Promise<void>>();
    const startMissing = () => {
      for (let m = 0; m < (s.members ?? 1); m++) {
        if (!loops.has(m))
          loops.set(
            m,
            memberLoop(m).finally(() => loops.delete(m)),
          );
      }
    };
    startMissing();
    // Wait until continue-as-new is due; start loops for members added by `configure` meanwhile.
    for (;;) {
      try {
        await condition(
          () =>
            workflowInfo().continueAsNewSuggested ||
            runsThisHistory >= maxRuns ||
            [...Array(s.members ?? 1).keys()].some((m) => !loops.has(m)),
        );
      } catch (e) {
        // Workflow cancelled (`stop`): wait for every consumer to commit what it holds and stop.
        if (isCancellation(e)) await Promise.allSettled([...loops.values()]);
        throw e;
      }
      if (workflowInfo().continueAsNewSuggested || runsThisHistory >= maxRuns) break;
      startMissing();
    }
    draining = true;
    await Promise.all([...loops.values()]);
    await condition(allHandlersFinished);
    await spec.continueAsNew(s);
  }
}
