/**
 * Schedule file → Temporal Schedule (`ScheduleOptions` for create, `ScheduleUpdateOptions` for update) and
 * the normalized comparable form used by the planner on both sides (desired from the file, actual from
 * `describe()`).
 *
 * Where bookkeeping lives (Temporal cannot update a schedule's memo after creation):
 * - schedule memo (set once at create): `{ managedBy: 'iot-pipelines', scheduleFile }` — the ownership mark;
 * - action memo (updatable, copied to every run): the user's `memo` plus `managedBy`, `scheduleId`,
 *   `scheduleFile`, `scheduleHash` (hash of the normalized desired state), `scheduleSpec` (readable timing
 *   label) and `description`.
 *
 * Runs: workflow ID `<workflowId ?? id>` (Temporal appends `-<scheduled time>`), search attribute
 * `PipelineName = pipelineName ?? id` (plus file `searchAttributes`), one input object
 * `{ ...args, schedule: { id, interval } }` (see {@link ScheduledRunInput} and `src/workflows/data-interval.ts`).
 */
import { createHash } from 'node:crypto';
import type {
  CalendarSpec,
  ScheduleDescription,
  ScheduleOptions,
  ScheduleOverlapPolicy,
  ScheduleSpec,
  ScheduleUpdateOptions,
} from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, type RetryPolicy, type SearchAttributePair } from '@temporalio/common';
import { TASK_QUEUE } from '../config/names';
import type { IntervalDefinition } from '../workflows/data-interval';
import { formatDuration, parseDuration, type LoadedSchedule, type Preset, type ScheduleFile } from './schema';

/** Value of the `managedBy` memo key on schedules this project owns. */
export const MANAGED_BY = 'iot-pipelines';

/** Default catchup window when the file has none (Temporal's own default is 1 year). @default 365d */
export const DEFAULT_CATCHUP_WINDOW = '365d';

/** The input object a managed schedule passes to its workflow (the only workflow argument). */
export type ScheduledRunInput<A extends Record<string, unknown> = Record<string, unknown>> = A & {
  schedule: { id: string; interval: IntervalDefinition };
};

/** Normalized, comparable state of a schedule: field → canonical text. Same keys on both sides. */
export type Comparable = Record<ComparableField, string>;

/** Fields compared by the planner, in display order. */
export const COMPARABLE_FIELDS = [
  'workflow',
  'taskQueue',
  'workflowId',
  'args',
  'memo',
  'searchAttributes',
  'intervals',
  'calendars',
  'timezone',
  'start',
  'end',
  'jitter',
  'overlap',
  'catchupWindow',
  'pauseOnFailure',
  'skip',
  'timeouts',
  'retry',
] as const;
export type ComparableField = (typeof COMPARABLE_FIELDS)[number];

/** Everything the planner needs about one file's desired schedule. */
export interface DesiredSchedule {
  id: string;
  file: string;
  /** Hash of {@link comparable} (16 hex chars of SHA-256), stored in the action memo as `scheduleHash`. */
  hash: string;
  comparable: Comparable;
  create: ScheduleOptions;
  update: ScheduleUpdateOptions;
}

const PIPELINE_NAME = defineSearchAttributeKey('PipelineName', SearchAttributeType.KEYWORD);

const UTC_PRESET_INTERVALS: Partial<Record<Preset, IntervalDefinition>> = {
  '@hourly': { kind: 'fixed', everyMs: 3_600_000, offsetMs: 0 },
  '@daily': { kind: 'fixed', everyMs: 86_400_000, offsetMs: 0 },
  // 1970-01-01 was a Thursday: the first Sunday 00:00Z is 3 days after the epoch.
  '@weekly': { kind: 'fixed', everyMs: 7 * 86_400_000, offsetMs: 3 * 86_400_000 },
  '@monthly': { kind: 'months', months: 1 },
  '@yearly': { kind: 'months', months: 12 },
};

/** Calendar equivalents of the presets (Temporal CalendarSpec defaults: second/minute/hour 0, rest `*`). */
const PRESET_CALENDARS: Record<Exclude<Preset, '@once'>, CalendarSpec> = {
  '@hourly': { hour: '*', comment: '@hourly' },
  '@daily': { hour: 0, comment: '@daily' },
  '@weekly': { dayOfWeek: 'SUNDAY', comment: '@weekly' },
  '@monthly': { dayOfMonth: 1, comment: '@monthly' },
  '@yearly': { month: 'JANUARY', dayOfMonth: 1, comment: '@yearly' },
};

const PRESET_CRONS: Record<Exclude<Preset, '@once'>, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
};

