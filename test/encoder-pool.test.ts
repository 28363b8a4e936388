/**
 * Encoder threads (src/ingest/encoder-pool.ts): a batch validated and encoded on a thread gives exactly
 * the rows, dead letters and device summaries the consumer's own thread gives, for every shipped source, on the
 * real data sets with malformed messages mixed in; a closed pool refuses work; and a Kafka consumer
 * whose pool is unavailable still writes every record and dead letter exactly once, on its own thread
 * (real broker and PostgreSQL).
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, ROOT_DIR } from '../src/config/env';
import { loadDeclaration, loadSources } from '../src/sources/load';
import { modemRecords } from '../src/simulator/producers';
import { EncoderPool, EncoderUnavailableError } from '../src/ingest/encoder-pool';
import { createTopic } from '../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../src/ingest/kafka-consumer';
import { encodeReading, encodeTelemetry } from '../src/simulator/payloads';
import { bindToStream } from '../src/sources/bind';
import { encodeGpsFix, loadGpsFixes } from '../src/simulator/gps-files';
import { produceRaw, telemetryRecord } from '../src/simulator/kafka-producer';
import { loadDataset } from '../src/simulator/sensor-files';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** Malformed messages of every dead-letter code, valid for no kind. */
const MALFORMED = [
  utf8('not json'),
  utf8('{"device_id":"x","deviceid":"x","cpuusage":NaN}'),
  new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
  utf8('{"device_id":"a\\u0000b"}'),
  new Uint8Array(70 * 1024).fill(0x20),
  utf8('[]'),
];

/** 3,000 valid payloads of `kind` from the repository's data sets, with {@link MALFORMED} spread among them. */
function payloads(kind: 'sensor' | 'modem' | 'gps'): Uint8Array[] {
  let valid: string[];
  if (kind === 'sensor')
    valid = loadDataset('uci-occupancy')
      .slice(0, 3_000)
      .map((r) => encodeReading(r));
  else if (kind === 'modem')
    valid = Array.from({ length: 3_000 }, (_, i) => encodeTelemetry(telemetryRecord(i, 50, Date.UTC(2024, 0, 1)), 200));
  else
    valid = loadGpsFixes()
      .slice(0, 3_000)
      .map((f) => encodeGpsFix(f));
  const out = valid.map(utf8);
  MALFORMED.forEach((m, i) => out.splice(i * 400 + 7, 0, m));
  // A record 10 days ahead of the clock below: future_timestamp.
  const now = Date.UTC(2024, 5, 1);
  if (kind === 'modem') out.push(utf8(encodeTelemetry({ ...telemetryRecord(1, 50, now + 10 * 86_400_000) })));
  return out;
}

