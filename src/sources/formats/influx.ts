/**
 * `format: influx` (or `{ type: influx, precision, namepass }`): InfluxDB line protocol, what Telegraf's
 * outputs write with `data_format = "influx"` and what InfluxDB v2 accepts on `/api/v2/write`.
 *
 * Spec: the InfluxDB v2 line protocol reference (docs.influxdata.com, "Line protocol"), with the
 * details it leaves open taken from Telegraf's own parser grammar (`plugins/parsers/influx/machine.go.rl`
 * of Telegraf 1.37):
 *
 * ```text
 * <measurement>[,<tag_key>=<tag_value>…] <field_key>=<field_value>[,<field_key>=<field_value>…] [<timestamp>]
 * ```
 *
 * - One point per line (`\n`, or `\r\n`); one payload may carry many lines, each a record. Blank lines
 *   and lines whose first non-blank character is `#` (comments) are skipped. Sections are separated by
 *   spaces or tabs; leading and trailing blanks are ignored.
 * - Escapes: in the measurement `\,` and `\ `; in tag keys, tag values and field keys `\,`, `\=` and
 *   `\ `; in string field values `\"` and `\\`. Elsewhere `\\` is one backslash, and a backslash before
 *   any other character is a literal backslash (the reference's "Escaping backslashes"). A measurement
 *   may not start with `#`; tag values and keys may not be empty; a line needs at least one field.
 * - Field values: float (`1`, `-1.5`, `1e-3`, `.5`; finite 64-bit), integer `12i` (signed 64-bit),
 *   unsigned `12u` (0 … 2^64 − 1), string `"…"` (may span lines; the quote ends it), boolean `t`, `T`,
 *   `true`, `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`. A field key given twice keeps the last
 *   value (as Telegraf does).
 * - Integers are JavaScript numbers: exact within ±(2^53 − 1). Beyond that the record holds the nearest
 *   double, so a `bigint` measurement dead-letters the line (`… is not an integer within ±2^53`, the
 *   binary encoder writes `int8` from a number) and a `double` measurement takes the nearest double; no
 *   value is stored wrong in a bigint column.
 * - The timestamp is an integer in `precision` (`ns` by default, as InfluxDB's API; `us`, `ms`, `s`).
 *   The record's `timestamp` is epoch **milliseconds** with the microsecond as its fraction (what an
 *   event time keeps: `timestamptz` has µs resolution), computed in integer arithmetic from the digits
 *   (nanoseconds rounded half up to the µs), so `event_time: { field: timestamp }` (`auto` or
 *   `epoch_ms`) is exact to the µs. A line without a timestamp has none (the row takes the arrival
 *   time, as InfluxDB takes the server's time).
 *
 * A record: `{ measurement, tags: { <key>: text }, fields: { <key>: number | string | boolean },
 * timestamp? }`, so a source maps `field: tags.host`, `field: fields.usage_idle`, `field: measurement`.
 *
 * `namepass: [cpu, mem*]` (Telegraf's `namepass`: names, `*` and `?` wildcards) keeps only the lines of
 * those measurements and skips the others, deliberately (a payload of only skipped lines lands nothing
 * and is not a dead letter); without it every line is a record and the mapping decides.
 *
 * One bad line dead-letters the whole payload, with its line number (1-based, counting blank and
 * comment lines) and the field, like every multi-record message of a declared source (all or nothing).
 */
import { decodeTextPayload } from '../../ingest/payload';
import type { SourceDeclaration } from '../declaration';
import type { DecodeResult, FormatFactory, PayloadRecord } from './index';

/** Timestamp precisions of `format: { type: influx, precision }` (InfluxDB's `precision` parameter). */
export const INFLUX_PRECISIONS = ['ns', 'us', 'ms', 's'] as const;
/** One of {@link INFLUX_PRECISIONS}. */
export type InfluxPrecision = (typeof INFLUX_PRECISIONS)[number];

/** A field value as the format yields it. */
export type InfluxFieldValue = number | string | boolean;

/** One parsed line. */
export interface InfluxPoint {
  measurement: string;
  /** Tag key → value (no prototype: any key is an own property). */
  tags: Record<string, string>;
  /** Field key → value (no prototype). */
  fields: Record<string, InfluxFieldValue>;
  /** Epoch ms with the µs as fraction; absent when the line has none. */
  timestamp?: number;
}

