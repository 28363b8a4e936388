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
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
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
  'paused',
  'note',
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

function buildSpec(f: ScheduleFile): ScheduleSpec {
  const spec: ScheduleSpec = { timezone: f.timezone ?? 'UTC', jitter: ms(f.jitter, 0) };
  if (f.start !== undefined) spec.startAt = new Date(f.start);
  if (f.end !== undefined) spec.endAt = new Date(f.end);
  if (f.every !== undefined) spec.intervals = [{ every: ms(f.every, 0), offset: ms(f.offset, 0) }];
  else if (f.preset === '@once') {
    // Fire exactly once: a 1s grid clipped to the single instant [start, start] (start/end are inclusive).
    spec.intervals = [{ every: 1000, offset: 0 }];
    spec.endAt = new Date(f.start!);
  } else if (f.preset !== undefined) spec.calendars = [PRESET_CALENDARS[f.preset]];
  else if (f.cron !== undefined) spec.cronExpressions = [f.cron];
  else if (f.calendar !== undefined) spec.calendars = (Array.isArray(f.calendar) ? f.calendar : [f.calendar]) as CalendarSpec[];
  return spec;
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
    paused: String(f.paused ?? false),
    note: f.note ?? '',
  };
  const hash = createHash('sha256').update(canonicalJson(comparable)).digest('hex').slice(0, 16);
  const action: ScheduleOptions['action'] = {
    type: 'startWorkflow',
    workflowType: f.workflow,
    taskQueue: comparable.taskQueue,
    workflowId: comparable.workflowId,
    args: [input],
    memo: { ...baseMemo, scheduleHash: hash },
    typedSearchAttributes: pairs,
  };
  const policies = { overlap, catchupWindow, pauseOnFailure: f.pauseOnFailure ?? false };
  const state = { paused: f.paused ?? false, note: f.note ?? '' };
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
    },
    update: { spec, action, policies, state },
  };
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
      paused: String(d.state.paused),
      note: d.state.note ?? '',
    },
  };
}
