/**
 * What every payload of every source goes through before its format reads it, and the vocabulary of
 * rejection: the size limit, UTF-8, JSON (with NaN/Infinity and U+0000 named precisely), the clock-skew
 * allowance, and the dead-letter codes with their reasons.
 */
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
  | 'out_of_range'
  /**
   * A Sparkplug B message the host cannot place in its edge node's session (sequence gap, unknown
   * alias, data before its birth): a rebirth is requested, nothing is guessed.
   */
  | 'sparkplug_session';

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

/** A message of a batch that failed validation: its index in the batch, the dead-letter code and why. */
export interface Rejected {
  index: number;
  code: DeadLetterCode;
  reason: string;
}
