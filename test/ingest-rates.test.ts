/**
 * The dashboard's ingest rates come from the Prometheus counters (no second bookkeeping): a real MQTT
 * consumer of a declared source (Mosquitto, PostgreSQL) commits 300 readings and 4 bad payloads in this
 * process; the dashboard started beside it (as `npm start` runs them) serves, at /api/snapshot, the
 * source's rows and dead letters equal to what PostgreSQL holds, and a rows/s rate between two samples.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { startDashboard } from '../src/dashboard/server';
import type { Snapshot } from '../src/dashboard/data';
import { MqttBatchConsumer } from '../src/ingest/mqtt-consumer';
import { IngestRates } from '../src/observability/rates';
import { publishRaw } from '../src/simulator/sensor-replay';
import { applyTable } from '../src/sources/table';
import { loadDeclaration, loadSources } from '../src/sources/load';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';

const pool = testPool();
const drop: string[] = [];
afterAll(async () => {
  for (const t of drop) await pool.query(`DROP TABLE IF EXISTS ingest."${t}"`);
  await pool.end();
});

describe('dashboard ingest rates', () => {
  it(
    'shows the counters of the consumer in its process: rows and dead letters as in PostgreSQL, and a rate',
    { timeout: 120_000 },
    async () => {
      const id = uniqueSuffix();
      const shipped = loadSources(path.join(ROOT_DIR, 'sources')).get('mqtt-sensor-data')!;
      const s = loadDeclaration({ ...structuredClone(shipped.declaration), name: `rates-${id}`, mqtt: { topic: `rates/${id}` } }, 'test');
      drop.push(s.table);
      await applyTable(pool, s);
      const consumer = new MqttBatchConsumer(pool, {
        url: mqttUrl(),
        clientId: `rates-${id}`,
        topic: `rates/${id}`,
        source: s.name,
        declared: s,
        flushIntervalMs: 100,
      });
      await consumer.start();
      const connection = await Connection.connect({ address: loadSettings().temporalAddress });
      // The dashboard samples at every stream refresh; `rates` is sampled by the test around the publish.
      const dashboard = await startDashboard({
        pool,
        client: new Client({ connection }),
        port: 0,
        ingestRates: new IngestRates(),
        refreshMs: 300,
      });
      const rates = new IngestRates();
      try {
        const t0 = 1764744000;
        await rates.sample();
        const good = Array.from({ length: 300 }, (_, i) => JSON.stringify({ sensor_id: `r-${i % 3}`, timestamp: t0 + i, temperature: 20 }));
        const bad = ['nope', '{"sensor_id": "r-0"', '{"sensor_id": "r-1", "timestamp": 1, "temperature": "hot"}', '[]'];
        await publishRaw(
          mqttUrl(),
          [...good, ...bad].map((payload) => ({ topic: `rates/${id}`, payload })),
        );
        await waitFor('every message committed', () => consumer.stats.committed >= 304, 60_000);
        const rows = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ingest."${s.table}"`)).rows[0]!.n);
        const letters = Number(
          (await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.dead_letters WHERE source = $1', [s.name])).rows[0]!.n,
        );
        expect([rows, letters]).toEqual([300, 4]);

        // The page's data: the dashboard's own samples of the same counters.
        await waitFor(
          'the dashboard to show the committed counters',
          async () => {
            const snapshot = (await (await fetch(`${dashboard.url}api/snapshot`)).json()) as Snapshot;
            const r = snapshot.ingest?.find((x) => x.source === s.name);
            return r?.rows === rows && r.deadLetters === letters && r.transport === 'mqtt';
          },
          30_000,
          100,
        );
        const [mine] = (await rates.sample()).filter((r) => r.source === s.name);
        expect(mine).toMatchObject({ transport: 'mqtt', rows: 300, deadLetters: 4 });
        expect(mine!.rowsPerSecond).toBeGreaterThan(0);
        expect(mine!.deadLettersPerMinute).toBeGreaterThan(0);
        // Nothing more arrived: the next interval's rates are 0.
        expect((await rates.sample()).find((r) => r.source === s.name)).toMatchObject({ rowsPerSecond: 0, deadLettersPerMinute: 0 });
      } finally {
        await dashboard.close();
        await connection.close();
        await consumer.stop();
      }
    },
  );
});