/** A line that is not line protocol: `line` is 1-based, `column` 1-based within it, `element` names what was being read. */
export class LineProtocolError extends Error {
  override readonly name = 'LineProtocolError';
  constructor(
    readonly line: number,
    readonly column: number,
    readonly element: string,
    readonly problem: string,
  ) {
    super(`line ${line}, column ${column}: ${element}: ${problem}`);
  }
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
const UNSIGNED = /^(?:0|[1-9]\d*)$/;
const FLOAT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
const TIMESTAMP = /^-?\d{1,19}$/;
const BOOLEANS: Record<string, boolean> = {
  t: true,
  T: true,
  true: true,
  True: true,
  TRUE: true,
  f: false,
  F: false,
  false: false,
  False: false,
  FALSE: false,
};
/** Nanoseconds per unit of each precision, and the µs per unit (BigInt arithmetic). */
const NS_PER: Record<InfluxPrecision, bigint> = { ns: 1n, us: 1000n, ms: 1_000_000n, s: 1_000_000_000n };
/** JavaScript dates (and so event times) span ±8.64e15 ms. */
const MAX_ABS_MS = 8.64e15;

const SP = 0x20;
const TAB = 0x09;
const NL = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const EQ = 0x3d;
const BSL = 0x5c;
const QUOTE = 0x22;

/** Floor division of BigInts (rounds toward −∞). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/**
 * A timestamp's digits in `precision` → epoch ms with the µs as fraction (ns rounded half up).
 * @returns the time, or why it is not one
 */
export function influxTimestampToMs(digits: string, precision: InfluxPrecision): number | string {
  if (!TIMESTAMP.test(digits)) return `${JSON.stringify(digits)} is not an integer timestamp (at most 19 digits)`;
  const raw = BigInt(digits);
  if (raw > INT64_MAX || raw < INT64_MIN) return `${digits} is outside the signed 64-bit range`;
  const ns = raw * NS_PER[precision];
  const us = floorDiv(ns + 500n, 1000n);
  const ms = Number(us) / 1000;
  if (Math.abs(ms) > MAX_ABS_MS) return `${digits} (${precision}) is outside the range of event times (±8.64e15 ms)`;
  return ms;
}

/** Compiles a `namepass` list (names with `*` / `?` wildcards) into a predicate; undefined passes everything. */
export function compileNamepass(patterns: readonly string[] | undefined): ((name: string) => boolean) | undefined {
  if (!patterns) return undefined;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const p of patterns) {
    if (!/[*?]/.test(p)) exact.add(p);
    else
      globs.push(
        new RegExp(
          `^${p
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.')}$`,
          's',
        ),
      );
  }
  return (name) => exact.has(name) || globs.some((g) => g.test(name));
}

/**
 * Where the parser is: the text, the offset of the next character, and the line being read (for
 * errors). The readers below are module functions over it, not closures made per call: a payload of
 * one line (one Telegraf metric a message) costs no function allocations.
 */
interface Cursor {
  readonly text: string;
  readonly n: number;
  i: number;
  /** 1-based line number at `i`. */
  line: number;
  /** Offset where that line starts. */
  lineStart: number;
}

function fail(c: Cursor, element: string, problem: string, at = c.i): never {
  throw new LineProtocolError(c.line, at - c.lineStart + 1, element, problem);
}

function isBlank(ch: number): boolean {
  return ch === SP || ch === TAB;
}

/**
 * Reads a name (measurement, tag key/value, field key) up to an unescaped stop character.
 * `specials` are the characters a backslash escapes here (besides the backslash itself).
 */
function readName(c: Cursor, element: string, stopEq: boolean, specials: string): string {
  const { text, n } = c;
  const start = c.i;
  let i = start;
  let out = '';
  let from = i;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === BSL) {
      const next = text[i + 1];
      if (next !== undefined && (next === '\\' || specials.includes(next))) {
        out += text.slice(from, i) + next;
        i += 2;
        from = i;
        continue;
      }
      i++;
      continue;
    }
    if (ch === SP || ch === TAB || ch === COMMA || ch === NL || ch === CR || (stopEq && ch === EQ)) break;
    if (ch === 0) {
      c.i = i;
      fail(c, element, 'contains U+0000 (NUL), which PostgreSQL text cannot store');
    }
    i++;
  }
  c.i = i;
  if (i === start) fail(c, element, 'is empty');
  return from === start ? text.slice(start, i) : out + text.slice(from, i);
}

