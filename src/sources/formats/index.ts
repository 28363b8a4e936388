/**
 * Payload formats of declared sources: each turns one message payload into records (plain objects
 * whose fields the source's mapping reads), or a dead-letter reason. A format is a small module
 * registered here by name (`json`, `csv`, `influx`: InfluxDB line protocol); the rest of ingest never
 * looks at the format (adding one touches only this folder and the format union of `declaration.ts`).
 */
import type { Rejection } from '../../ingest/payload';
import type { SourceDeclaration } from '../declaration';
import { csvFormat } from './csv';
import { influxFormat } from './influx';
import { jsonFormat } from './json';

/** A record decoded from a payload: field name → value. */
export type PayloadRecord = Record<string, unknown>;

/** What a format makes of one payload. */
export type DecodeResult = { ok: true; records: PayloadRecord[] } | Rejection;

/** A compiled payload format. */
export interface PayloadFormat {
  /** Decodes one payload into its records (a payload may carry several, e.g. CSV lines or a JSON array). */
  decode(payload: Uint8Array): DecodeResult;
  /**
   * The format carries only text (CSV): numeric and boolean strings are read as the declared
   * measurement type without `coerce: true`.
   */
  readonly textual: boolean;
}

/** Builds a format from the source's `format:` block. @throws Error naming what is wrong in it */
export type FormatFactory = (format: SourceDeclaration['format']) => PayloadFormat;

/** The formats by `format.type`. */
export const PAYLOAD_FORMATS: Record<string, FormatFactory> = {
  json: jsonFormat,
  csv: csvFormat,
  influx: influxFormat,
};

/** The format of a source. @throws Error when no format of that name is registered */
export function compileFormat(format: SourceDeclaration['format']): PayloadFormat {
  const factory = PAYLOAD_FORMATS[format.type];
  if (!factory) throw new Error(`unknown format ${JSON.stringify(format.type)}; known: ${Object.keys(PAYLOAD_FORMATS).join(', ')}`);
  return factory(format);
}
