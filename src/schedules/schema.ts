/**
 * Schedule files: one YAML file per schedule in `schedules/` (repo root), validated with zod.
 *
 * Field names are camelCase. Airflow → here:
 * `schedule_interval="@daily"` → `preset: "@daily"`; `"0 5 * * *"` → `cron`; `timedelta(minutes=10)` → `every: 10m`
 * (+ `offset`); `start_date`/`end_date` → `start`/`end`; `catchup=False` → a short `catchupWindow`;
 * `max_active_runs=1` → `overlap: buffer_one`; `is_paused_upon_creation` → `paused` (creation only); `params` → `args`.
 *
 * ```yaml
 * id: sensor-pipeline            # schedule ID, [a-z0-9-]
 * description: Aggregates sensor readings every 10 minutes.
 * workflow: sensorPipeline       # workflow type
 * taskQueue: iot-pipelines       # default TASK_QUEUE
 * every: 10m                     # exactly one of preset | cron | every | calendar
 * offset: 0s                     # only with every
 * timezone: UTC                  # IANA name; calendars, cron and presets only
 * start: 2024-01-01T00:00:00Z    # optional: start of the first data interval (Airflow start_date)
 * end: 2030-01-01T00:00:00Z      # optional: last fire time, inclusive (intervals end at or before it)
 * overlap: buffer_one            # skip | buffer_one | buffer_all | cancel_other | terminate_other | allow_all
 * catchupWindow: 1h
 * pauseOnFailure: false
 * jitter: 0s
 * paused: false                  # at creation only; then `schedules pause|unpause`
 * note: ""
 * skip: [{ month: DECEMBER, dayOfMonth: 25 }]   # calendar specs whose times never fire
 * executionTimeout: 1h           # workflow execution / run / task timeouts of every run
 * retry: { maximumAttempts: 3, initialInterval: 1m }   # workflow retry policy (default: none, like Temporal)
 * memo: { owner: data-team }     # copied to the memo of every started run
 * searchAttributes: { Source: mqtt }   # on every started run, Keyword attributes registered on the server
 * args: { bucketMinutes: 5 }     # the run's input object (see src/schedules/to-temporal.ts)
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ROOT_DIR } from '../config/env';
import { SEARCH_ATTRIBUTES } from '../config/names';

/** Airflow presets. `@once` runs once at `start` (required). */
export const PRESETS = ['@once', '@hourly', '@daily', '@weekly', '@monthly', '@yearly'] as const;
export type Preset = (typeof PRESETS)[number];

/** Temporal's six overlap policies, as written in files. */
export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** Memo keys reserved for the managed-schedule bookkeeping (see to-temporal.ts). */
export const RESERVED_MEMO_KEYS = ['managedBy', 'scheduleId', 'scheduleFile', 'scheduleHash', 'scheduleSpec', 'description'] as const;

/** Search attributes a file may set (registered Keyword attributes; `PipelineName` comes from `pipelineName`). */
export const SETTABLE_SEARCH_ATTRIBUTES = Object.entries(SEARCH_ATTRIBUTES)
  .filter(([name, type]) => type === 'Keyword' && name !== 'PipelineName')
  .map(([name]) => name);

const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const DURATION_UNITS_MS = [86_400_000, 3_600_000, 60_000, 1_000];

