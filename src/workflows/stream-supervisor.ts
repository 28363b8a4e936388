/**
 * The supervision loop shared by the stream workflows (MQTT, Kafka): N member consumer activities run
 * in parallel, each restarted after it returns or fails; `pause` / `resume` signals, the `configure`
 * update (batch size, flush interval, members, heartbeat timeout, restart backoff) and the `status`
 * query; continue-as-new when Temporal suggests it, after every member's current run has ended and
 * all handlers have finished. Deterministic: no I/O, time only from the workflow API.
 *
 * Recovery: the workflow, not the activity retry policy, decides when a consumer run starts again.
 * Each run is its own activity with `maximumAttempts: 1`, so a run that dies with its worker (heartbeat
 * timeout) or fails comes back to the workflow at once. The failure carries what the run had done:
 * a heartbeat timeout brings the last heartbeat details (`TimeoutFailure.lastHeartbeatDetails`, the
 * run's counters), and the consumer activities attach the same counters to the errors they throw
 * (`ApplicationFailure.details[0]`). A member that made progress since its last failure (this run or
 * an earlier one that ended since committed a batch, or this run was consuming an idle topic with
 * nothing in hand) gets a fresh activity immediately: attempt 1, no backoff, however many crashes came
 * before. Only runs that fail without progress (broker refusing,
 * database broken, invalid settings) back off exponentially with a workflow timer
 * ({@link RestartBackoff}), so a broken dependency is not hammered. With Temporal's retry policy instead,
 * the server's backoff grows with the attempt number of one long-lived activity and never resets
 * (issue 19: 45 s stalls per crash after hours of healthy progress).
 *
 * A worker that shuts down gracefully (SIGTERM) cancels its activities with `WORKER_SHUTDOWN`; the
 * consumer then commits what it holds and the run completes normally, and the workflow starts the
 * next run at once on whichever worker polls (a standby takes over without waiting for a timeout).
 *
 * Live progress stays out of the history: the consumers report their counters as heartbeat details,
 * which clients read with `describe` (`pendingActivities[].heartbeatDetails`) and add to the totals of
 * the `status` query (`streamStatus` in src/cli/streams.ts). The query names each member's current run
 * (`consumers[].activityId`) so the two can be matched. The workflow history only grows per run.
 *
 * Versioning: these behaviours are behind the `stream-fast-recovery` patch, checked before every run,
 * so running streams switch over at their next consumer run and recorded histories replay unchanged.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ConsumerRunStats } from '../activities/stream-common';
import {
  addCounters,
  applySource,
  configure,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_RESTART_BACKOFF,
  pause,
  resume,
  status,
  type MemberRun,
  type RestartBackoff,
  type StreamConfig,
  type StreamStatus,
} from './messages';

/** Patch id of workflow-driven restarts, per-stream heartbeat timeouts and named runs (see the module comment). */
export const FAST_RECOVERY_PATCH = 'stream-fast-recovery';

/**
 * Options shared by every stream's consumer activity: one attempt per activity (the workflow restarts
 * runs, see the module comment); the heartbeat timeout is the stream's `heartbeatTimeoutMs`; on pause
 * the workflow waits for the consumer to commit and acknowledge what it holds. Each stream adds its
 * own `startToCloseTimeout`.
 */
export const STREAM_CONSUMER_ACTIVITY_OPTIONS = {
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 1 },
} as const;

/**
 * The options of streams' consumer runs before {@link FAST_RECOVERY_PATCH}: one activity retried forever
 * by the server with backoff, a 15 s heartbeat timeout. Kept so recorded histories replay.
 */