/** Stable JSON: object keys sorted recursively. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (parseDuration(text) ?? fallback);
}

function isoOrNone(d: Date | string | undefined): string {
  return d === undefined ? 'none' : new Date(d).toISOString();
}

/** The data interval definition runs of this schedule receive (see src/workflows/data-interval.ts). */
export function intervalDefinition(f: ScheduleFile): IntervalDefinition {
  const timezone = f.timezone ?? 'UTC';
  if (f.every !== undefined) return { kind: 'fixed', everyMs: ms(f.every, 0), offsetMs: ms(f.offset, 0) };
  if (f.preset === '@once') return { kind: 'once' };
  if (f.preset !== undefined) {
    const fixed = UTC_PRESET_INTERVALS[f.preset];
    if (timezone === 'UTC' && fixed) return fixed;
    return { kind: 'previous-fire', cron: PRESET_CRONS[f.preset], timezone };
  }
  if (f.cron !== undefined) return { kind: 'previous-fire', cron: f.cron.trim().split(/\s+/).join(' '), timezone };
  return { kind: 'previous-fire', timezone };
}

/** Readable one-line label of the timing, stored as memo `scheduleSpec`. */
function specLabel(f: ScheduleFile): string {
  if (f.every !== undefined) return `every ${formatDuration(ms(f.every, 0))} offset ${formatDuration(ms(f.offset, 0))}`;
  if (f.preset !== undefined) return `preset ${f.preset}`;
  if (f.cron !== undefined) return `cron ${f.cron.trim().split(/\s+/).join(' ')}`;
  return `calendar ${canonicalJson(f.calendar)}`;
}

/**
 * Temporal `startAt` for a file `start`. `start` is Airflow's `start_date`: the start of the first data
 * interval. Runs cover `[T − interval, T)`, so the first fire is one period later:
 * - `every` / UTC `@hourly|@daily|@weekly`: `start + every` (Temporal fires on the grid at or after it);
 * - UTC `@monthly|@yearly`: one month (year) after the first boundary at or after `start`;
 * - `@once`: `start` itself (the run happens at start);
 * - cron, calendars, presets in another time zone: `start` (the first match at or after it opens the first
 *   interval; its run gets the empty interval, see src/workflows/data-interval.ts).
 */
export function temporalStartAt(f: ScheduleFile): Date | undefined {
  if (f.start === undefined) return undefined;
  const start = Date.parse(f.start);
  const def = intervalDefinition(f);
  if (def.kind === 'fixed') return new Date(start + def.everyMs);
  if (def.kind === 'months') {
    const d = new Date(start);
    if (def.months === 1) {
      const first = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) < start ? d.getUTCMonth() + 1 : d.getUTCMonth();
      return new Date(Date.UTC(d.getUTCFullYear(), first + 1, 1));
    }
    const firstYear = Date.UTC(d.getUTCFullYear(), 0, 1) < start ? d.getUTCFullYear() + 1 : d.getUTCFullYear();
    return new Date(Date.UTC(firstYear + 1, 0, 1));
  }
  return new Date(start);
}

function buildSpec(f: ScheduleFile): ScheduleSpec {
  const spec: ScheduleSpec = { timezone: f.timezone ?? 'UTC', jitter: ms(f.jitter, 0) };
  const startAt = temporalStartAt(f);
  if (startAt !== undefined) spec.startAt = startAt;
  if (f.end !== undefined) spec.endAt = new Date(f.end);
  if (f.every !== undefined) spec.intervals = [{ every: ms(f.every, 0), offset: ms(f.offset, 0) }];
  else if (f.preset === '@once') {
    // Fire exactly once: a 1s grid clipped to the single instant [start, start] (start/end are inclusive).
    spec.intervals = [{ every: 1000, offset: 0 }];
    spec.endAt = new Date(f.start!);
  } else if (f.preset !== undefined) spec.calendars = [PRESET_CALENDARS[f.preset]];
  else if (f.cron !== undefined) spec.cronExpressions = [f.cron];
  else if (f.calendar !== undefined) spec.calendars = (Array.isArray(f.calendar) ? f.calendar : [f.calendar]) as CalendarSpec[];
  if (f.skip !== undefined) spec.skip = (Array.isArray(f.skip) ? f.skip : [f.skip]) as CalendarSpec[];
  return spec;
}

function skipLabel(count: number): string {
  return count === 0 ? 'none' : `${count} skip calendar${count === 1 ? '' : 's'}`;
}

function timeoutsLabel(t: { execution?: number; run?: number; task?: number }): string {
  const part = (name: string, v: number | undefined) => `${name} ${v ? formatDuration(v) : 'none'}`;
  return [part('execution', t.execution), part('run', t.run), part('task', t.task)].join(', ');
}