/**
 * Parses a duration like `10m`, `1h30m`, `2d`, `45s`, `0` into milliseconds (whole seconds: Temporal rounds
 * schedule durations to seconds). Units: d, h, m, s, largest first.
 * @returns milliseconds, or `undefined` when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = DURATION_RE.exec(text);
  if (!m || text === '') return undefined;
  let ms = 0;
  for (let i = 0; i < 4; i++) if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * DURATION_UNITS_MS[i]!;
  return ms;
}

/** Formats milliseconds as the shortest duration text ({@link parseDuration}'s inverse, `0s` for 0). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  ['d', 'h', 'm', 's'].forEach((u, i) => {
    const unit = DURATION_UNITS_MS[i]!;
    const n = Math.floor(rest / unit);
    if (n > 0) out += `${n}${u}`;
    rest -= n * unit;
  });
  return rest > 0 ? `${out}${rest}ms` : out;
}

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'is not a duration: write e.g. 30s, 10m, 1h30m, 2d (units d, h, m, s, largest first)',
});

const ISO_INSTANT_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const instant = z.string().refine((s) => ISO_INSTANT_RE.test(s) && Number.isFinite(Date.parse(s)), {
  message: 'is not an ISO 8601 date or date-time with zone: write e.g. 2024-01-01 or 2024-01-01T06:00:00Z',
});

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const calendarValue = z.union([
  z.number().int(),
  z.string(),
  z.strictObject({
    start: z.union([z.number().int(), z.string()]),
    end: z.union([z.number().int(), z.string()]).optional(),
    step: z.number().int().positive().optional(),
  }),
]);
const calendarField = z.union([calendarValue, z.array(calendarValue).min(1)]);
/** One Temporal CalendarSpec (all fields must match; defaults: second/minute/hour 0, others `*`). */
const calendarSpec = z.strictObject({
  second: calendarField.optional(),
  minute: calendarField.optional(),
  hour: calendarField.optional(),
  dayOfMonth: calendarField.optional(),
  month: calendarField.optional(),
  year: calendarField.optional(),
  dayOfWeek: calendarField.optional(),
  comment: z.string().optional(),
});

/** The zod schema of one schedule file (before cross-field checks, which {@link scheduleFileSchema} adds). */
const baseSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,199}$/, {
    message: 'must be lowercase letters, digits and dashes (readable: it prefixes the workflow IDs of the runs)',
  }),
  description: z.string().optional(),
  workflow: z.string().min(1, { message: 'must name the workflow type, e.g. sensorPipeline' }),
  taskQueue: z.string().min(1).optional(),
  workflowId: z.string().min(1).optional(),
  pipelineName: z.string().min(1).optional(),
  preset: z.enum(PRESETS).optional(),
  cron: z.string().optional(),
  every: duration.optional(),
  offset: duration.optional(),
  calendar: z.union([calendarSpec, z.array(calendarSpec).min(1)]).optional(),
  timezone: z.string().refine(isTimeZone, { message: 'is not an IANA time zone: write e.g. UTC or Europe/Paris' }).optional(),
  start: instant.optional(),
  end: instant.optional(),
  overlap: z.enum(OVERLAP_POLICIES).optional(),
  catchupWindow: duration.optional(),
  pauseOnFailure: z.boolean().optional(),
  jitter: duration.optional(),
  paused: z.boolean().optional(),
  note: z.string().optional(),
  skip: z.union([calendarSpec, z.array(calendarSpec).min(1)]).optional(),
  executionTimeout: duration.optional(),
  runTimeout: duration.optional(),
  taskTimeout: duration.optional(),
  retry: z
    .strictObject({
      maximumAttempts: z.number().int().min(0).optional(),
      initialInterval: duration.optional(),
      backoffCoefficient: z.number().min(1).optional(),
      maximumInterval: duration.optional(),
      nonRetryableErrorTypes: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  memo: z.record(z.string(), z.unknown()).optional(),
  searchAttributes: z.record(z.string(), z.string()).optional(),
  args: z.record(z.string(), z.unknown()).optional(),
});

/** Minimum catchup window accepted by the Temporal server. */
export const MIN_CATCHUP_WINDOW_MS = 10_000;

