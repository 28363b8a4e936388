/**
 * Payload formats of declared sources: each turns one message payload into records (plain objects
 * whose fields the source's mapping reads), or a dead-letter reason. A format is a small module
 * registered here by name (`json`, `csv`, `influx`: InfluxDB line protocol, `sparkplug_b`); the rest of
 * ingest never looks at the format (adding one touches only this folder and the format union of
 * `declaration.ts`).
 *
 * A format that is a protocol with sessions (Sparkplug B) also has a {@link FormatSession}: state per
 * stream that the consumer restores at start and stores in each batch's transaction, messages it
 * publishes after the commit (commands, its own presence), and devices' connection changes.
 */
import type { Rejection } from '../../ingest/payload';
import type { SourceDeclaration } from '../declaration';
import { csvFormat } from './csv';
import { influxFormat } from './influx';
import { jsonFormat } from './json';
import { sparkplugFormat } from './sparkplug';

/** A record decoded from a payload: field name → value. */
export type PayloadRecord = Record<string, unknown>;

/** What a format makes of one payload. */
export type DecodeResult = { ok: true; records: PayloadRecord[] } | Rejection;

/** What a format may read of the message besides its payload. */
export interface FormatMessage {
  /** MQTT topic, or the Kafka topic. */
  topic?: string;
  /** Arrival time, epoch ms. */
  arrivalTime: number;
  /** The broker re-sent it after an unacknowledged delivery (MQTT `DUP`). */
  redelivered?: boolean;
}

/** An MQTT message a format's session publishes. */
export interface MqttOutgoing {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1;
  retain: boolean;
}

/** What a session produced while a batch was mapped (taken once per batch by the consumer). */
export interface SessionEffects {
  /** Changed state by key, stored in the batch's transaction (`ingest.source_state`). */
  state: Array<{ key: string; value: unknown }>;
  /** Published after the batch commits, in order. */
  publish: MqttOutgoing[];
  /** Devices that came online or went offline, in order: `record` is read by the source's `device_id` mapping. */
  connections: Array<{ record: PayloadRecord; online: boolean; at: number; cause: string }>;
}

/** A format's state per stream; see the module comment. */
export interface FormatSession {
  /** Restores the states stored by earlier batches (values of {@link SessionEffects.state}). */
  restore(states: unknown[]): void;
  /** The effects since the last call. */
  takeEffects(): SessionEffects;
  /** The MQTT presence the consumer keeps for the session (Sparkplug's host `STATE`). */
  mqtt?: {
    /** At connect (`now`, epoch ms): the will, and the message published once connected. */
    start(now: number): { will: MqttOutgoing; online: MqttOutgoing };
    /** Published before a clean disconnect. */
    offline(): MqttOutgoing;
  };
}

/** A compiled payload format. */
export interface PayloadFormat {
  /**
   * Decodes one payload into its records (a payload may carry several, e.g. CSV lines or a JSON array).
   * `message` gives its topic and arrival (a format whose payload alone is not enough reads them).
   */
  decode(payload: Uint8Array, message?: FormatMessage): DecodeResult;
  /** The format's per-stream state, for formats that are protocols with sessions. */
  readonly session?: FormatSession;
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
  sparkplug_b: sparkplugFormat,
};

/** The format of a source. @throws Error when no format of that name is registered */
export function compileFormat(format: SourceDeclaration['format']): PayloadFormat {
  const factory = PAYLOAD_FORMATS[format.type];
  if (!factory) throw new Error(`unknown format ${JSON.stringify(format.type)}; known: ${Object.keys(PAYLOAD_FORMATS).join(', ')}`);
  return factory(format);
}
