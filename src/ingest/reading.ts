/**
 * The sensor-reading message: its JSON shape on the wire, validation, and the classified reasons a
 * message is dead-lettered instead of ingested.
 *
 * Wire format (UTF-8 JSON, one reading per message, topic `sensors/<source>/<device_id>`):
 * `{"device_id":"office-1","ts":"2015-02-04T17:51:00Z","temperature":23.18,"humidity":27.27,"light":426,"co2":721.25,"humidity_ratio":0.0048}`
 * Units: temperature °C, humidity % RH, light lux, co2 ppm, humidity_ratio kg/kg. Any measurement may be
 * absent or null; at least one must be present.
 */
import { z } from 'zod';

/** Largest accepted payload. @default 65536 bytes */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** How far in the future an event time may be before it is rejected (clock skew allowance). @default 1 day */
export const MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000;

/** Why a message was dead-lettered. */
export type DeadLetterCode =
  | 'oversized'
  | 'invalid_utf8'
  | 'not_json'
  | 'schema'
  | 'non_finite'
  | 'future_timestamp'
  | 'topic'
  /** A declared source with `out_of_range: dead_letter` received a value outside a measurement's range. */
  | 'out_of_range';

/** A validated reading, ready to insert. */
export interface Reading {
  source: string;
  deviceId: string;
  /** Event time, epoch milliseconds (UTC). */
  eventTime: number;
  temperature: number | null;
  humidity: number | null;
  light: number | null;
  co2: number | null;
  humidityRatio: number | null;
}

/** Outcome of {@link parseReading}. */
export type ParseResult = { ok: true; reading: Reading } | Rejection;

const measurement = z.number().nullable().optional();
const schema = z
  .object({
    device_id: z.string().min(1).max(200),
    ts: z.string().min(1).max(64),
    temperature: measurement,
    humidity: measurement,
    light: measurement,
    co2: measurement,
    humidity_ratio: measurement,
  })
  .strict();

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Replaces bare NaN/Infinity tokens (invalid JSON some devices send) so they can be reported precisely. */
const NON_FINITE = /(?<=[:,[]\s*)-?(NaN|Infinity)(?=\s*[,}\]])/;

/** A failed validation step: the dead-letter code and a readable reason naming the field. */
export interface Rejection {
  ok: false;
  code: DeadLetterCode;
  reason: string;
}

/** The checks every text payload shares: size (`oversized`), then UTF-8 (`invalid_utf8`). @returns the text, or the rejection */
export function decodeTextPayload(payload: Uint8Array): { ok: true; text: string } | Rejection {
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    return { ok: false, code: 'oversized', reason: `payload is ${payload.byteLength} bytes; the limit is ${MAX_PAYLOAD_BYTES}` };
  }
  try {
    return { ok: true, text: decoder.decode(payload) };
  } catch {
    return { ok: false, code: 'invalid_utf8', reason: 'payload is not valid UTF-8' };
  }
}

/**
 * The checks every message kind shares, in order: size (`oversized`), UTF-8 (`invalid_utf8`), JSON
 * (`non_finite` for bare NaN/Infinity tokens, otherwise `not_json`), then no U+0000 in any string
 * (`schema`: PostgreSQL text cannot store it, and one such value would fail its whole batch).
 * @returns the parsed JSON value, or the rejection
 */
export function decodeJsonPayload(payload: Uint8Array): { ok: true; json: unknown } | Rejection {
  const decoded = decodeTextPayload(payload);
  if (!decoded.ok) return decoded;
  const text = decoded.text;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    if (NON_FINITE.test(text)) {
      return {
        ok: false,
        code: 'non_finite',
        reason: 'payload contains NaN or Infinity, which JSON cannot carry; send null for a missing value',
      };
    }
    return { ok: false, code: 'not_json', reason: `payload is not JSON: ${(e as Error).message}` };
  }
  // JSON can only carry U+0000 as the escape `\u0000`: look for the value only when the text has one.
  const nul = text.includes('\\u0000') ? findNul(json, '') : undefined;
  if (nul !== undefined) {
    return {
      ok: false,
      code: 'schema',
      reason: `${nul || '(root)'}: contains U+0000 (NUL), which PostgreSQL text cannot store; remove it from the value`,
    };
  }
  return { ok: true, json };
}

