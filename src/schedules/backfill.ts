/**
 * Backfill by data-interval range (Airflow's `airflow dags backfill -s FROM -e TO`): one run per interval of
 * the schedule inside `[from, to)`, started in waves of at most `concurrency` runs with the overlap policy
 * given, each wave awaited before the next.
 *
 * Which runs: the schedule's own matching times T (Temporal `ListScheduleMatchingTimes`, so cron, calendars,
 * time zones, DST and the schedule's start/end are Temporal's) in `[from, to]` whose data interval lies inside
 * `[from, to]`. The interval is computed as the run will compute it (src/workflows/data-interval.ts): from
 * the definition for `every`/UTC presets, `[previous match, T)` for cron/calendar/time-zone schedules (so
 * the first match in the range only opens the first interval). For `@daily` and `from=2023-01-01,
 * to=2023-01-31` that is 30 runs fired at 2023-01-02 … 2023-01-31.
 *
 * Runs are Temporal backfill actions (`ScheduleHandle.backfill`), so they carry `TemporalScheduledStartTime`
 * = the fire time, get workflow ID `<workflowId>-<fire time RFC 3339>`, appear in the schedule's recent
 * actions and in `temporal schedule describe`, and receive the schedule's last completion result.
 * Incremental schedules (action input `incremental: true`) need their runs in order for the watermark, and
 * Temporal passes the last completion result only to runs whose overlap policy is not `allow_all`: they
 * are backfilled one run at a time, with `buffer_all` instead of `allow_all`.
 */
import { WorkflowNotFoundError, type Client, type ScheduleOverlapPolicy } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';
import { resolveDataInterval, type DataIntervalInput } from '../workflows/data-interval';
import { OVERLAP_POLICIES, type OverlapPolicy } from './schema';

/** Default runs per wave. @default 4 */
export const DEFAULT_BACKFILL_CONCURRENCY = 4;
/** Longest wait for one wave, in ms. @default 600000 */
export const DEFAULT_WAVE_TIMEOUT_MS = 600_000;

/** Options of {@link backfillSchedule}. */
export interface BackfillOptions {
  /** Start of the first data interval (inclusive), ISO 8601 (`2023-01-01` = 00:00 UTC). */
  from: string;
  /** End of the last data interval (inclusive bound on fire times), ISO 8601. */
  to: string;
  /** Overlap policy of the backfill's runs. @default 'allow_all' (bounded by `concurrency`) */
  overlap?: OverlapPolicy;
  /** Runs started at once (each wave is awaited). @default {@link DEFAULT_BACKFILL_CONCURRENCY} */
  concurrency?: number;
  /** Only print / return the plan. @default false */
  dryRun?: boolean;
  /** @default {@link DEFAULT_WAVE_TIMEOUT_MS} */
  waveTimeoutMs?: number;
  log?: (line: string) => void;
}

/** One planned or finished run. */
export interface BackfillRun {
  /** Fire time (ISO). */
  fireTime: string;
  /** Data interval `[start, end)` the run covers. */
  dataIntervalStart: string;
  dataIntervalEnd: string;
  workflowId: string;
  status: 'planned' | 'completed' | 'failed' | 'canceled' | 'terminated' | 'timed_out' | 'continued_as_new' | 'skipped';
  /** Failure message for failed runs. */
  error?: string;
}

/** Result of {@link backfillSchedule}. */
export interface BackfillResult {
  scheduleId: string;
  overlap: OverlapPolicy;
  concurrency: number;
  runs: BackfillRun[];
}

/** Invalid backfill request (bad dates, unknown policy, …). */
export class BackfillError extends Error {
  override readonly name = 'BackfillError';
  constructor(
    message: string,
    readonly scheduleId: string,
  ) {
    super(message);
  }
}

/** `2023-01-02T00:00:00Z`: the suffix Temporal appends to scheduled workflow IDs (Go RFC 3339, no fraction). */
export function scheduledWorkflowId(prefix: string, fireTime: Date): string {
  const iso = fireTime.toISOString();
  const fraction = iso.slice(20, 23) === '000' ? '' : `.${iso.slice(20, 23).replace(/0+$/, '')}`;
  return `${prefix}-${iso.slice(0, 19)}${fraction}Z`;
}

