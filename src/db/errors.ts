/**
 * Classifies PostgreSQL / node-postgres errors as transient (retry with backoff) or permanent.
 * SQLSTATE classes from https://www.postgresql.org/docs/current/errcodes-appendix.html.
 */

const TRANSIENT_SQLSTATE_PREFIXES = ['08', '53', '57P', '58'];
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03']);
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when retrying may succeed: connection failures (class 08, Node socket errors, "Connection
 * terminated"), server shutdown (57P), resources (53), serialization failures (40001), deadlocks (40P01).
 */
export function isTransientDbError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_NODE_CODES.has(code) || TRANSIENT_SQLSTATES.has(code)) return true;
    if (TRANSIENT_SQLSTATE_PREFIXES.some((p) => code.startsWith(p))) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  const rawMessage = (e as { message?: unknown }).message;
  const message = typeof rawMessage === 'string' ? rawMessage : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    message,
  );
}