/** Path (`a.b.0`) of the first string or key under `value` holding U+0000, or undefined. */
function findNul(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (k.includes('\0')) return at;
    const found = findNul(v, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Checks an event time: an ISO-8601 string (`2015-02-04T17:51:00Z`) or, when `allowEpochMs`, a number
 * of epoch milliseconds; at most {@link MAX_FUTURE_SKEW_MS} ahead of `now`.
 * @returns epoch ms, or the rejection (`schema` or `future_timestamp`) naming `field`
 */
export function checkEventTime(
  field: string,
  value: string | number,
  now: number,
  allowEpochMs = false,
): { ok: true; eventTime: number } | Rejection {
  let eventTime: number;
  if (typeof value === 'number') {
    if (!allowEpochMs || !Number.isFinite(value) || !Number.isInteger(value) || value < 0) {
      return {
        ok: false,
        code: 'schema',
        reason: `${field}: ${value} is not an ISO-8601 timestamp${allowEpochMs ? ' or epoch milliseconds' : ''}`,
      };
    }
    eventTime = value;
  } else {
    eventTime = Date.parse(value);
    if (!Number.isFinite(eventTime) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
      return {
        ok: false,
        code: 'schema',
        reason: `${field}: ${JSON.stringify(value)} is not an ISO-8601 timestamp (e.g. 2015-02-04T17:51:00Z)`,
      };
    }
  }
  if (eventTime > now + MAX_FUTURE_SKEW_MS) {
    return {
      ok: false,
      code: 'future_timestamp',
      reason: `${field}: ${typeof value === 'number' ? new Date(value).toISOString() : value} is more than 24 h in the future`,
    };
  }
  return { ok: true, eventTime };
}

/** The first zod issue as `field: message`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length ? issue.path.join('.') : '(root)';
  return `${where}: ${issue?.message ?? 'invalid'}`;
}

/**
 * Validates one message.
 * @param source data source (first topic level after `sensors/`)
 * @param payload raw bytes
 * @param now clock for the future-timestamp check, epoch ms
 * @returns the reading, or the dead-letter code and a readable reason naming the field
 */
export function parseReading(source: string, payload: Uint8Array, now = Date.now()): ParseResult {
  const decoded = decodeJsonPayload(payload);
  if (!decoded.ok) return decoded;
  const json = decoded.json;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, code: 'schema', reason: describeIssue(parsed.error) };
  }
  const m = parsed.data;
  const time = checkEventTime('ts', m.ts, now);
  if (!time.ok) return time;
  const eventTime = time.eventTime;
  const values = [m.temperature, m.humidity, m.light, m.co2, m.humidity_ratio];
  if (values.every((v) => v === undefined || v === null)) {
    return {
      ok: false,
      code: 'schema',
      reason: 'no measurement: at least one of temperature, humidity, light, co2, humidity_ratio is required',
    };
  }
  return {
    ok: true,
    reading: {
      source,
      deviceId: m.device_id,
      eventTime,
      temperature: m.temperature ?? null,
      humidity: m.humidity ?? null,
      light: m.light ?? null,
      co2: m.co2 ?? null,
      humidityRatio: m.humidity_ratio ?? null,
    },
  };
}

/** Serialises a reading to its wire format (used by the device simulator). */
export function encodeReading(r: Omit<Reading, 'source'>): string {
  const o: Record<string, unknown> = { device_id: r.deviceId, ts: new Date(r.eventTime).toISOString() };
  if (r.temperature !== null) o.temperature = r.temperature;
  if (r.humidity !== null) o.humidity = r.humidity;
  if (r.light !== null) o.light = r.light;
  if (r.co2 !== null) o.co2 = r.co2;
  if (r.humidityRatio !== null) o.humidity_ratio = r.humidityRatio;
  return JSON.stringify(o);
}