/**
 * The schedule's matching times in `[fromMs, toMs]`, oldest first.
 * @throws the client's errors (e.g. not found).
 */
export async function matchingTimes(
  client: Client,
  scheduleId: string,
  fromMs: number,
  toMs: number,
  leadMs: number = MATCHING_LEAD_MS,
): Promise<number[]> {
  // The API's range is (start, end]. The listing starts `leadMs` early, like the `scheduleIntervalAt`
  // activity: Temporal's iteration depends on its starting point inside an ambiguous DST hour.
  const res = await client.workflowService.listScheduleMatchingTimes({
    namespace: client.options.namespace,
    scheduleId,
    startTime: msToTs(fromMs - Math.max(1, leadMs)),
    endTime: msToTs(toMs),
  });
  return (res.startTime ?? [])
    .map(tsToMs)
    .filter((t) => t >= fromMs && t <= toMs)
    .sort((a, b) => a - b);
}

/** How far before `from` matching times are listed for cron/calendar/time-zone schedules (see {@link matchingTimes}). */
export const MATCHING_LEAD_MS = 2 * 86_400_000;

function parseBound(text: string, what: string, scheduleId: string): number {
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (!Number.isFinite(ms)) throw new BackfillError(`${what} ${JSON.stringify(text)} is not an ISO 8601 date or date-time`, scheduleId);
  return ms;
}

const STATUS: Record<string, BackfillRun['status']> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'continued_as_new',
};

/**
 * Backfills `[from, to)` of a schedule: plans one run per interval, then starts them in waves.
 * @throws {@link BackfillError} for bad dates, `from >= to`, an unknown overlap policy or a bad concurrency;
 * `ScheduleNotFoundError` when the schedule does not exist; Error when a wave does not finish in time.
 */
