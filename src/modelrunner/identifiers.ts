/**
 * Identifier quoting: every schema and relation name the runner writes into SQL goes through
 * {@link quoteIdent}, which quotes it or rejects it.
 */
import { UnsafeIdentifierError } from './errors';

/** PostgreSQL's NAMEDATALEN - 1. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes `name` as a PostgreSQL identifier (`my"x` → `"my""x"`).
 * @throws UnsafeIdentifierError when empty, containing a NUL byte, or longer than 63 bytes (PostgreSQL
 *   would silently truncate it).
 */
export function quoteIdent(name: string, maxBytes = MAX_IDENTIFIER_BYTES): string {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeIdentifierError(String(name), 'empty');
  if (name.includes('\0')) throw new UnsafeIdentifierError(name, 'contains a NUL byte');
  if (Buffer.byteLength(name, 'utf8') > maxBytes) {
    throw new UnsafeIdentifierError(name, `longer than ${maxBytes} bytes`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."name"`, both parts checked by {@link quoteIdent}. */
export function quoteRelation(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
