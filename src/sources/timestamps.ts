/**
 * Event-time parsers, compiled once per source from its `event_time: { format, zone }`.
 *
 * - `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`: a number, or a string of one (`"1764744000.123"`);
 *   fractions are kept to the microsecond (PostgreSQL's `timestamptz` resolution).
 * - `iso8601`: ISO 8601 (`2026-12-03T06:40:00Z`, `…+01:00`, RFC 3339's `2026-12-03 06:40:00.5`, week
 *   and ordinal dates too: the common forms directly, the others through Luxon's `DateTime.fromISO` /
 *   `fromSQL`). A time without an offset is read in `zone` (UTC when none is declared).
 * - `auto` (the default): ISO 8601 for text, and for numbers the unit their magnitude implies, as
 *   Telegraf's `json_time_format = "unix"` family does per unit: below 10^11 seconds (until the year
 *   5138), below 10^14 milliseconds, below 10^17 microseconds, else nanoseconds.
 * - anything else: a Luxon format pattern (https://moment.github.io/luxon/#/parsing?id=table-of-tokens),
 *   e.g. `yyyy-MM-dd HH:mm:ss` or `dd/MM/yyyy HH:mm`, read in the IANA `zone`. Zone arithmetic is
 *   Luxon's: a local time inside a DST gap (02:30 on a spring-forward night) moves forward by the gap;
 *   one in a fold (02:30 on a fall-back night) is its later occurrence, in standard time.
 */
import { DateTime, IANAZone } from 'luxon';
import { TIME_FORMATS } from './declaration';
import { describeValue } from './values';

/** What a parser returns: epoch milliseconds (UTC, fractional to the µs), or why the value is not a time. */
export type TimeResult = { ok: true; epochMs: number } | { ok: false; reason: string };

/** A compiled event-time parser. */
export type TimeParser = (value: unknown) => TimeResult;

/** The time format or zone of a source file is wrong (found at load, never per message). */
export class TimeFormatError extends Error {
  override readonly name = 'TimeFormatError';
  constructor(
    readonly field: 'format' | 'zone',
    message: string,
  ) {
    super(message);
  }
}

const NUMERIC = /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/;
const UNIT_MS = { epoch_s: 1000, epoch_ms: 1, epoch_us: 1e-3, epoch_ns: 1e-6 } as const;

const describe = (v: unknown) => describeValue(v, 80);

/** A number, or a string holding one; undefined otherwise. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMERIC.test(value)) return Number(value);
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

/** The unit an epoch number of this magnitude is in (see the module comment). */
export function epochUnit(n: number): keyof typeof UNIT_MS {
  const a = Math.abs(n);
  return a < 1e11 ? 'epoch_s' : a < 1e14 ? 'epoch_ms' : a < 1e17 ? 'epoch_us' : 'epoch_ns';
}

/** Rounds epoch ms to whole microseconds (what `timestamptz` keeps). */
function toMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function fromEpoch(n: number, unit: keyof typeof UNIT_MS): TimeResult {
  const ms = toMicros(n * UNIT_MS[unit]);
  // PostgreSQL's timestamptz covers 4713 BC to 294276 AD; JavaScript dates ±8.64e15 ms.
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return { ok: false, reason: `${n} is out of range as ${unit}` };
  return { ok: true, epochMs: ms };
}

/** `yyyy-MM-ddTHH:mm[:ss[.f…]]` with `Z` or `±HH:MM` (or none, read as UTC when `naiveIsUtc`): the form almost every producer sends. */
const FAST_ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The common ISO 8601 forms without Luxon (about 30 times faster, and to the microsecond): epoch ms,
 * or undefined to let Luxon decide (other forms, and invalid values, whose reason Luxon words).
 */
