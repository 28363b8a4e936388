/**
 * The worker's operations endpoint, scraped the way Prometheus scrapes it: the compiled
 * `iot-pipelines worker` with `METRICS_PORT`, on a PostgreSQL of the test's own (so it can be
 * stopped), ingesting a known number of messages (some bad) over MQTT and records over Kafka.
 *
 * Checked: the exposition parses (Prometheus text format, `parse-prometheus-text-format`); the rows and
 * dead-letter counters equal what PostgreSQL holds, by source and code; Kafka lag per partition
 * returns to 0 once the stream has caught up; the Temporal SDK's own metrics are on the same port;
 * `/healthz` answers; `/readyz` is 200 with every dependency named, 503 naming PostgreSQL while it is
 * stopped, and 200 again after it returns.
 */
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { createPool, type Pool } from '../src/db/pool';
import { createTopic } from '../src/ingest/kafka-client';
import { hostPort } from '../src/observability/dependencies';
import { produceRaw } from '../src/simulator/kafka-producer';
import { publishRaw } from '../src/simulator/sensor-replay';
import { applySources } from '../src/sources/apply';
import { loadDeclaration, loadSources, type LoadedSource } from '../src/sources/load';
import { uniqueSuffix } from './support/db';
import { startSeparatePostgres, type SeparatePostgres } from './support/postgres';
import { freePort, killHard, startCliWorker, waitFor } from './support/processes';
import { stopStream } from './support/sources';

const KAFKA = process.env.TEST_KAFKA !== '0';
const shipped = loadSources(path.join(ROOT_DIR, 'sources'));

interface Sample {
  labels?: Record<string, string>;
  value: string;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

/** Scrapes `/metrics` and parses it. @throws when the text is not Prometheus exposition format */
async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

/** The value of the sample of `name` whose labels include `labels` (0 when there is none). */
function valueOf(m: Map<string, Family>, name: string, labels: Record<string, string>): number {
  const s = m.get(name)?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return s ? Number(s.value) : 0;
}

async function readyz(url: string): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
}

