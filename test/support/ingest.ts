/** Helpers for tests that ingest: over MQTT, or straight through a source file into the batch writer. */
import { mqttUrl } from '../../src/config/env';
import type { Pool } from '../../src/db/pool';
import { nextBatchIds, writeBatch, type BatchResult, type DeadLetter } from '../../src/ingest/batch-writer';
import { bindToStream, type StreamBinding } from '../../src/sources/bind';
import { findSource, loadDeclaration } from '../../src/sources/load';
import { publishRaw } from '../../src/simulator/sensor-replay';
import { waitFor } from './processes';

/** Rows of `source` (optionally one device) in ingest.sensor_readings. */
export async function countReadings(pool: Pool, source: string, deviceId?: string): Promise<number> {
  const r = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND ($2::text IS NULL OR device_id = $2)',
    [source, deviceId ?? null],
  );
  return Number(r.rows[0]?.n);
}

/** Publishes a valid probe reading until it lands: the consumer's persistent session then exists. */
export async function waitForSubscription(pool: Pool, source: string): Promise<void> {
  let i = 0;
  await waitFor(
    'the consumer to subscribe',
    async () => {
      const ts = new Date(Date.UTC(2000, 0, 1, 0, i++)).toISOString();
      await publishRaw(mqttUrl(), [
        { topic: `sensors/${source}/probe`, payload: JSON.stringify({ device_id: 'probe', ts, temperature: 0 }) },
      ]);
      return (await countReadings(pool, source, 'probe')) > 0;
    },
    120_000,
    1000,
  );
}

/**
 * Publishes probe readings to `url` until `members` MQTT consumers of `source` (a shared subscription)
 * have each committed a batch: every member's persistent session then exists, so nothing published
 * afterwards is missed.
 * @throws Error when they do not within 120 s.
 */
export async function waitForSharedMembers(db: Pick<Pool, 'query'>, url: string, source: string, members: number): Promise<void> {
  let i = 0;
  await waitFor(
    `${members} MQTT members to subscribe`,
    async () => {
      const ts = new Date(Date.UTC(2000, 0, 1, 0, i++)).toISOString();
      await publishRaw(url, [{ topic: `sensors/${source}/probe`, payload: JSON.stringify({ device_id: 'probe', ts, temperature: 0 }) }]);
      const r = await db.query<{ n: string }>('SELECT count(DISTINCT consumer) AS n FROM ingest.batches WHERE source = $1', [source]);
      return Number(r.rows[0]?.n) >= members;
    },
    120_000,
    500,
  );
}

/** A message as a test hands it to {@link ingestThrough}: its payload, where it came from and its dedupe key. */
export interface TestMessage {
  payload: Uint8Array;
  origin: Record<string, unknown>;
  dedupeKey: string;
  /** MQTT or Kafka topic, for topic segments. @default `origin.mqttTopic` (MQTT), else `origin.topic` (Kafka), else `test` */
  topic?: string;
  /** Arrival time, epoch ms. @default now */
  arrivalTime?: number;
}

/**
 * Writes `messages` of stream `source` through the source file `name` (found as a stream finds it:
 * `SOURCES_DIR`, then the shipped files; a template bound to `source`) in one batch, as a consumer
 * does: map, encode, dead-letter the rejected ones with their kind, one transaction. The file is
 * bound to an MQTT stream when every origin has an `mqttTopic`, else to a Kafka stream of the first
 * origin's `topic`.
 * @param o.now clock for the future-timestamp check, epoch ms. @default Date.now()
 * @param o.assumeNew the batch writer's fast path (`EncodedBatch.assumeNew`). @default false
 * @param o.deviceStatus upsert `ingest.device_status`. @default true
 */
export async function ingestThrough(
  pool: Pool,
  name: string,
  source: string,
  messages: TestMessage[],
  o: { now?: number; consumer?: string; assumeNew?: boolean; deviceStatus?: boolean } = {},
): Promise<BatchResult> {
  const file = findSource(name);
  if (!file) throw new Error(`no source file ${name}`);
  // The stream the messages came over, as their origins say: MQTT (`mqttTopic`) or Kafka (`topic`).
  const mqtt = messages.length > 0 && messages.every((m) => typeof m.origin.mqttTopic === 'string');
  const kafkaTopic = (m: TestMessage) => (typeof m.origin.topic === 'string' ? m.origin.topic : 'test');
  const binding: StreamBinding = mqtt
    ? { stream: 'mqtt', source }
    : {
        stream: 'kafka',
        source,
        topic: kafkaTopic(messages[0] ?? { payload: new Uint8Array(), origin: {}, dedupeKey: '' }),
        groupId: 'test',
      };
  const s = loadDeclaration(bindToStream(file.declaration, binding), file.file, file.declaration.template ? { source } : {});
  const now = o.now ?? Date.now();
  const mapped = await s.map(
    messages.map((m, i) => ({
      payload: m.payload,
      topic: m.topic ?? (mqtt ? String(m.origin.mqttTopic) : kafkaTopic(m)),
      arrivalTime: m.arrivalTime ?? now,
      identity: `test/${m.dedupeKey}/${i}`,
    })),
    now,
  );
  const [batchId] = await nextBatchIds(pool, 1);
  return writeBatch(pool, {
    source: s.source,
    consumer: o.consumer ?? 'test',
    assumeNew: o.assumeNew,
    deviceStatus: o.deviceStatus,
    batchId: batchId!,
    records: s.encode(mapped.rows, batchId!),
    deadLetters: mapped.rejected.map((r) => ({
      source: s.source,
      origin: messages[r.index]!.origin,
      payload: messages[r.index]!.payload,
      code: r.code,
      reason: r.reason,
      dedupeKey: messages[r.index]!.dedupeKey,
      kind: s.kind as `source:${string}`,
    })),
  });
}

/** Writes dead letters alone, as a consumer's batch with no valid record would. */
export async function writeDeadLetters(pool: Pool, source: string, deadLetters: DeadLetter[]): Promise<BatchResult> {
  const [batchId] = await nextBatchIds(pool, 1);
  return writeBatch(pool, {
    source,
    consumer: 'test',
    batchId: batchId!,
    records: { tables: [], valid: 0, devices: [], firstEvent: null, lastEvent: null },
    deadLetters,
  });
}