/** Normalized retry policy text, `none` when unset. Durations as text; only the keys that are set. */
function retryLabel(r: RetryPolicy | undefined): string {
  if (!r) return 'none';
  const dur = (v: unknown) => {
    const n = durationMs(v);
    return n === undefined ? undefined : formatDuration(n);
  };
  return canonicalJson({
    maximumAttempts: r.maximumAttempts || undefined,
    // The SDK fills in 1s when unset (compileRetryPolicy); normalize both sides to it.
    initialInterval: dur(r.initialInterval ?? 1000),
    backoffCoefficient: r.backoffCoefficient || undefined,
    maximumInterval: dur(r.maximumInterval),
    nonRetryableErrorTypes: r.nonRetryableErrorTypes?.length ? [...r.nonRetryableErrorTypes] : undefined,
  });
}

function formatIntervals(list: readonly { every: number | string; offset?: number | string }[] | undefined): string {
  if (!list || list.length === 0) return 'none';
  return list.map((i) => `every ${formatDuration(Number(i.every))} offset ${formatDuration(Number(i.offset ?? 0))}`).join('; ');
}

function searchAttributePairs(f: ScheduleFile): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [{ key: PIPELINE_NAME, value: f.pipelineName ?? f.id }];
  for (const [name, value] of Object.entries(f.searchAttributes ?? {})) {
    pairs.push({ key: defineSearchAttributeKey(name, SearchAttributeType.KEYWORD), value });
  }
  return pairs;
}

function formatSearchAttributes(pairs: readonly { name: string; value: unknown }[]): string {
  const sorted = [...pairs].sort((a, b) => (a.name < b.name ? -1 : 1));
  return sorted.length
    ? sorted.map((p) => `${p.name}=${p.value instanceof Date ? p.value.toISOString() : String(p.value)}`).join(', ')
    : 'none';
}

function memoForComparison(memo: Record<string, unknown> | undefined): string {
  const { scheduleHash: _hash, ...rest } = memo ?? {};
  return canonicalJson(rest);
}

/**
 * Builds the desired Temporal state of one schedule file.
 * @param loaded a validated file (see `loadScheduleFiles`).
 */
export function toDesiredSchedule(loaded: LoadedSchedule): DesiredSchedule {
  const f = loaded.config;
  const spec = buildSpec(f);
  const label = specLabel(f);
  const input: ScheduledRunInput = { ...(f.args ?? {}), schedule: { id: f.id, interval: intervalDefinition(f) } };
  const baseMemo: Record<string, unknown> = {
    ...(f.memo ?? {}),
    managedBy: MANAGED_BY,
    scheduleId: f.id,
    scheduleFile: loaded.file,
    scheduleSpec: label,
    ...(f.description !== undefined ? { description: f.description } : {}),
  };
  const overlap = (f.overlap ?? 'skip').toUpperCase() as Exclude<ScheduleOverlapPolicy, undefined>;
  const catchupWindow = ms(f.catchupWindow, ms(DEFAULT_CATCHUP_WINDOW, 0));
  const pairs = searchAttributePairs(f);
  const retry: RetryPolicy | undefined = f.retry
    ? {
        ...(f.retry.maximumAttempts !== undefined ? { maximumAttempts: f.retry.maximumAttempts } : {}),
        ...(f.retry.initialInterval !== undefined ? { initialInterval: ms(f.retry.initialInterval, 0) } : {}),
        ...(f.retry.backoffCoefficient !== undefined ? { backoffCoefficient: f.retry.backoffCoefficient } : {}),
        ...(f.retry.maximumInterval !== undefined ? { maximumInterval: ms(f.retry.maximumInterval, 0) } : {}),
        ...(f.retry.nonRetryableErrorTypes !== undefined ? { nonRetryableErrorTypes: f.retry.nonRetryableErrorTypes } : {}),
      }
    : undefined;
  const comparable: Comparable = {
    workflow: f.workflow,
    taskQueue: f.taskQueue ?? TASK_QUEUE,
    workflowId: f.workflowId ?? f.id,
    args: canonicalJson([input]),
    memo: memoForComparison(baseMemo),
    searchAttributes: formatSearchAttributes(pairs.map((p) => ({ name: p.key.name, value: p.value }))),
    intervals: formatIntervals(spec.intervals),
    calendars: spec.calendars || spec.cronExpressions ? label : 'none',
    timezone: f.timezone ?? 'UTC',
    start: isoOrNone(spec.startAt),
    end: isoOrNone(spec.endAt),
    jitter: formatDuration(ms(f.jitter, 0)),
    overlap,
    catchupWindow: formatDuration(catchupWindow),
    pauseOnFailure: String(f.pauseOnFailure ?? false),
    skip: skipLabel(spec.skip?.length ?? 0),
    timeouts: timeoutsLabel({ execution: ms(f.executionTimeout, 0), run: ms(f.runTimeout, 0), task: ms(f.taskTimeout, 0) }),
    retry: retryLabel(retry),
  };
  // The skip calendars come back compiled from the server: their text is covered by the hash only.
  const hash = createHash('sha256')
    .update(canonicalJson(comparable) + (f.skip !== undefined ? canonicalJson(f.skip) : ''))
    .digest('hex')
    .slice(0, 16);
  const action: ScheduleOptions['action'] = {
    type: 'startWorkflow',
    workflowType: f.workflow,
    taskQueue: comparable.taskQueue,
    workflowId: comparable.workflowId,
    args: [input],
    memo: { ...baseMemo, scheduleHash: hash },
    typedSearchAttributes: pairs,
    ...(f.executionTimeout !== undefined ? { workflowExecutionTimeout: ms(f.executionTimeout, 0) } : {}),
    ...(f.runTimeout !== undefined ? { workflowRunTimeout: ms(f.runTimeout, 0) } : {}),
    ...(f.taskTimeout !== undefined ? { workflowTaskTimeout: ms(f.taskTimeout, 0) } : {}),
    ...(retry ? { retry } : {}),
  };
  const policies = { overlap, catchupWindow, pauseOnFailure: f.pauseOnFailure ?? false };
  // `paused`/`note` apply at creation only (Airflow's is_paused_upon_creation); apply keeps the live state.
  const state = { paused: f.paused ?? false, note: f.note ?? (f.paused ? 'paused on creation by schedule file' : '') };
  return {
    id: f.id,
    file: loaded.file,
    hash,
    comparable,
    create: {
      scheduleId: f.id,
      spec,
      action,
      policies,
      state,
      memo: { managedBy: MANAGED_BY, scheduleFile: loaded.file },
      // On the schedule itself too, so `temporal schedule list --query` can filter schedules.
      typedSearchAttributes: pairs,
    },
    update: { spec, action, policies, state },
  };
}

