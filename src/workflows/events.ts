/**
 * The events pipeline (the seed DAG `user_events` of "Data Pipelines with Apache Airflow", chapter 3:
 * fetch_events → calculate_stats): for its data interval, fetch the events from the events API and write
 * per-(date, user) counts to `output/events/stats_<interval>.csv` and to `analytics.event_stats`, replacing
 * that interval's output. Scheduled `@daily` by `schedules/events-stats.yaml`; manual runs pass
 * `dataIntervalStart`/`dataIntervalEnd`.
 *
 * Watermark (`incremental: true`): the result carries `watermark` = the end of the last interval written.
 * A schedule hands each run the result of its last SUCCESSFUL run (`workflowInfo().lastResult`, Temporal's
 * last completion result; failures do not replace it), so when a run fails, the next run starts at the old
 * watermark and processes the failed interval(s) too, one interval of the schedule's period at a time
 * (a CSV per interval), instead of skipping them. A watermark at or after the run's own interval start
 * (a re-run or a backfill of older intervals) is ignored: the run processes exactly its interval.
 */
import { ApplicationFailure, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { EventsActivities, EventStatsSummary } from '../activities/events';
import { searchAttributeKeys } from '../config/names';
import { DataIntervalError, resolveRunInterval, type DataInterval, type DataIntervalInput } from './data-interval';

/** Default base URL of the events API (`iot-pipelines events-api`). */
export const DEFAULT_EVENTS_API_URL = 'http://127.0.0.1:5000';

/** HTTP fetch + CSV + one transaction: 2 min per attempt; backoff 1 s → 30 s, 5 attempts (4xx stop at once). */
export const EVENTS_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
} as const;

const { computeEventStats } = proxyActivities<EventsActivities>(EVENTS_ACTIVITY_OPTIONS);

/** Input of {@link eventsStats}. */
export interface EventsStatsInput extends DataIntervalInput {
  /** Base URL of the events API. @default {@link DEFAULT_EVENTS_API_URL} */
  apiUrl?: string;
  /** Resume from the last successful run's watermark (see the module comment). @default false */
  incremental?: boolean;
}

/** What a run did. `dataIntervalStart` is where it started (the watermark when it caught up). */
export interface EventsStatsResult extends DataInterval {
  /** End of the last interval written: the next run's start in incremental mode. */
  watermark: string;
  /** The run's own interval start when it caught up from an older watermark. */
  caughtUpFrom?: string;
  /** One entry per interval written, oldest first. */
  intervals: EventStatsSummary[];
  events: number;
  rows: number;
}

/** The watermark of a previous result, if it is one of ours. */
function previousWatermark(last: unknown): number | undefined {
  if (!last || typeof last !== 'object') return undefined;
  const w = (last as { watermark?: unknown }).watermark;
  const ms = typeof w === 'string' ? Date.parse(w) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Splits `[startMs, endMs)` into the schedule's period for fixed-period schedules (one CSV per interval),
 * else returns it whole.
 */
function splitInterval(input: EventsStatsInput, startMs: number, endMs: number): Array<[number, number]> {
  const def = input.schedule?.interval;
  if (def?.kind !== 'fixed' || !(def.everyMs > 0)) return [[startMs, endMs]];
  const out: Array<[number, number]> = [];
  let end = endMs;
  while (end - def.everyMs >= startMs) {
    out.unshift([end - def.everyMs, end]);
    end -= def.everyMs;
  }
  if (end > startMs) out.unshift([startMs, end]);
  return out;
}

/**
 * Counts the events of the run's data interval (and, incrementally, of the intervals failed since the last
 * successful run).
 * @throws ApplicationFailure `InvalidDataInterval` (non-retryable) when the interval cannot be resolved;
 * activity failures (e.g. the API's 400) fail the run, leaving the watermark where it was.
 */
export async function eventsStats(input: EventsStatsInput = {}): Promise<EventsStatsResult> {
  let interval: DataInterval;
  try {
    interval = await resolveRunInterval(input);
  } catch (e) {
    if (e instanceof DataIntervalError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidDataInterval');
    throw e;
  }
  const ownStart = Date.parse(interval.dataIntervalStart);
  const end = Date.parse(interval.dataIntervalEnd);
  const watermark = input.incremental ? previousWatermark(workflowInfo().lastResult) : undefined;
  const start = watermark !== undefined && watermark < ownStart ? watermark : ownStart;
  upsertSearchAttributes([
    { key: searchAttributeKeys.PipelineName, value: 'events-stats' },
    { key: searchAttributeKeys.DataIntervalStart, value: new Date(start) },
  ]);
  const apiUrl = input.apiUrl ?? DEFAULT_EVENTS_API_URL;
  const intervals: EventStatsSummary[] = [];
  for (const [s, e] of start === end ? [[start, end] as [number, number]] : splitInterval(input, start, end)) {
    intervals.push(
      await computeEventStats({ apiUrl, dataIntervalStart: new Date(s).toISOString(), dataIntervalEnd: new Date(e).toISOString() }),
    );
  }
  return {
    dataIntervalStart: new Date(start).toISOString(),
    dataIntervalEnd: interval.dataIntervalEnd,
    logicalDate: new Date(start).toISOString(),
    watermark: interval.dataIntervalEnd,
    ...(start !== ownStart ? { caughtUpFrom: interval.dataIntervalStart } : {}),
    intervals,
    events: intervals.reduce((n, i) => n + i.events, 0),
    rows: intervals.reduce((n, i) => n + i.rows, 0),
  };
}