function fastIso(s: string, naiveIsUtc: boolean): number | undefined {
  const m = FAST_ISO.exec(s);
  if (!m) return undefined;
  const offset = m[8];
  if (offset === undefined && !naiveIsUtc) return undefined;
  const y = +m[1]!;
  const mo = +m[2]!;
  const d = +m[3]!;
  const h = +m[4]!;
  const mi = +m[5]!;
  const sec = m[6] === undefined ? 0 : +m[6];
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 1 : 0;
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > DAYS[mo - 1]! + leap || h > 23 || mi > 59 || sec > 59) return undefined;
  let ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  const f = m[7];
  if (f !== undefined) ms += toMicros(Number(`0.${f}`) * 1000);
  if (offset !== undefined && offset !== 'Z') {
    const minutes = +offset.slice(1, 3) * 60 + +offset.slice(4, 6);
    ms -= (offset[0] === '-' ? -1 : 1) * minutes * 60_000;
  }
  return ms;
}

/**
 * Compiles the parser for `format` in `zone`.
 * @param format one of {@link TIME_FORMATS} or a Luxon format pattern. @default 'auto'
 * @param zone IANA time zone for times without an offset. @default 'UTC'
 * @throws TimeFormatError when the zone is unknown or the pattern has no date or time token
 */
export function compileTimeParser(format = 'auto', zone?: string): TimeParser {
  const z = zone ?? 'UTC';
  if (!IANAZone.isValidZone(z)) {
    throw new TimeFormatError('zone', `${JSON.stringify(z)} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`);
  }
  const utc = z === 'UTC';
  const iso = (s: string): TimeResult => {
    const fast = fastIso(s, utc);
    if (fast !== undefined) return { ok: true, epochMs: fast };
    const t = s.trim();
    let d = DateTime.fromISO(t, { zone: z, setZone: false });
    // RFC 3339 allows a space between date and time (`2026-12-03 06:40:00`), which fromISO does not.
    if (!d.isValid && t[10] === ' ') {
      const sql = DateTime.fromSQL(t, { zone: z, setZone: false });
      if (sql.isValid) d = sql;
    }
    if (!d.isValid)
      return { ok: false, reason: `${describe(s)} is not an ISO 8601 time (${d.invalidExplanation ?? d.invalidReason ?? 'invalid'})` };
    return { ok: true, epochMs: d.toMillis() };
  };
  if ((TIME_FORMATS as readonly string[]).includes(format)) {
    const f = format as (typeof TIME_FORMATS)[number];
    if (f === 'iso8601') {
      return (v) => (typeof v === 'string' ? iso(v) : { ok: false, reason: `${describe(v)} is not an ISO 8601 string` });
    }
    if (f === 'auto') {
      return (v) => {
        const n = asNumber(v);
        if (n !== undefined) return fromEpoch(n, epochUnit(n));
        if (typeof v === 'string') return iso(v);
        return { ok: false, reason: `${describe(v)} is neither an ISO 8601 string nor an epoch number` };
      };
    }
    return (v) => {
      const n = asNumber(v);
      return n === undefined ? { ok: false, reason: `${describe(v)} is not a number of ${f.slice(6)} since the epoch` } : fromEpoch(n, f);
    };
  }
  // A Luxon pattern: it must name the year (or be an epoch token, X / x), or every time would be today's.
  if (!/[yXx]/.test(format.replace(/'[^']*'/g, ''))) {
    throw new TimeFormatError(
      'format',
      `${JSON.stringify(format)} is neither ${TIME_FORMATS.join(', ')} nor a date pattern with a year (e.g. "yyyy-MM-dd HH:mm:ss", Luxon tokens)`,
    );
  }
  return (v) => {
    if (typeof v !== 'string') return { ok: false, reason: `${describe(v)} is not a string in the format ${format}` };
    const d = DateTime.fromFormat(v.trim(), format, { zone: z, setZone: false });
    if (!d.isValid)
      return {
        ok: false,
        reason: `${describe(v)} does not match the format ${format} (${d.invalidExplanation ?? d.invalidReason ?? 'invalid'})`,
      };
    return { ok: true, epochMs: d.toMillis() };
  };
}