export async function backfillSchedule(client: Client, scheduleId: string, o: BackfillOptions): Promise<BackfillResult> {
  const log = o.log ?? (() => undefined);
  const from = parseBound(o.from, 'from', scheduleId);
  const to = parseBound(o.to, 'to', scheduleId);
  if (from >= to) throw new BackfillError(`from (${o.from}) must be before to (${o.to})`, scheduleId);
  let overlap = o.overlap ?? 'allow_all';
  if (!OVERLAP_POLICIES.includes(overlap))
    throw new BackfillError(`overlap ${JSON.stringify(overlap)} is not one of ${OVERLAP_POLICIES.join(', ')}`, scheduleId);
  let concurrency = o.concurrency ?? DEFAULT_BACKFILL_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new BackfillError(`concurrency must be a positive integer, got ${concurrency}`, scheduleId);

  const handle = client.schedule.getHandle(scheduleId);
  const described = await handle.describe();
  const input = described.action.args?.[0] as (DataIntervalInput & { incremental?: unknown }) | undefined;
  if (input?.incremental === true) {
    // Temporal hands a run the last completion result only for policies other than ALLOW_ALL, and the
    // watermark chain needs the runs in order.
    if (concurrency > 1) log(`${scheduleId} is incremental (watermark): backfilling one run at a time instead of ${concurrency}.`);
    if (overlap === 'allow_all') log(`${scheduleId} is incremental (watermark): overlap buffer_all instead of allow_all.`);
    concurrency = 1;
    if (overlap === 'allow_all') overlap = 'buffer_all';
  }
  const prefix = String(described.action.workflowId ?? scheduleId);
  const previousFire = input?.schedule?.interval.kind === 'previous-fire';
  const times = await matchingTimes(client, scheduleId, from, to, previousFire ? MATCHING_LEAD_MS : 1);
  const runs: BackfillRun[] = [];
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    let start: number;
    let end: number;
    if (previousFire || !input?.schedule) {
      if (i === 0) continue; // opens the first interval
      [start, end] = [times[i - 1]!, t];
    } else {
      const di = resolveDataInterval(input, new Date(t));
      [start, end] = [Date.parse(di.dataIntervalStart), Date.parse(di.dataIntervalEnd)];
    }
    if (start < from || end > to || start >= end) continue;
    runs.push({
      fireTime: new Date(t).toISOString(),
      dataIntervalStart: new Date(start).toISOString(),
      dataIntervalEnd: new Date(end).toISOString(),
      workflowId: scheduledWorkflowId(prefix, new Date(t)),
      status: 'planned',
    });
  }
  log(
    `Backfill ${scheduleId}: ${runs.length} run(s) for [${new Date(from).toISOString()}, ${new Date(to).toISOString()}), ` +
      `overlap ${overlap}, at most ${concurrency} at once.`,
  );
  const result: BackfillResult = { scheduleId, overlap, concurrency, runs };
  if (o.dryRun || runs.length === 0) return result;

  const policy = overlap.toUpperCase() as Exclude<ScheduleOverlapPolicy, undefined>;
  for (let w = 0; w < runs.length; w += concurrency) {
    const wave = runs.slice(w, w + concurrency);
    const skippedBefore = (await handle.describe()).info.numActionsSkippedOverlap;
    // Runs of an earlier backfill keep the same workflow ID: remember their run IDs to wait for new ones.
    const previousRuns = new Map<string, string>();
    for (const r of wave) {
      const runId = await client.workflow
        .getHandle(r.workflowId)
        .describe()
        .then((d) => d.runId)
        .catch((e: unknown) => {
          if (e instanceof WorkflowNotFoundError) return undefined;
          throw e;
        });
      if (runId) previousRuns.set(r.workflowId, runId);
    }
    // [first fire, last fire] of the wave (1 ms early: correct whether Temporal treats the start as inclusive or not).
    await handle.backfill({
      start: new Date(Date.parse(wave[0]!.fireTime) - 1),
      end: new Date(wave[wave.length - 1]!.fireTime),
      overlap: policy,
    });
    await awaitWave(client, scheduleId, wave, previousRuns, skippedBefore, o.waveTimeoutMs ?? DEFAULT_WAVE_TIMEOUT_MS);
    for (const r of wave)
      log(`  ${r.dataIntervalStart} → ${r.dataIntervalEnd}  ${r.workflowId}  ${r.status}${r.error ? `: ${r.error}` : ''}`);
  }
  return result;
}

/** Message of the innermost cause (WorkflowFailedError → ActivityFailure → ApplicationFailure: the last one says why). */
function rootMessage(e: unknown): string {
  let cur: unknown = e;
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(cur);
}

/** Waits until every run of the wave is closed, or accounted for by the schedule's overlap-skip counter. */
async function awaitWave(
  client: Client,
  scheduleId: string,
  wave: BackfillRun[],
  previousRuns: ReadonlyMap<string, string>,
  skippedBefore: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const handle = client.schedule.getHandle(scheduleId);
  for (;;) {
    let open = 0;
    for (const run of wave) {
      if (run.status !== 'planned') continue;
      try {
        const d = await client.workflow.getHandle(run.workflowId).describe();
        if (d.runId === previousRuns.get(run.workflowId)) continue; // not started yet
        const status = STATUS[d.status.name];
        if (status) {
          run.status = status;
          if (status === 'failed') {
            await client.workflow
              .getHandle(run.workflowId, d.runId)
              .result()
              .catch((e: unknown) => {
                run.error = rootMessage(e);
              });
          }
        } else open++;
      } catch (e) {
        if (!(e instanceof WorkflowNotFoundError)) throw e;
      }
    }
    const missing = wave.filter((r) => r.status === 'planned').length - open;
    if (missing === 0 && open === 0) return;
    if (open === 0 && missing > 0) {
      const info = (await handle.describe()).info;
      const skipped = info.numActionsSkippedOverlap - skippedBefore;
      if (skipped >= missing && info.runningActions.length === 0) {
        for (const r of wave) if (r.status === 'planned') r.status = 'skipped';
        return;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `backfill of ${scheduleId}: runs ${wave
          .filter((r) => r.status === 'planned')
          .map((r) => r.workflowId)
          .join(', ')} did not finish within ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