/** Reads a string field value at the opening quote at `c.i`; it may span lines. */
function readString(c: Cursor, element: string): string {
  const { text, n } = c;
  const open = c.i;
  const openLine = c.line;
  const openLineStart = c.lineStart;
  let i = open + 1;
  let out = '';
  let from = i;
  for (;;) {
    if (i >= n) {
      // Point at the opening quote, on its own line (the string may have crossed newlines).
      c.line = openLine;
      c.lineStart = openLineStart;
      fail(c, element, 'the string has no closing double quote', open);
    }
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) break;
    if (ch === BSL && (text[i + 1] === '"' || text[i + 1] === '\\')) {
      out += text.slice(from, i) + text[i + 1]!;
      i += 2;
      from = i;
      continue;
    }
    if (ch === 0) {
      c.i = i;
      fail(c, element, 'contains U+0000 (NUL), which PostgreSQL text cannot store');
    }
    if (ch === NL) {
      // A string may span lines; the line count follows.
      c.line++;
      c.lineStart = i + 1;
    }
    i++;
  }
  c.i = i + 1;
  return out + text.slice(from, i);
}

/** Reads one field value at `c.i` (after `=`). */
function readValue(c: Cursor, key: string): InfluxFieldValue {
  const element = `field ${key}`;
  const { text, n } = c;
  if (text.charCodeAt(c.i) === QUOTE) return readString(c, element);
  const start = c.i;
  let i = start;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === COMMA || ch === SP || ch === TAB || ch === NL || ch === CR) break;
    i++;
  }
  c.i = i;
  const tok = text.slice(start, i);
  if (!tok) return fail(c, element, 'has no value', start);
  const last = tok[tok.length - 1];
  if (last === 'i') {
    const d = tok.slice(0, -1);
    if (!INTEGER.test(d)) return fail(c, element, `${JSON.stringify(tok)} is not an integer (digits, then i)`, start);
    const v = Number(d);
    if (Number.isSafeInteger(v)) return v;
    const b = BigInt(d);
    if (b > INT64_MAX || b < INT64_MIN) return fail(c, element, `${tok} is outside the signed 64-bit range`, start);
    return v;
  }
  if (last === 'u') {
    const d = tok.slice(0, -1);
    if (!UNSIGNED.test(d)) return fail(c, element, `${JSON.stringify(tok)} is not an unsigned integer (digits, then u)`, start);
    const v = Number(d);
    if (Number.isSafeInteger(v)) return v;
    if (BigInt(d) > UINT64_MAX) return fail(c, element, `${tok} is outside the unsigned 64-bit range`, start);
    return v;
  }
  const b = BOOLEANS[tok];
  if (b !== undefined) return b;
  if (!FLOAT.test(tok)) {
    return fail(
      c,
      element,
      `${JSON.stringify(tok)} is not a field value (a float, an integer with i, an unsigned with u, a "string", or t/f/true/false)`,
      start,
    );
  }
  const v = Number(tok);
  if (!Number.isFinite(v)) return fail(c, element, `${tok} is outside the range of a 64-bit float`, start);
  return v;
}

/**
 * Parses line protocol text into points (see the module comment for the grammar).
 * @param text the payload as text
 * @param precision unit of the timestamps. @default 'ns'
 * @param pass keeps a line when it returns true for its measurement (other lines are parsed, then skipped)
 * @throws LineProtocolError at the first line that is not line protocol
 */