describe('encoder threads', () => {
  const pool = new EncoderPool(2);
  afterAll(async () => {
    await pool.close();
  });

  for (const kind of ['sensor', 'modem', 'gps'] as const) {
    it(`${kind} (the shipped source file, bound to a stream): the same rows, dead letters and device summaries as on the calling thread`, async () => {
      const input = payloads(kind);
      const now = Date.UTC(2024, 5, 1);
      const source = `src-${kind}`;
      const file = loadSources(path.join(ROOT_DIR, 'sources')).get(kind)!;
      const s = loadDeclaration(bindToStream(file.declaration, { stream: 'kafka', source, topic: 't', groupId: 'g' }), 'test', { source });
      const messages = input.map((payload, i) => ({ payload, topic: 't', key: null, arrivalTime: now, identity: `t/0/${i}` }));
      const mapped = await s.map(messages, now);
      const local = { records: s.encode(mapped.rows, 42), rejected: mapped.rejected };
      const records = (from: number, to: number) =>
        input.slice(from, to).map((value, i) => ({ value, key: null, offset: from + i, timestamp: now }));
      const json = JSON.stringify(s.declaration);
      // Two batches at once: both threads of the pool answer.
      const [threaded, again] = await Promise.all([
        pool.encodeDeclared(json, source, { topic: 't', partition: 0, records: records(0, input.length) }, now, 42),
        pool.encodeDeclared(json, source, { topic: 't', partition: 0, records: records(0, 100) }, now, 43),
      ]);
      expect(threaded.rejected).toEqual(local.rejected);
      expect(threaded.records.tables.map((t) => ({ ...t, data: Buffer.from(t.data).toString('base64') }))).toEqual(
        local.records.tables.map((t) => ({ ...t, data: Buffer.from(t.data).toString('base64') })),
      );
      expect(threaded.records.devices).toEqual(local.records.devices);
      expect(threaded.records.devices.every((d) => d.source === source)).toBe(true);
      expect([threaded.records.valid, threaded.records.firstEvent, threaded.records.lastEvent]).toEqual([
        local.records.valid,
        local.records.firstEvent,
        local.records.lastEvent,
      ]);
      // Every malformed message is rejected with its code, at its index; the valid ones are all kept.
      expect(local.rejected.length).toBe(MALFORMED.length + (kind === 'modem' ? 1 : 0));
      expect(local.records.valid + local.rejected.length).toBe(input.length);
      expect(new Set(local.rejected.map((r) => r.code))).toEqual(
        new Set(['not_json', 'non_finite', 'invalid_utf8', 'schema', 'oversized', ...(kind === 'modem' ? ['future_timestamp'] : [])]),
      );
      expect(again.records.valid + again.rejected.length).toBe(100);
    });
  }

  it('declared sources: the same rows, dead letters and device summaries as on the calling thread (JSON mapped, JSONata, CSV)', async () => {
    const now = Date.UTC(2026, 11, 3);
    const shipped = loadSources(path.join(ROOT_DIR, 'sources'));
    const modem = shipped.get('modem-evg')!;
    const jsonata = loadDeclaration(
      {
        ...modem.declaration,
        name: 'modem-jsonata',
        measurements: { ...modem.declaration.measurements, cpu_share: { expression: '$number(cpuusage) / 100' } },
      },
      'test',
    );
    const csv = loadDeclaration(
      {
        name: 'csv-t',
        kafka: { topics: ['t'] },
        format: { type: 'csv' },
        device_id: { key: true },
        event_time: { field: 'ts', format: 'iso8601' },
        measurements: { temperature: {}, humidity: {} },
      },
      'test',
    );
    const modemPayloads = modemRecords(2_000, 25, now - 3_600_000).map((r) => utf8(String(r.value)));
    const csvPayloads = loadDataset('uci-occupancy')
      .slice(0, 2_000)
      .map((r) => utf8(`ts,temperature,humidity\n${new Date(r.eventTime).toISOString()},${r.temperature},${r.humidity}\n`));
    for (const [s, input] of [
      [modem, modemPayloads],
      [jsonata, modemPayloads],
      [csv, csvPayloads],
    ] as const) {
      const all = [...input];
      MALFORMED.forEach((m, i) => all.splice(i * 300 + 5, 0, m));
      // Some records without a key; identities as Kafka gives them.
      const key = (i: number) => (s === csv || i % 5 ? utf8(`dev-${i % 7}`) : null);
      const messages = all.map((payload, i) => ({ payload, topic: 't', key: key(i), arrivalTime: now - i, identity: `t/3/${1000 + i}` }));
      const mapped = await s.map(messages, now);
      const local = { records: s.encode(mapped.rows, 42), rejected: mapped.rejected };
      const records = all.map((value, i) => ({ value, key: key(i), offset: 1000 + i, timestamp: now - i }));
      const threaded = await pool.encodeDeclared(JSON.stringify(s.declaration), s.source, { topic: 't', partition: 3, records }, now, 42);
      expect(threaded.rejected).toEqual(local.rejected);
      expect(threaded.records.tables.map((t) => ({ ...t, data: Buffer.from(t.data).toString('base64') }))).toEqual(
        local.records.tables.map((t) => ({ ...t, data: Buffer.from(t.data).toString('base64') })),
      );
      expect(threaded.records.devices).toEqual(local.records.devices);
      expect(local.records.valid).toBe(input.length);
      expect(local.rejected.length).toBe(MALFORMED.length);
    }
  });

  it('a closed pool rejects new batches with EncoderUnavailableError', async () => {
    const closed = new EncoderPool(1);
    closed.warmUp();
    await closed.close();
    await expect(closed.encodeDeclared('{}', 'x', { topic: 't', partition: 0, records: [] }, Date.now(), 1)).rejects.toBeInstanceOf(
      EncoderUnavailableError,
    );
  });
});

describe('Kafka consumer without encoder threads', () => {
  const db = testPool();
  afterAll(async () => {
    await db.end();
  });

  it('encodes on its own thread when its pool is unavailable: every record and dead letter exactly once', async () => {
    const brokers = kafkaBrokers();
    const suffix = uniqueSuffix();
    const topic = `encoder-${suffix}`;
    const source = `encoder-${suffix}`;
    await createTopic(brokers, topic, 2);
    const start = Date.UTC(2024, 0, 1);
    const records = Array.from({ length: 3_000 }, (_, i) => ({
      key: `modem-${i % 30}`,
      value: i % 500 === 499 ? 'not json' : encodeTelemetry(telemetryRecord(i, 30, start), 200),
    }));
    await produceRaw(brokers, topic, records);
    const unavailable = new EncoderPool(1);
    await unavailable.close();
    const consumer = new KafkaBatchConsumer(db, { brokers, groupId: topic, topic, source, batchSize: 400, encoder: unavailable });
    try {
      await consumer.start();
      await waitFor('every message committed', () => consumer.stats.committed >= 3_000, 60_000);
    } finally {
      await consumer.stop();
    }
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [source]);
    const letters = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM ingest.dead_letters WHERE source = $1 AND error_code = 'not_json'",
      [source],
    );
    expect(Number(rows.rows[0]!.n)).toBe(2_994);
    expect(Number(letters.rows[0]!.n)).toBe(6);
    expect(consumer.stats).toMatchObject({ committed: 3_000, inserted: 2_994, deadLettered: 6, duplicates: 0 });
    expect(consumer.lastError).toMatch(/encoder threads unavailable: closed/);
  });
});