describe('operations endpoint of the worker', () => {
  let pg: SeparatePostgres | undefined;
  let pool: Pool | undefined;
  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    await pg?.remove();
  });

  it(
    'counts what PostgreSQL holds, shows Kafka lag back at 0, serves Temporal metrics, and turns unready naming PostgreSQL while it is down',
    { timeout: 300_000 },
    async () => {
      pg = await startSeparatePostgres('ops-pg-');
      pool = createPool(pg.url, 3);
      const id = uniqueSuffix();
      const taskQueue = `test-ops-${id}`;
      const metricsPort = await freePort();
      const temporalMetricsPort = await freePort();
      const worker = await startCliWorker({
        TASK_QUEUE: taskQueue,
        DATABASE_URL: pg.url,
        METRICS_PORT: String(metricsPort),
        TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
      });
      const url = `http://127.0.0.1:${metricsPort}`;
      // Printed after the polling line (which startCliWorker waits for), possibly in a later chunk of output.
      await waitFor('the worker to print where its metrics are', () => worker.output().includes(`Metrics at ${url}/metrics`), 10_000);
      const connection = await Connection.connect({ address: loadSettings().temporalAddress });
      const client = new Client({ connection });
      const streams: string[] = [];
      try {
        expect(await (await fetch(`${url}/healthz`)).text()).toBe('ok\n');
        // No stream yet: Temporal and PostgreSQL are all it depends on.
        expect(await readyz(url)).toEqual({ status: 200, body: { status: 'ready', checks: { postgresql: 'ok', temporal: 'ok' } } });

        // MQTT: 40 readings, 3 that are not JSON, 2 without a number where one is declared.
        const mqttSource: LoadedSource = loadDeclaration(
          {
            ...structuredClone(shipped.get('mqtt-sensor-data')!.declaration),
            name: `ops-mqtt-${id}`,
            mqtt: { topic: `ops/${id}/data` },
          },
          'test',
        );
        const sources = new Map([[mqttSource.name, mqttSource]]);
        let kafkaSource: LoadedSource | undefined;
        const topic = `ops-${id}`;
        if (KAFKA) {
          await createTopic(kafkaBrokers(), topic, 3);
          kafkaSource = loadDeclaration(
            {
              ...structuredClone(shipped.get('kafka-sensor-data')!.declaration),
              name: `ops-kafka-${id}`,
              kafka: { topics: [topic], group: `ops-${id}` },
            },
            'test',
          );
          sources.set(kafkaSource.name, kafkaSource);
        }
        const applied = await applySources(sources, { client, pool, taskQueue });
        for (const r of applied) {
          expect(r.error).toBeUndefined();
          streams.push(...r.streams.map((s) => s.workflowId));
        }
        const t0 = 1764744000;
        const good = Array.from({ length: 40 }, (_, i) =>
          JSON.stringify({ sensor_id: `ops-${i % 4}`, timestamp: t0 + i, temperature: 20 + i / 10, humidity: 40 }),
        );
        const bad = [
          '{"sensor_id": "ops-0", "timestamp":',
          'not json at all',
          '\u0001\u0002',
          ...[1, 2].map((k) => `{"sensor_id": "ops-1", "timestamp": ${t0 + 100 + k}, "temperature": "warm"}`),
        ];
        const table = (s: LoadedSource) => `ingest."${s.table}"`;
        // The consumer's session exists once a probe lands (messages before its first SUBSCRIBE are not queued).
        let probe = 0;
        await waitFor(
          'the MQTT stream to subscribe',
          async () => {
            await publishRaw(mqttUrl(), [
              { topic: `ops/${id}/data`, payload: JSON.stringify({ sensor_id: 'probe', timestamp: t0 - ++probe, temperature: 1 }) },
            ]);
            return (
              Number(
                (await pool!.query<{ n: string }>(`SELECT count(*) AS n FROM ${table(mqttSource)}`).catch(() => ({ rows: [{ n: '0' }] })))
                  .rows[0]!.n,
              ) > 0
            );
          },
          120_000,
          1000,
        );
        await publishRaw(
          mqttUrl(),
          [...good, ...bad].map((payload) => ({ topic: `ops/${id}/data`, payload })),
        );
        if (kafkaSource) {
          await produceRaw(
            kafkaBrokers(),
            topic,
            Array.from({ length: 300 }, (_, i) => ({
              key: `k${i % 9}`,
              value: JSON.stringify({ sensor_id: 1000 + (i % 9), temperature: 21, humidity: 40 + i / 100 }),
            })),
          );
        }
        const count = async (sql: string, params: unknown[] = []) => Number((await pool!.query<{ n: string }>(sql, params)).rows[0]!.n);
        await waitFor(
          'MQTT rows and dead letters',
          async () =>
            (await count(`SELECT count(*) AS n FROM ${table(mqttSource)} WHERE device_id <> 'probe'`)) >= 40 &&
            (await count('SELECT count(*) AS n FROM ingest.dead_letters WHERE source = $1', [mqttSource.name])) >= 5,
          60_000,
        );
        if (kafkaSource)
          await waitFor('Kafka rows', async () => (await count(`SELECT count(*) AS n FROM ${table(kafkaSource)}`)) >= 300, 120_000);

        // Counters equal what PostgreSQL holds, by source and by code.
        for (const s of [mqttSource, ...(kafkaSource ? [kafkaSource] : [])]) {
          const transport = s === mqttSource ? 'mqtt' : 'kafka';
          const rows = await count(`SELECT count(*) AS n FROM ${table(s)}`);
          const letters = (
            await pool.query<{ error_code: string; n: string }>(
              'SELECT error_code, count(*) AS n FROM ingest.dead_letters WHERE source = $1 GROUP BY 1',
              [s.name],
            )
          ).rows;
          await waitFor(
            `the ${transport} counters to match PostgreSQL`,
            async () => {
              const m = await scrape(url);
              return (
                valueOf(m, 'iot_pipelines_ingest_rows_total', { source: s.name, transport }) === rows &&
                letters.every(
                  (l) =>
                    valueOf(m, 'iot_pipelines_ingest_dead_letters_total', { source: s.name, transport, code: l.error_code }) ===
                    Number(l.n),
                )
              );
            },
            30_000,
          );
          const m = await scrape(url);
          expect(valueOf(m, 'iot_pipelines_ingest_rows_total', { source: s.name, transport })).toBe(rows);
          if (s === mqttSource) {
            const probes = await count(`SELECT count(*) AS n FROM ${table(s)} WHERE device_id = 'probe'`);
            expect(rows).toBe(40 + probes);
            expect(Object.fromEntries(letters.map((l) => [l.error_code, Number(l.n)]))).toEqual({ not_json: 3, schema: 2 });
            for (const l of letters) {
              expect(valueOf(m, 'iot_pipelines_ingest_dead_letters_total', { source: s.name, transport, code: l.error_code })).toBe(
                Number(l.n),
              );
            }
            expect(valueOf(m, 'iot_pipelines_ingest_messages_total', { source: s.name, transport })).toBe(45 + probes);
            expect(valueOf(m, 'iot_pipelines_stream_state', { source: s.name, transport, state: 'running' })).toBe(1);
            // The parser keeps no labels of histogram samples: the commit-time histogram's count is read from the text.
            const text = await (await fetch(`${url}/metrics`)).text();
            const commits = new RegExp(
              `^iot_pipelines_ingest_commit_duration_seconds_count\\{source="${s.name}",transport="mqtt"\\} (\\d+)$`,
              'm',
            ).exec(text);
            expect(Number(commits?.[1])).toBeGreaterThan(0);
            expect(m.get('iot_pipelines_ingest_batch_messages')?.type).toBe('HISTOGRAM');
          }
        }
        if (kafkaSource) {
          // Lag per partition: log end offset − committed position, back at 0 once caught up (refreshed every 5 s).
          await waitFor(
            'Kafka lag 0 on every partition',
            async () => {
              const m = await scrape(url);
              const lag = m.get('iot_pipelines_kafka_consumer_lag')?.metrics.filter((x) => x.labels?.topic === topic) ?? [];
              return lag.length === 3 && lag.every((x) => Number(x.value) === 0);
            },
            30_000,
          );
        }
        // The Temporal SDK's runtime metrics come through the same port.
        const all = await scrape(url);
        expect([...all.keys()].some((k) => k.startsWith('temporal_'))).toBe(true);
        expect(all.has('process_cpu_seconds_total')).toBe(true);

        const ready = await readyz(url);
        expect(ready.status).toBe(200);
        const broker = hostPort(mqttUrl(), 1883);
        expect(Object.keys(ready.body.checks).sort()).toEqual(
          [
            'postgresql',
            'temporal',
            `mqtt ${broker.host}:${broker.port}`,
            ...(KAFKA ? kafkaBrokers().map((b) => `kafka ${hostPort(b, 9092).host}:${hostPort(b, 9092).port}`) : []),
          ].sort(),
        );
        expect(Object.values(ready.body.checks).every((v) => v === 'ok')).toBe(true);

        // PostgreSQL down: not ready, and the reason names it; back: ready.
        await pool.end();
        pool = undefined;
        await pg.server.stop();
        await waitFor('readyz 503', async () => (await readyz(url)).status === 503, 30_000);
        const down = await readyz(url);
        expect(down.body.status).toBe('not ready');
        expect(down.body.checks.postgresql).not.toBe('ok');
        expect(down.body.checks.temporal).toBe('ok');
        await pg.server.start();
        pool = createPool(pg.url, 3);
        await waitFor('readyz 200 again', async () => (await readyz(url)).status === 200, 60_000);
      } finally {
        for (const w of streams) await stopStream(client, w).catch(() => undefined);
        await killHard(worker);
        await connection.close();
      }
    },
  );
});