export const LEGACY_STREAM_CONSUMER_ACTIVITY_OPTIONS = {
  heartbeatTimeout: '15 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;

/** Range of `heartbeatTimeoutMs`, ms: above the consumers' 1 s heartbeat period with room, up to 10 minutes. */
export const HEARTBEAT_TIMEOUT_RANGE_MS = [3_000, 600_000] as const;

/** How one consumer run is started under {@link FAST_RECOVERY_PATCH}. */
export interface RunOptions {
  /** Activity ID of the run, `consume-m<member>-<n>`. */
  activityId: string;
  /** Heartbeat timeout of the run, ms. */
  heartbeatTimeoutMs: number;
}

/** Activity options of one consumer run: `base` (a stream's options) with the run's ID and heartbeat timeout. */
export function runActivityOptions(base: ActivityOptions, run: RunOptions): ActivityOptions {
  return { ...base, activityId: run.activityId, heartbeatTimeout: run.heartbeatTimeoutMs };
}

/**
 * Delay before the next run after `failures` consecutive failures without progress (≥ 1), ms:
 * `min(initialIntervalMs × coefficient^(failures−1), maximumIntervalMs)`.
 */
export function restartDelayMs(b: RestartBackoff, failures: number): number {
  return Math.round(Math.min(b.initialIntervalMs * b.coefficient ** Math.max(0, failures - 1), b.maximumIntervalMs));
}

/**
 * Whether a run made progress before it ended or failed: it committed at least one batch, or it was
 * consuming with nothing received and nothing to wait for (an idle topic: nothing could be committed).
 * `stats` are its final stats or last heartbeat details; a run with none (it died before its first
 * heartbeat reached the server) made none.
 */
export function madeProgress(stats: ConsumerRunStats | undefined): boolean {
  if (!stats) return false;
  if (stats.committed > 0 || stats.batches > 0) return true;
  return stats.consumingSince !== undefined && stats.received === 0 && stats.waitingReason === undefined;
}

/** The counters a failed run reported (last heartbeat, or attached to the failure by the activity), if any. */
export function failedRunStats(e: unknown): ConsumerRunStats | undefined {
  if (!(e instanceof ActivityFailure)) return undefined;
  const c = e.cause;
  let d: unknown;
  if (c instanceof TimeoutFailure) d = c.lastHeartbeatDetails;
  else if (c instanceof ApplicationFailure) d = c.details?.[0];
  if (typeof d !== 'object' || d === null) return undefined;
  const x = d as Partial<ConsumerRunStats>;
  return typeof x.committed === 'number' && typeof x.received === 'number' ? (x as ConsumerRunStats) : undefined;
}

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
  /** @default {@link DEFAULT_HEARTBEAT_TIMEOUT_MS} */
  heartbeatTimeoutMs?: number;
  /** Fields not given take {@link DEFAULT_RESTART_BACKOFF}. */
  restartBackoff?: Partial<RestartBackoff>;
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
    heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    restartBackoff: { ...DEFAULT_RESTART_BACKOFF, ...o.restartBackoff },
  };
}

/**
 * Checks stream settings (workflow input or `configure`) against their ranges.
 * @throws Error naming the first setting out of range.
 */