/** Schedule file schema with the cross-field rules (exactly one timing, offset < every, start < end, …). */
export const scheduleFileSchema = baseSchema.superRefine((f, ctx) => {
  const timings = (['preset', 'cron', 'every', 'calendar'] as const).filter((k) => f[k] !== undefined);
  if (timings.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: timings.length === 0 ? [] : [timings[1]!],
      message:
        timings.length === 0
          ? 'needs exactly one of preset, cron, every, calendar (none given)'
          : `needs exactly one of preset, cron, every, calendar (got ${timings.join(' and ')})`,
    });
  }
  const everyMs = f.every !== undefined ? parseDuration(f.every) : undefined;
  if (everyMs !== undefined && everyMs < 1000) {
    ctx.addIssue({ code: 'custom', path: ['every'], message: 'must be at least 1s' });
  }
  if (f.offset !== undefined) {
    if (f.every === undefined) ctx.addIssue({ code: 'custom', path: ['offset'], message: 'is only allowed with every' });
    else if (everyMs !== undefined && (parseDuration(f.offset) ?? 0) >= everyMs)
      ctx.addIssue({ code: 'custom', path: ['offset'], message: `must be shorter than every (${f.every})` });
  }
  if (f.jitter !== undefined && everyMs !== undefined && (parseDuration(f.jitter) ?? 0) >= everyMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['jitter'],
      message: `must be shorter than every (${f.every}) so runs keep their interval`,
    });
  }
  if (f.cron !== undefined) {
    const fields = f.cron.trim().split(/\s+/);
    let ok = fields.length === 5 && !f.cron.includes('@');
    if (ok) {
      try {
        CronExpressionParser.parse(f.cron, { tz: 'UTC' });
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        path: ['cron'],
        message: `${JSON.stringify(f.cron)} is not a 5-field cron expression (minute hour day-of-month month day-of-week); for @daily etc. use preset`,
      });
    }
  }
  if (f.catchupWindow !== undefined && (parseDuration(f.catchupWindow) ?? 0) < MIN_CATCHUP_WINDOW_MS) {
    ctx.addIssue({ code: 'custom', path: ['catchupWindow'], message: 'must be at least 10s (Temporal minimum)' });
  }
  if (f.start !== undefined && f.end !== undefined && Date.parse(f.start) >= Date.parse(f.end)) {
    ctx.addIssue({ code: 'custom', path: ['end'], message: `must be after start (${f.start})` });
  }
  if (f.preset === '@once' && f.start === undefined) {
    ctx.addIssue({ code: 'custom', path: ['start'], message: 'is required with preset @once (the run happens at start)' });
  }
  if (f.timezone !== undefined && f.every !== undefined && f.timezone !== 'UTC') {
    ctx.addIssue({
      code: 'custom',
      path: ['timezone'],
      message: 'has no effect with every (intervals count from the Unix epoch); remove it or use preset/cron/calendar',
    });
  }
  for (const key of Object.keys(f.memo ?? {})) {
    if ((RESERVED_MEMO_KEYS as readonly string[]).includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: ['memo', key],
        message: `is reserved; reserved keys: ${RESERVED_MEMO_KEYS.join(', ')}`,
      });
    }
  }
  for (const key of Object.keys(f.searchAttributes ?? {})) {
    if (!SETTABLE_SEARCH_ATTRIBUTES.includes(key)) {
      ctx.addIssue({
        code: 'custom',
        path: ['searchAttributes', key],
        message: `is not a settable search attribute; allowed: ${SETTABLE_SEARCH_ATTRIBUTES.join(', ') || '(none)'} (PipelineName comes from pipelineName)`,
      });
    }
  }
  if (f.args?.incremental === true && (f.overlap ?? 'skip') === 'allow_all') {
    ctx.addIssue({
      code: 'custom',
      path: ['overlap'],
      message:
        'must not be allow_all with args.incremental: Temporal hands runs the last completion result (the watermark) only with the other policies',
    });
  }
  if (f.args && 'schedule' in f.args) {
    ctx.addIssue({
      code: 'custom',
      path: ['args', 'schedule'],
      message: 'is reserved: the schedule sets it (interval definition)',
    });
  }
});