export function parseLineProtocol(text: string, precision: InfluxPrecision = 'ns', pass?: (measurement: string) => boolean): InfluxPoint[] {
  const points: InfluxPoint[] = [];
  const n = text.length;
  const c: Cursor = { text, n, i: 0, line: 1, lineStart: 0 };
  while (c.i < n) {
    // Start of a line: skip blanks; blank lines and comments.
    while (c.i < n && isBlank(text.charCodeAt(c.i))) c.i++;
    if (c.i >= n) break;
    let ch = text.charCodeAt(c.i);
    if (ch === NL || (ch === CR && text.charCodeAt(c.i + 1) === NL)) {
      c.i += ch === CR ? 2 : 1;
      c.line++;
      c.lineStart = c.i;
      continue;
    }
    if (ch === 0x23 /* # */) {
      while (c.i < n && text.charCodeAt(c.i) !== NL) c.i++;
      continue;
    }
    const measurement = readName(c, 'measurement', false, ', ');
    const tags = Object.create(null) as Record<string, string>;
    while (text.charCodeAt(c.i) === COMMA) {
      c.i++;
      const key = readName(c, 'tag key', true, ', =');
      if (text.charCodeAt(c.i) !== EQ) fail(c, `tag ${key}`, 'expected = and a value');
      c.i++;
      tags[key] = readName(c, `tag ${key}`, true, ', =');
    }
    ch = text.charCodeAt(c.i);
    if (!isBlank(ch)) {
      if (ch === EQ) fail(c, 'tag set', 'unexpected = (escape it as \\= in a tag key or value)');
      fail(c, 'field set', 'missing: a line needs at least one field after a space');
    }
    while (isBlank(text.charCodeAt(c.i))) c.i++;
    ch = text.charCodeAt(c.i);
    if (c.i >= n || ch === NL || ch === CR) fail(c, 'field set', 'missing: a line needs at least one field after a space');
    const fields = Object.create(null) as Record<string, InfluxFieldValue>;
    for (;;) {
      const key = readName(c, 'field key', true, ', =');
      if (text.charCodeAt(c.i) !== EQ) fail(c, `field ${key}`, 'expected = and a value');
      c.i++;
      fields[key] = readValue(c, key);
      if (text.charCodeAt(c.i) !== COMMA) break;
      c.i++;
    }
    let timestamp: number | undefined;
    ch = text.charCodeAt(c.i);
    if (isBlank(ch)) {
      while (isBlank(text.charCodeAt(c.i))) c.i++;
      const start = c.i;
      while (c.i < n && !isBlank(text.charCodeAt(c.i)) && text.charCodeAt(c.i) !== NL && text.charCodeAt(c.i) !== CR) c.i++;
      if (c.i > start) {
        const t = influxTimestampToMs(text.slice(start, c.i), precision);
        if (typeof t === 'string') fail(c, 'timestamp', t, start);
        timestamp = t;
      }
      while (isBlank(text.charCodeAt(c.i))) c.i++;
    }
    ch = text.charCodeAt(c.i);
    if (c.i < n) {
      if (ch === CR && text.charCodeAt(c.i + 1) === NL) c.i++;
      else if (ch !== NL) fail(c, timestamp === undefined ? 'field set' : 'timestamp', `unexpected ${JSON.stringify(text[c.i])}`);
      c.i++;
      c.line++;
      c.lineStart = c.i;
    }
    if (pass && !pass(measurement)) continue;
    const p: InfluxPoint = { measurement, tags, fields };
    if (timestamp !== undefined) p.timestamp = timestamp;
    points.push(p);
  }
  return points;
}

/** Options of `format: { type: influx }` (see `declaration.ts`). */
type InfluxFormatDeclaration = Extract<SourceDeclaration['format'], { type: 'influx' }>;

/** See the module comment. */
export const influxFormat: FormatFactory = (format) => {
  const f = format as InfluxFormatDeclaration;
  const precision = f.precision ?? 'ns';
  const pass = compileNamepass(f.namepass);
  return {
    textual: false,
    decode(payload): DecodeResult {
      const decoded = decodeTextPayload(payload);
      if (!decoded.ok) return decoded;
      let points: InfluxPoint[];
      try {
        points = parseLineProtocol(decoded.text, precision, pass);
      } catch (e) {
        if (e instanceof LineProtocolError) return { ok: false, code: 'schema', reason: `not line protocol: ${e.message}` };
        throw e;
      }
      return { ok: true, records: points as unknown as PayloadRecord[] };
    },
  };
};

/**
 * Writes points as line protocol, one line each, escaping as the reference says (the inverse of
 * {@link parseLineProtocol} for every point it accepts). Integers are written as floats unless listed
 * in `integers` (field keys written with `i`).
 * @param precision unit of the written timestamps (`timestamp` is epoch ms). @default 'ns'
 */
export function serializeLineProtocol(
  points: ReadonlyArray<InfluxPoint & { integers?: ReadonlySet<string> }>,
  precision: InfluxPrecision = 'ns',
): string {
  const esc = (s: string, specials: RegExp) => s.replace(/\\/g, '\\\\').replace(specials, (m) => `\\${m}`);
  const name = /[, ]/g;
  const key = /[, =]/g;
  return points
    .map((p) => {
      let s = esc(p.measurement, name);
      for (const k of Object.keys(p.tags)) s += `,${esc(k, key)}=${esc(p.tags[k]!, key)}`;
      s += ' ';
      s += Object.keys(p.fields)
        .map((k) => {
          const v = p.fields[k]!;
          const value =
            typeof v === 'string'
              ? `"${v.replace(/[\\"]/g, (m) => `\\${m}`)}"`
              : typeof v === 'boolean'
                ? String(v)
                : p.integers?.has(k)
                  ? `${v}i`
                  : Object.is(v, -0)
                    ? '-0'
                    : String(v);
          return `${esc(k, key)}=${value}`;
        })
        .join(',');
      if (p.timestamp !== undefined) {
        const us = BigInt(Math.round(p.timestamp * 1000));
        s += ` ${(us * 1000n) / NS_PER[precision]}`;
      }
      return s;
    })
    .join('\n');
}
