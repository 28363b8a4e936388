/**
 * The data interval of a run, with Airflow 2 semantics, computed INSIDE workflows (deterministic: plain
 * integer math on epoch milliseconds, no Node built-ins, no clock reads besides the workflow's own).
 *
 * Airflow 2 ("Data interval", https://airflow.apache.org/docs/apache-airflow/2.10.0/authoring-and-scheduling/timetable.html):
 * an interval schedule's run that fires at T covers `[T − interval, T)`; its logical date is the interval
 * start. A schedule (see `src/schedules/to-temporal.ts`) passes an {@link IntervalDefinition} in the run's
 * input (`input.schedule.interval`); Temporal records the fire time in the `TemporalScheduledStartTime`
 * search attribute, read by {@link scheduledStartTime}.
 *
 * Which definitions are computed here:
 * - `fixed` (`every: 10m` with offset; `@hourly`, `@daily`, `@weekly` in UTC): exact, aligned to the grid
 *   `epoch + n·every + offset`, so jitter or a manual trigger between two ticks yields the latest complete
 *   interval (Airflow's `infer_manual_data_interval`).
 * - `months` (`@monthly` = 1, `@yearly` = 12, in UTC): calendar math (months are not fixed length).
 * - `once` (`@once`): the empty interval `[T, T]`, like Airflow's `OnceTimetable`.
 * - `previous-fire` (cron, calendar specs, and presets in a non-UTC time zone): the interval is
 *   `[previous match, latest match ≤ T)` of the schedule's spec. Time zones and DST must not be computed in
 *   workflow code, so {@link resolveRunInterval} asks Temporal itself in the `scheduleIntervalAt` activity
 *   (src/activities/schedules.ts, `ListScheduleMatchingTimes`): the interval follows exactly what the
 *   schedule fires, DST included, and the answer is recorded in history (replay-safe). The synchronous
 *   {@link resolveDataInterval} takes it as `options.previousFireTime` and throws without it.
 *   The first fire of a schedule (no earlier match, e.g. the first one at or after `start`) only opens the
 *   first interval: it gets the empty interval `[T, T)`, like `@once` (Airflow starts the first run one
 *   period after `start_date`).
 *
 * DST (checked on the dev server by test/data-interval.test.ts): a daily 02:30 schedule in
 * America/New_York or Europe/Berlin does not fire on the spring-forward day (02:30 does not exist), so the
 * next run's interval spans 47 h; a daily 01:30 in America/New_York fires twice on the fall-back day
 * (01:30 EDT and 01:30 EST, the second run covering 1 h), while Europe/Berlin's ambiguous 02:30 fires
 * once, at the later (CET) instant (25 h interval). Intervals stay contiguous in every case.
 */
import { ApplicationFailure, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { searchAttributeKeys } from '../config/names';
import type { ScheduleActivities } from '../activities/schedules';

/** How a run derives its data interval from its scheduled time. Plain JSON: it travels in workflow args. */
export type IntervalDefinition =
  | {
      /** `epoch + n·everyMs + offsetMs` grid (Temporal IntervalSpec). */
      kind: 'fixed';
      /** Interval length in milliseconds (whole seconds). */
      everyMs: number;
      /** Phase of the grid in milliseconds, `0 <= offsetMs < everyMs`. @default 0 */
      offsetMs?: number;
    }
  | {
      /** Calendar months in UTC, interval ends on the 1st of a month at 00:00Z. */
      kind: 'months';
      /** 1 for `@monthly`, 12 for `@yearly` (aligned to January). */
      months: 1 | 12;
    }
  | { kind: 'once' }
  | {
      /** The start is the schedule's previous fire time; see the module comment. */
      kind: 'previous-fire';
      /** Cron expression equivalent to the schedule (5 fields), when one exists. */
      cron?: string;
      /** IANA time zone of the schedule. */
      timezone: string;
    };

/** What a workflow needs in its input to resolve its interval. Extra fields of the input are ignored. */
export interface DataIntervalInput {
  /** Explicit interval start (ISO 8601); together with `dataIntervalEnd` it wins over everything (manual runs, backfills). */
  dataIntervalStart?: string;
  /** Explicit interval end (ISO 8601), exclusive. */
  dataIntervalEnd?: string;
  /** Set by managed schedules (`src/schedules/to-temporal.ts`). */
  schedule?: {
    /** Schedule ID. */
    id: string;
    /** How to derive the interval from the scheduled time. */
    interval: IntervalDefinition;
  };
}

/** A run's data interval as ISO 8601 strings (UTC, millisecond precision). */
export interface DataInterval {
  /** Inclusive start. */
  dataIntervalStart: string;
  /** Exclusive end. */
  dataIntervalEnd: string;
  /** Airflow's logical date (`execution_date`): equals the interval start. */
  logicalDate: string;
}

/** Options of {@link resolveDataInterval}. */
export interface ResolveOptions {
  /**
   * "Now" for runs without a scheduled time (manual start): the latest complete interval before it is used.
   * @default `new Date()` — inside a workflow this is the deterministic workflow clock.
   */
  now?: Date;
  /** Previous fire time of the schedule, required for `previous-fire` definitions. */
  previousFireTime?: Date | string;
}

/** The interval cannot be derived from the input. Not retryable: the input or definition must change. */
export class DataIntervalError extends Error {
  override readonly name = 'DataIntervalError';
  constructor(
    message: string,
    readonly definition: IntervalDefinition | undefined,
  ) {
    super(message);
  }
}

function parseInstant(value: string | Date, what: string): number {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) throw new DataIntervalError(`${what} ${JSON.stringify(String(value))} is not an ISO 8601 date`, undefined);
  return ms;
}

