/**
 * The batch writer on the real PostgreSQL: the fast path (`assumeNew`: plain INSERT in a savepoint)
 * must give exactly the rows and counts of the `ON CONFLICT DO NOTHING` path when the batch holds
 * redelivered records, duplicates inside the batch, or nothing new at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { findSource } from '../src/sources/load';
import { encodeReading, encodeTelemetry } from '../src/simulator/payloads';
import { testPool, uniqueSuffix } from './support/db';
import { ingestThrough, type TestMessage } from './support/ingest';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

function telemetry(source: string, i: number): TestMessage {
  return {
    payload: Buffer.from(
      encodeTelemetry({
        deviceId: `m-${i % 3}`,
        eventTime: Date.UTC(2024, 4, 1) + i * 1000,
        model: 'RUT955',
        interface: 'wan',
        interfaceStatus: i % 2 ? 'up' : 'down',
        cpuUsage: i,
        memoryUsage: 100 - i,
      }),
    ),
    topic: 'modem-telemetry',
    origin: { topic: 'modem-telemetry', partition: 0, offset: i },
    dedupeKey: `bw:${source}:${i}`,
  };
}

function reading(source: string, i: number): TestMessage {
  return {
    payload: Buffer.from(
      encodeReading({
        deviceId: `s-${i % 2}`,
        eventTime: Date.UTC(2024, 4, 1) + i * 60_000,
        temperature: 20 + i / 10,
        humidity: null,
        light: i % 2 ? null : 400,
        co2: 450.25,
        humidityRatio: 0.004,
      }),
    ),
    topic: `sensors/${source}/s-${i % 2}`,
    origin: { mqttTopic: `sensors/${source}/s-${i % 2}` },
    dedupeKey: `bw:${source}:r${i}`,
  };
}

describe('batch writer', () => {
  for (const assumeNew of [true, false]) {
    it(`writes each record once with assumeNew=${assumeNew}: redeliveries and in-batch duplicates are counted, not written`, async () => {
      const source = `bw-${assumeNew ? 'fast' : 'safe'}-${uniqueSuffix()}`;
      const modem = (ids: number[]) =>
        ingestThrough(
          pool,
          'modem',
          source,
          ids.map((i) => telemetry(source, i)),
          { assumeNew },
        );
      const first = await modem([0, 1, 2, 3]);
      expect(first).toMatchObject({ messages: 4, inserted: 4, duplicates: 0, deadLettered: 0 });
      // Two redelivered records, one new record twice in the same batch, two new ones.
      const second = await modem([2, 3, 4, 4, 5]);
      expect(second).toMatchObject({ messages: 5, inserted: 2, duplicates: 3 });
      expect(await ingestThrough(pool, 'sensor', source, [reading(source, 1)], { assumeNew })).toMatchObject({ inserted: 1 });
      // Nothing new at all.
      const third = await modem([0, 5]);
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
      expect(Number(lineage.rows[0]!.n)).toBe(4);
    });
  }

  it('summarises each device of a batch: count, event-time range, the newest record as latest, in lock order', async () => {
    const modem = findSource('modem')!;
    const ids = [5, 1, 3, 4, 0]; // devices m-2, m-1, m-0, m-1, m-0
    const mapped = await modem.map(
      ids.map((i) => ({ ...telemetry('b-src', i), arrivalTime: 0, identity: String(i) })),
      Date.now(),
    );
    expect(mapped.rejected).toEqual([]);
    const out = modem.encode(mapped.rows, 1).devices;
    expect(out.map((d) => `${d.source}/${d.deviceId}`)).toEqual(['modem/m-0', 'modem/m-1', 'modem/m-2']);
    const m1 = out.find((d) => d.deviceId === 'm-1')!;
    expect(m1).toMatchObject({
      count: 2,
      kind: 'modem',
      firstEventTime: Date.UTC(2024, 4, 1) + 1000,
      lastEventTime: Date.UTC(2024, 4, 1) + 4000,
    });
    expect(m1.latest).toEqual({ model: 'RUT955', interface: 'wan', interface_status: 'down', cpu_usage: 4, memory_usage: 96 });
  });
});