export function validateStreamConfig(
  c: StreamConfig,
  limits: { maxBatchSize: number; maxMembers: number },
  current: RestartBackoff = DEFAULT_RESTART_BACKOFF,
): void {
  if (c.batchSize !== undefined && (!Number.isInteger(c.batchSize) || c.batchSize < 1 || c.batchSize > limits.maxBatchSize)) {
    throw new Error(`batchSize must be an integer from 1 to ${limits.maxBatchSize}; got ${c.batchSize}`);
  }
  if (c.flushIntervalMs !== undefined && (!Number.isInteger(c.flushIntervalMs) || c.flushIntervalMs < 10 || c.flushIntervalMs > 60_000)) {
    throw new Error(`flushIntervalMs must be an integer from 10 to 60000; got ${c.flushIntervalMs}`);
  }
  if (c.members !== undefined && (!Number.isInteger(c.members) || c.members < 1 || c.members > limits.maxMembers)) {
    throw new Error(`members must be an integer from 1 to ${limits.maxMembers}; got ${c.members}`);
  }
  const [minHb, maxHb] = HEARTBEAT_TIMEOUT_RANGE_MS;
  if (
    c.heartbeatTimeoutMs !== undefined &&
    (!Number.isInteger(c.heartbeatTimeoutMs) || c.heartbeatTimeoutMs < minHb || c.heartbeatTimeoutMs > maxHb)
  ) {
    throw new Error(`heartbeatTimeoutMs must be an integer from ${minHb} to ${maxHb}; got ${c.heartbeatTimeoutMs}`);
  }
  const b = c.restartBackoff;
  if (b !== undefined) {
    const { initialIntervalMs: i, coefficient: k, maximumIntervalMs: m } = b;
    if (i !== undefined && (!Number.isInteger(i) || i < 100 || i > 60_000)) {
      throw new Error(`restartBackoff.initialIntervalMs must be an integer from 100 to 60000; got ${i}`);
    }
    if (k !== undefined && (typeof k !== 'number' || !(k >= 1 && k <= 10))) {
      throw new Error(`restartBackoff.coefficient must be a number from 1 to 10; got ${k}`);
    }
    if (m !== undefined && (!Number.isInteger(m) || m < 100 || m > 600_000)) {
      throw new Error(`restartBackoff.maximumIntervalMs must be an integer from 100 to 600000; got ${m}`);
    }
    const merged = { ...current, ...b };
    if (merged.maximumIntervalMs < merged.initialIntervalMs) {
      throw new Error(
        `restartBackoff.maximumIntervalMs (${merged.maximumIntervalMs}) must not be below initialIntervalMs (${merged.initialIntervalMs})`,
      );
    }
  }
}

/** What a stream workflow plugs into {@link superviseStream}. */
export interface SupervisorSpec {
  /** Initial (or carried) state. */
  state: StreamStatus;
  /** Largest accepted batch size (MQTT: the Receive Maximum 65535). */
  maxBatchSize: number;
  /** Largest number of members. @default 1 (members not configurable) */
  maxMembers?: number;
  /**
   * Starts one run of member `member`'s consumer activity with the current settings: with `run` (under
   * {@link FAST_RECOVERY_PATCH}) as its own single-attempt activity with that ID and heartbeat timeout
   * ({@link runActivityOptions}), without it with the legacy options.
   */
  runMember: (member: number, s: StreamStatus, run?: RunOptions) => Promise<ConsumerRunStats>;
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
  /** Runs started in this workflow run: the `<n>` of activity IDs. */
  let runSeq = 0;
  const maxRuns = spec.maxRunsPerHistory ?? MAX_RUNS_PER_HISTORY;
  let running = 0;
  let draining = false;
  const latest = new Map<number, ConsumerRunStats>();
  const paused = () => s.state === 'paused' || s.state === 'pausing';
  const now = () => new Date(Date.now()).toISOString();
  const memberRun = (member: number): MemberRun => {
    s.consumers ??= [];
    let m = s.consumers.find((x) => x.member === member);
    if (!m) {
      s.consumers.push((m = { member, attempt: 1, state: 'stopped' }));
      s.consumers.sort((a, b) => a.member - b.member);
    }
    return m;
  };

