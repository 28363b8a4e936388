/**
 * Message kinds that share one ingest path: validation → dead letters → one-transaction batch writer.
 * A stream (MQTT topic or Kafka topic) carries one kind:
 * - `sensor`: sensor readings (`reading.ts`) → `ingest.sensor_readings`
 * - `modem`: modem telemetry (`telemetry.ts`) → `ingest.modem_telemetry`
 * - `gps`: GPS fixes (`gps.ts`) → `ingest.gps_fixes`
 */
import type { DeadLetter } from './batch-writer';
import { parseGpsFix, type GpsFix } from './gps';
import { parseReading, type DeadLetterCode, type Reading } from './reading';
import { parseTelemetry, type ModemTelemetry } from './telemetry';

/** The kinds of message a stream can carry. */
export const MESSAGE_KINDS = ['sensor', 'modem', 'gps'] as const;
/** One of {@link MESSAGE_KINDS}. */
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** A message as received, before validation. */
export interface RawMessage {
  payload: Uint8Array;
  /** Where it came from: `{ mqttTopic, messageId }` or `{ topic, partition, offset }`. */
  origin: Record<string, unknown>;
  /** Natural key of the message, so a redelivery is not dead-lettered twice. */
  dedupeKey: string;
}

/** Valid records of a batch, by table. */
export interface Records {
  readings: Reading[];
  telemetry: ModemTelemetry[];
  gpsFixes: GpsFix[];
}

/** Records and dead letters of a batch. */
export interface ParsedMessages extends Records {
  deadLetters: DeadLetter[];
}

/** True when `k` names a message kind. */
export function isMessageKind(k: unknown): k is MessageKind {
  return typeof k === 'string' && (MESSAGE_KINDS as readonly string[]).includes(k);
}

/** Where a dead-lettered message came from and its dedupe key; built only for rejected messages. */
export type DeadLetterMeta<T> = (m: T) => Pick<RawMessage, 'origin' | 'dedupeKey'>;

const rawMeta: DeadLetterMeta<RawMessage> = (m) => m;

/** A message of a batch that failed validation: its index in the batch, the dead-letter code and why. */
export interface Rejected {
  index: number;
  code: DeadLetterCode;
  reason: string;
}

/**
 * Validates raw payloads of one kind.
 * @param now clock for the future-timestamp check, epoch ms
 * @returns the valid records, and the rejected messages by index into `payloads`
 */
export function validatePayloads(
  kind: MessageKind,
  source: string,
  payloads: Uint8Array[],
  now: number,
): { records: Records; rejected: Rejected[] } {
  const records: Records = { readings: [], telemetry: [], gpsFixes: [] };
  const rejected: Rejected[] = [];
  for (let index = 0; index < payloads.length; index++) {
    const payload = payloads[index]!;
    if (kind === 'sensor') {
      const r = parseReading(source, payload, now);
      if (r.ok) records.readings.push(r.reading);
      else rejected.push({ index, code: r.code, reason: r.reason });
    } else if (kind === 'modem') {
      const r = parseTelemetry(source, payload, now);
      if (r.ok) records.telemetry.push(r.record);
      else rejected.push({ index, code: r.code, reason: r.reason });
    } else {
      const r = parseGpsFix(source, payload, now);
      if (r.ok) records.gpsFixes.push(r.record);
      else rejected.push({ index, code: r.code, reason: r.reason });
    }
  }
  return { records, rejected };
}

/**
 * Validates `messages` of one kind (see {@link validatePayloads}) and turns the rejected ones into
 * dead letters.
 * @param now clock for the future-timestamp check, epoch ms
 * @param meta origin and dedupe key of a rejected message (called for dead letters only, so the hot path
 *   allocates nothing per valid message). @default the message's own `origin` and `dedupeKey`
 */
export function parseMessages(kind: MessageKind, source: string, messages: RawMessage[], now?: number): ParsedMessages;
export function parseMessages<T extends { payload: Uint8Array }>(
  kind: MessageKind,
  source: string,
  messages: T[],
  now: number,
  meta: DeadLetterMeta<T>,
): ParsedMessages;
export function parseMessages<T extends { payload: Uint8Array }>(
  kind: MessageKind,
  source: string,
  messages: T[],
  now = Date.now(),
  meta: DeadLetterMeta<T> = rawMeta as unknown as DeadLetterMeta<T>,
): ParsedMessages {
  const { records, rejected } = validatePayloads(
    kind,
    source,
    messages.map((m) => m.payload),
    now,
  );
  const deadLetters = rejected.map(({ index, code, reason }): DeadLetter => {
    const m = messages[index]!;
    const { origin, dedupeKey } = meta(m);
    return { source, origin, payload: m.payload, code, reason, dedupeKey, kind };
  });
  return { ...records, deadLetters };
}