/** A validated schedule file. */
export type ScheduleFile = z.infer<typeof baseSchema>;

/** A schedule file with where it came from. */
export interface LoadedSchedule {
  /** Path shown in messages: relative to the repo root when inside it, else absolute. */
  file: string;
  config: ScheduleFile;
}

/** One or more schedule files are invalid. `problems` holds one line per problem: `<file>: <field>: <reason>`. */
export class ScheduleValidationError extends Error {
  override readonly name = 'ScheduleValidationError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid schedule files:\n  ${problems.join('\n  ')}`);
  }
}

function displayPath(file: string): string {
  const rel = path.relative(ROOT_DIR, path.resolve(file));
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel;
}

function describeValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'missing' : (JSON.stringify(v) ?? `<${typeof v}>`);
}

/** Turns one zod issue into `field: reason`. */
function formatIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length ? issue.path.map(String).join('.') : '(file)';
  switch (issue.code) {
    case 'invalid_value':
      return `${field}: ${describeValue(issue.input)} is not one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `${field === '(file)' ? '' : `${field}: `}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}; allowed: ${
        field === '(file)' ? Object.keys(baseSchema.shape).join(', ') : 'see the schema in src/schedules/schema.ts'
      }`;
    case 'invalid_type':
      return issue.input === undefined
        ? `${field}: is required (${issue.expected})`
        : `${field}: ${describeValue(issue.input)} is not a ${issue.expected}`;
    case 'custom': {
      const shown = issue.input !== undefined && (typeof issue.input !== 'object' || issue.input === null);
      return `${field}: ${shown ? `${describeValue(issue.input)} ` : ''}${issue.message}`;
    }
    default:
      return `${field}: ${issue.input !== undefined ? `${describeValue(issue.input)} ` : ''}${issue.message}`;
  }
}

/**
 * Parses and validates one schedule file's text.
 * @param label file name used in messages.
 * @throws {@link ScheduleValidationError} with one `<label>: <field>: <reason>` line per problem.
 */
export function parseScheduleText(text: string, label: string): ScheduleFile {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScheduleValidationError(doc.errors.map((e) => `${label}: YAML: ${e.message.split('\n')[0]}`));
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ScheduleValidationError([`${label}: (file): must be a YAML mapping of schedule fields (id, workflow, every, …)`]);
  }
  const parsed = scheduleFileSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ScheduleValidationError(parsed.error.issues.map((i) => `${label}: ${formatIssue(i)}`));
  return parsed.data;
}

/**
 * Reads every `*.yaml` / `*.yml` file of `dir` (not recursive, sorted by name) and validates them all,
 * reporting every problem of every file at once.
 * @throws {@link ScheduleValidationError} for invalid files, duplicate ids across files, or a missing folder.
 */
export function loadScheduleFiles(dir: string): LoadedSchedule[] {
  if (!fs.existsSync(dir)) throw new ScheduleValidationError([`${displayPath(dir)}: folder not found; create it or pass another folder`]);
  const names = fs
    .readdirSync(dir)
    .filter((n) => /\.ya?ml$/i.test(n))
    .sort();
  const problems: string[] = [];
  const loaded: LoadedSchedule[] = [];
  for (const name of names) {
    const file = displayPath(path.join(dir, name));
    try {
      loaded.push({ file, config: parseScheduleText(fs.readFileSync(path.join(dir, name), 'utf8'), file) });
    } catch (err) {
      if (err instanceof ScheduleValidationError) problems.push(...err.problems);
      else throw err;
    }
  }
  const seen = new Map<string, string>();
  for (const s of loaded) {
    const first = seen.get(s.config.id);
    if (first !== undefined) problems.push(`${s.file}: id: "${s.config.id}" is already used by ${first}; ids must be unique`);
    else seen.set(s.config.id, s.file);
  }
  if (problems.length > 0) throw new ScheduleValidationError(problems);
  return loaded;
}