  setHandler(status, () => ({ ...s, consumers: s.consumers?.map((m) => ({ ...m })) }));
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
      if (c.heartbeatTimeoutMs !== undefined) s.heartbeatTimeoutMs = c.heartbeatTimeoutMs;
      if (c.restartBackoff !== undefined) {
        const b = { ...DEFAULT_RESTART_BACKOFF, ...s.restartBackoff };
        for (const k of ['initialIntervalMs', 'coefficient', 'maximumIntervalMs'] as const) {
          const v = c.restartBackoff[k];
          if (v !== undefined) b[k] = v;
        }
        s.restartBackoff = b;
      }
      return {
        batchSize: s.batchSize,
        flushIntervalMs: s.flushIntervalMs,
        members: s.members,
        heartbeatTimeoutMs: s.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
        restartBackoff: { ...DEFAULT_RESTART_BACKOFF, ...s.restartBackoff },
      };
    },
    {
      validator: (c: StreamConfig) =>
        validateStreamConfig(c, { maxBatchSize: spec.maxBatchSize, maxMembers }, { ...DEFAULT_RESTART_BACKOFF, ...s.restartBackoff }),
    },
  );

  setHandler(
    applySource,
    (declaration: unknown) => {
      s.declaration = declaration;
      s.sourceRevision = (s.sourceRevision ?? 0) + 1;
      return { revision: s.sourceRevision };
    },
    {
      validator: (declaration: unknown) => {
        if (s.declaration === undefined) throw new Error('this stream was not started from a declared source (sources/*.yaml)');
        if (typeof declaration !== 'object' || declaration === null)
          throw new Error('the declaration must be a source file parsed to an object');
      },
    },
  );

  const record = (member: number, r: ConsumerRunStats) => {
    addCounters(s, r);
    s.runs++;
    s.lastRunEndedAt = r.endedAt;
    if (r.lastError) {
      s.lastError = r.lastError;
      s.lastErrorAt = now();
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
      const gone = () => draining || member >= (s.members ?? 1);
      if (gone()) {
        if (s.consumers) memberRun(member).state = 'stopped';
        return;
      }
      if (paused()) {
        if (s.consumers) memberRun(member).state = 'stopped';
        await condition(() => !paused() || gone());
        continue;
      }
      // Checked before every run: a running stream switches over at its next run (see the module comment).
      const fast = patched(FAST_RECOVERY_PATCH);
      const m = fast ? memberRun(member) : undefined;
      let run: RunOptions | undefined;
      if (m) {
        run = { activityId: `consume-m${member}-${++runSeq}`, heartbeatTimeoutMs: s.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS };
        Object.assign(m, { activityId: run.activityId, state: 'running', since: now(), backoffMs: undefined });
      }
      const scope = new CancellationScope();
      running++;
      const runPromise = scope.run(() => spec.runMember(member, s, run));
      const watcher = new CancellationScope();
      const revision = s.sourceRevision;
      void watcher
        .run(() => condition(() => paused() || member >= (s.members ?? 1) || s.sourceRevision !== revision))
        .then(
          () => scope.cancel(),
          () => undefined,
        );
      let failedWithoutProgress = false;
      try {
        const r = await runPromise;
        record(member, r);
        if (!latest.get(member)?.lastError) s.lastError = undefined;
        if (m) {
          m.attempt = 1;
          m.committedSinceFailure = (m.committedSinceFailure ?? 0) + r.committed;
          m.lastError = r.lastError;
          m.lastErrorAt = r.lastError ? now() : undefined;
        }
      } catch (e) {
        // The workflow itself was cancelled (`stop`): the consumer has committed what it held; end.
        if (CancellationScope.current().consideredCancelled) throw e;
        if (!isCancellation(e)) {
          s.lastError = errorText(e);
          s.lastErrorAt = now();
          if (m) {
            m.lastError = s.lastError;
            m.lastErrorAt = s.lastErrorAt;
            // What the run did until it failed (a crashed run: its last heartbeat) still counts.
            const partial = failedRunStats(e);
            if (partial) addCounters(s, partial);
            // Progress since the member's last failure: this run's, or that of runs which ended since.
            if (madeProgress(partial) || (m.committedSinceFailure ?? 0) > 0) m.attempt = 1;
            else failedWithoutProgress = true;
            m.committedSinceFailure = 0;
          }
        }
      }
      watcher.cancel();
      running--;
      if (s.state === 'pausing' && running === 0) s.state = 'paused';
      runsThisHistory++;
      if (m && failedWithoutProgress) {
        const backoffMs = restartDelayMs({ ...DEFAULT_RESTART_BACKOFF, ...s.restartBackoff }, m.attempt);
        Object.assign(m, { attempt: m.attempt + 1, state: 'backoff', since: now(), backoffMs });
        // A timer, ended early by pause, removal of the member or continue-as-new (the count is carried).
        await condition(() => paused() || gone(), backoffMs);
      }
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
    // Members beyond `members` (removed by `configure`) are no longer reported.
    if (s.consumers) s.consumers = s.consumers.filter((x) => x.member < (s.members ?? 1));
    await condition(allHandlersFinished);
    await spec.continueAsNew(s);
  }
}