/** Floor division that works for negative numbers (instants before 1970). */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Start of the UTC month containing `ms`, shifted by `delta` months. */
function utcMonthStart(ms: number, delta: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + delta, 1);
}

function result(startMs: number, endMs: number): DataInterval {
  const start = new Date(startMs).toISOString();
  return { dataIntervalStart: start, dataIntervalEnd: new Date(endMs).toISOString(), logicalDate: start };
}

/**
 * The interval end for a fixed grid: the latest grid point `<= t`.
 * Source of the grid: Temporal IntervalSpec, "Epoch + (n * every) + offset".
 */
export function alignDown(tMs: number, everyMs: number, offsetMs = 0): number {
  return floorDiv(tMs - offsetMs, everyMs) * everyMs + offsetMs;
}

/**
 * Resolves the data interval of a run.
 *
 * Order: explicit `input.dataIntervalStart`/`dataIntervalEnd` (both required together) > the schedule's
 * definition applied to `scheduledStart` (the run's fire time) or, for manual runs, `options.now`.
 *
 * @param input the workflow input (see {@link DataIntervalInput}).
 * @param scheduledStart fire time of a scheduled run (see {@link scheduledStartTime}); `undefined` for manual runs.
 * @throws {@link DataIntervalError} when neither explicit bounds nor a schedule definition are present, when only one
 *   explicit bound is given or start > end, or for `previous-fire` definitions without `options.previousFireTime`.
 */
export function resolveDataInterval(input: DataIntervalInput, scheduledStart?: Date | string, options: ResolveOptions = {}): DataInterval {
  const { dataIntervalStart, dataIntervalEnd } = input;
  if (dataIntervalStart !== undefined || dataIntervalEnd !== undefined) {
    if (dataIntervalStart === undefined || dataIntervalEnd === undefined) {
      throw new DataIntervalError('give both dataIntervalStart and dataIntervalEnd, or neither', input.schedule?.interval);
    }
    const s = parseInstant(dataIntervalStart, 'dataIntervalStart');
    const e = parseInstant(dataIntervalEnd, 'dataIntervalEnd');
    if (s > e) throw new DataIntervalError(`dataIntervalStart ${dataIntervalStart} is after dataIntervalEnd ${dataIntervalEnd}`, undefined);
    return result(s, e);
  }
  const def = input.schedule?.interval;
  if (!def) {
    throw new DataIntervalError(
      'no data interval: the input has neither dataIntervalStart/dataIntervalEnd nor schedule.interval (set by a managed schedule)',
      undefined,
    );
  }
  const t = scheduledStart !== undefined ? parseInstant(scheduledStart, 'scheduled start') : (options.now ?? new Date()).getTime();
  switch (def.kind) {
    case 'fixed': {
      if (!(def.everyMs > 0)) throw new DataIntervalError(`everyMs must be > 0, got ${def.everyMs}`, def);
      const end = alignDown(t, def.everyMs, def.offsetMs ?? 0);
      return result(end - def.everyMs, end);
    }
    case 'months': {
      // Latest month (or year) boundary <= t, then one unit back.
      let end = utcMonthStart(t, 0);
      if (def.months === 12) end = Date.UTC(new Date(t).getUTCFullYear(), 0, 1);
      return result(utcMonthStart(end, -def.months), end);
    }
    case 'once':
      return result(t, t);
    case 'previous-fire': {
      if (options.previousFireTime === undefined) {
        throw new DataIntervalError(
          `schedule ${input.schedule?.id ?? '?'} (${def.cron ?? 'calendar'} in ${def.timezone}) needs options.previousFireTime: ` +
            'compute the previous fire time outside the workflow (activity) and pass it',
          def,
        );
      }
      const prev = parseInstant(options.previousFireTime, 'previousFireTime');
      if (prev > t) throw new DataIntervalError('previousFireTime is after the scheduled time', def);
      return result(prev, t);
    }
  }
}

