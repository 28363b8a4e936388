/**
 * The batch writer on the real PostgreSQL: the fast path (`assumeNew`: plain INSERT in a savepoint)
 * must give exactly the rows and counts of the `ON CONFLICT DO NOTHING` path when the batch holds
 * redelivered records, duplicates inside the batch, or nothing new at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeBatch, type Batch } from '../src/ingest/batch-writer';
import { summariseDevices } from '../src/ingest/record-encoding';
import type { ModemTelemetry } from '../src/ingest/telemetry';
import type { Reading } from '../src/ingest/reading';
import { testPool, uniqueSuffix } from './support/db';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

function telemetry(source: string, i: number): ModemTelemetry {
  return {
    source,
    deviceId: `m-${i % 3}`,
    eventTime: Date.UTC(2024, 4, 1) + i * 1000,
    model: 'RUT955',
    interface: 'wan',
    interfaceStatus: i % 2 ? 'up' : 'down',
    cpuUsage: i,
    memoryUsage: 100 - i,
  };
}

function reading(source: string, i: number): Reading {
  return {
    source,
    deviceId: `s-${i % 2}`,
    eventTime: Date.UTC(2024, 4, 1) + i * 60_000,
    temperature: 20 + i / 10,
    humidity: null,
    light: i % 2 ? null : 400,
    co2: 450.25,
    humidityRatio: 0.004,
  };
}

const batch = (source: string, o: Partial<Batch>): Batch => ({ source, consumer: 'test', readings: [], deadLetters: [], ...o });

describe('batch writer', () => {
  for (const assumeNew of [true, false]) {
    it(`writes each record once with assumeNew=${assumeNew}: redeliveries and in-batch duplicates are counted, not written`, async () => {
      const source = `bw-${assumeNew ? 'fast' : 'safe'}-${uniqueSuffix()}`;
      const first = await writeBatch(pool, batch(source, { telemetry: [0, 1, 2, 3].map((i) => telemetry(source, i)), assumeNew }));
      expect(first).toMatchObject({ messages: 4, inserted: 4, duplicates: 0 });
      // Two redelivered records, one new record twice in the same batch, two new ones.
      const second = await writeBatch(
        pool,
        batch(source, { telemetry: [2, 3, 4, 4, 5].map((i) => telemetry(source, i)), readings: [reading(source, 1)], assumeNew }),
      );
      expect(second).toMatchObject({ messages: 6, inserted: 3, duplicates: 3 });
      // Nothing new at all.
      const third = await writeBatch(pool, batch(source, { telemetry: [0, 5].map((i) => telemetry(source, i)), assumeNew }));
      expect(third).toMatchObject({ messages: 2, inserted: 0, duplicates: 2 });
      const rows = await pool.query<{ n: string; cpu: number }>(
        'SELECT count(*) AS n, sum(cpu_usage) AS cpu FROM ingest.modem_telemetry WHERE source = $1',
        [source],
      );
      expect(Number(rows.rows[0]!.n)).toBe(6);
      expect(rows.rows[0]!.cpu).toBe(0 + 1 + 2 + 3 + 4 + 5);
      // Numbers and NULLs survive the array encoding exactly.
      const r = await pool.query<{
        temperature: number;
        humidity: number | null;
        light: number | null;
        co2: number;
        humidity_ratio: number;
      }>('SELECT temperature, humidity, light, co2, humidity_ratio FROM ingest.sensor_readings WHERE source = $1', [source]);
      expect(r.rows).toEqual([{ temperature: 20.1, humidity: null, light: null, co2: 450.25, humidity_ratio: 0.004 }]);
      // The batch that fell back is still one lineage row per call.
      const lineage = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.batches WHERE source = $1', [source]);
      expect(Number(lineage.rows[0]!.n)).toBe(3);
    });
  }

  it('summarises each device of a batch: count, event-time range, the newest record as latest, in lock order', () => {
    const t = [5, 1, 3, 4, 0].map((i) => telemetry('b-src', i)); // devices m-2, m-1, m-0, m-1, m-0
    const out = summariseDevices({ readings: [reading('a-src', 3), reading('a-src', 1)], telemetry: t, gpsFixes: [] });
    expect(out.map((d) => `${d.source}/${d.deviceId}`)).toEqual(['a-src/s-1', 'b-src/m-0', 'b-src/m-1', 'b-src/m-2']);
    const m1 = out.find((d) => d.deviceId === 'm-1')!;
    expect(m1).toMatchObject({ count: 2, kind: 'modem', firstEventTime: t[1]!.eventTime, lastEventTime: t[3]!.eventTime });
    expect(m1.latest).toEqual({ model: 'RUT955', interface: 'wan', interface_status: 'down', cpu_usage: 4, memory_usage: 96 });
    const s1 = out.find((d) => d.deviceId === 's-1')!;
    expect(s1).toMatchObject({ count: 2, kind: 'sensor', lastEventTime: reading('a-src', 3).eventTime });
    expect(s1.latest).toMatchObject({ temperature: 20.3, light: null });
  });
});