function durationMs(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' ? v : typeof v === 'string' ? parseDuration(v) : undefined;
}

/** True when a described schedule carries this project's ownership mark (schedule memo `managedBy`). */
export function isManaged(memo: Record<string, unknown> | undefined): boolean {
  return memo?.managedBy === MANAGED_BY;
}

/**
 * Normalizes a `describe()` result into the {@link Comparable} form (durations as text, dates as ISO,
 * defaults filled, the hash removed from the memo). Calendars and cron expressions come back compiled into
 * structured calendars, which cannot be mapped back to the file's text: for them the comparison uses the
 * `scheduleSpec` label stored in the action memo at apply time (plus the stored hash, see apply.ts).
 */
export function comparableFromDescription(d: ScheduleDescription): { comparable: Comparable; hash: string | undefined } {
  const action = d.action;
  const memo = action.memo;
  const hasCalendars = (d.spec.calendars?.length ?? 0) > 0;
  const typed = action.typedSearchAttributes;
  const pairs: { name: string; value: unknown }[] =
    typed && 'getAll' in typed
      ? typed.getAll().map((p) => ({ name: p.key.name, value: p.value }))
      : Array.isArray(typed)
        ? typed.map((p) => ({ name: p.key.name, value: p.value }))
        : [];
  return {
    hash: typeof memo?.scheduleHash === 'string' ? memo.scheduleHash : undefined,
    comparable: {
      workflow: action.workflowType,
      taskQueue: String(action.taskQueue ?? ''),
      workflowId: String(action.workflowId ?? ''),
      args: canonicalJson(action.args ?? []),
      memo: memoForComparison(memo),
      searchAttributes: formatSearchAttributes(pairs),
      intervals: formatIntervals(d.spec.intervals),
      calendars: hasCalendars
        ? typeof memo?.scheduleSpec === 'string' && !memo.scheduleSpec.startsWith('every')
          ? memo.scheduleSpec
          : 'calendars set outside the file'
        : 'none',
      timezone: d.spec.timezone || 'UTC',
      start: isoOrNone(d.spec.startAt),
      end: isoOrNone(d.spec.endAt),
      jitter: formatDuration(d.spec.jitter ?? 0),
      overlap: String(d.policies.overlap ?? 'SKIP'),
      catchupWindow: formatDuration(d.policies.catchupWindow),
      pauseOnFailure: String(d.policies.pauseOnFailure),
      skip: skipLabel(d.spec.skip?.length ?? 0),
      timeouts: timeoutsLabel({
        execution: durationMs(action.workflowExecutionTimeout),
        run: durationMs(action.workflowRunTimeout),
        task: durationMs(action.workflowTaskTimeout),
      }),
      retry: retryLabel(action.retry),
    },
  };
}