/** Name of the search attribute Temporal sets on runs started by a schedule (its nominal fire time). */
export const SCHEDULED_START_TIME_ATTRIBUTE = 'TemporalScheduledStartTime';

/**
 * The fire time of the current run when a schedule started it (also for `trigger()`/backfill runs), else
 * `undefined` (manual start, child workflow, …). Reads the `TemporalScheduledStartTime` search attribute
 * from `workflowInfo().typedSearchAttributes` (works with SDK 1.24, checked by test/data-interval.test.ts),
 * falling back to the deprecated untyped `searchAttributes` map (values are arrays). Call only inside a workflow.
 */
export function scheduledStartTime(): Date | undefined {
  const info = workflowInfo();
  for (const pair of info.typedSearchAttributes.getAll()) {
    if (pair.key.name === SCHEDULED_START_TIME_ATTRIBUTE && pair.value instanceof Date) return pair.value;
  }
  const raw = (info.searchAttributes as Record<string, unknown> | undefined)?.[SCHEDULED_START_TIME_ATTRIBUTE];
  const first: unknown = Array.isArray(raw) ? raw[0] : raw;
  if (first instanceof Date) return first;
  if (typeof first === 'string' && Number.isFinite(Date.parse(first))) return new Date(first);
  return undefined;
}

/**
 * {@link resolveDataInterval} for the current run: uses {@link scheduledStartTime}. Call only inside a workflow.
 * @throws {@link DataIntervalError} see {@link resolveDataInterval}.
 */
export function currentDataInterval(input: DataIntervalInput, options: ResolveOptions = {}): DataInterval {
  return resolveDataInterval(input, scheduledStartTime(), options);
}

/** Options of the `scheduleIntervalAt` activity: a few quick RPCs to the Temporal frontend. */
export const SCHEDULE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
} as const;

const { scheduleIntervalAt } = proxyActivities<ScheduleActivities>(SCHEDULE_ACTIVITY_OPTIONS);

/**
 * The data interval of the current run for every definition kind: like {@link currentDataInterval}, and for
 * `previous-fire` definitions it asks the schedule's matching times (activity `scheduleIntervalAt`, which the
 * worker must register). Call only inside a workflow.
 * @throws {@link DataIntervalError} when the input has no interval, or a `previous-fire` run has no scheduled
 * time or the schedule never matched before it.
 */
export async function resolveRunInterval(input: DataIntervalInput): Promise<DataInterval> {
  const def = input.schedule?.interval;
  if (input.dataIntervalStart !== undefined || input.dataIntervalEnd !== undefined || def?.kind !== 'previous-fire') {
    return currentDataInterval(input);
  }
  const at = scheduledStartTime();
  if (at === undefined) {
    throw new DataIntervalError(
      `schedule ${input.schedule?.id ?? '?'}: a cron/calendar run started outside its schedule needs dataIntervalStart and dataIntervalEnd`,
      def,
    );
  }
  const matches = await scheduleIntervalAt({ scheduleId: input.schedule!.id, at: at.toISOString() });
  if (matches.end === null) {
    throw new DataIntervalError(`schedule ${input.schedule!.id} never matched at or before ${at.toISOString()}`, def);
  }
  return resolveDataInterval(input, matches.end, { previousFireTime: matches.start ?? matches.end });
}

/**
 * {@link resolveRunInterval} for a pipeline run: every definition kind, cron and calendar schedules
 * included (they ask the schedule's own fire times through the `scheduleIntervalAt` activity, so the
 * worker must register the schedule activities). An interval that cannot be resolved fails the run with
 * a non-retryable `InvalidDataInterval` (retrying cannot fix its input). Call only inside a workflow.
 * For every other definition kind nothing is scheduled, so histories of earlier runs replay unchanged.
 * @throws ApplicationFailure (non-retryable, type `InvalidDataInterval`).
 */
export async function runDataInterval(input: DataIntervalInput): Promise<DataInterval> {
  try {
    return await resolveRunInterval(input);
  } catch (e) {
    if (e instanceof DataIntervalError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidDataInterval');
    throw e;
  }
}

/** Tags the run with the search attributes users filter by in the UI: `PipelineName` and `DataIntervalStart`. */
export function tagPipelineRun(pipelineName: string, interval: DataInterval): void {
  upsertSearchAttributes([
    { key: searchAttributeKeys.PipelineName, value: pipelineName },
    { key: searchAttributeKeys.DataIntervalStart, value: new Date(interval.dataIntervalStart) },
  ]);
}
