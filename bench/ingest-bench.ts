/**
 * MQTT → PostgreSQL ingest throughput of the real consumer (`MqttBatchConsumer`, used directly: one
 * consumer per source, as one `mqttIngest` workflow per source would run it) for the replayed real files
 * (UCI Occupancy + UCI Air Quality, each replayed `rounds` times with event times shifted by the data
 * set's span so every copy is new rows), beside two limits measured in the same run:
 * (i) raw `COPY … FROM STDIN` of the same rows into a scratch table shaped like `ingest.sensor_readings`;
 * (ii) MQTT QoS 1 pass-through (publish + subscribe with MQTT.js through the same broker, no database).
 * The messages come from one publisher process per data set (bench/mqtt-publisher.ts, the project's
 * simulator), the same for (ii) and the consumer, as devices are separate from the consumer.
 * Everything written is removed afterwards (scratch table dropped, bench sources deleted).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mqtt from 'mqtt';
import { from as copyFrom } from 'pg-copy-streams';
import { createPool, type Pool } from '../src/db/pool';
import { MqttBatchConsumer } from '../src/ingest/mqtt-consumer';
import { loadDataset, type DeviceReading, type SensorDataset } from '../src/simulator/sensor-files';
import { shiftedCopies, startPublisher } from './mqtt-publisher';
import { round } from './stats';

/** Longest wait for one phase before the bench gives up. @default 180000 ms */
export const PHASE_TIMEOUT_MS = 180_000;

/** Messages each replay keeps in flight (QoS 1 publishes awaiting PUBACK). @default 500 */
export const PUBLISH_WINDOW = 500;

/** One measured phase. */
export interface RatePhase {
  messages: number;
  seconds: number;
  perSecond: number;
}

/** Result of {@link runIngestBench}. */
export interface IngestBenchResult {
  datasets: Record<SensorDataset, { rowsPerCopy: number }>;
  rounds: number;
  /** Real consumer: publish start → last batch committed. */
  mqttToPostgres: RatePhase & {
    inserted: number;
    duplicates: number;
    deadLettered: number;
    batches: number;
    batchSize: number;
    flushIntervalMs: number;
    publishSeconds: number;
  };
  /** (i) one COPY of the same rows into a scratch table with the same primary key and index. */
  rawCopy: RatePhase;
  /** (ii) QoS 1 publish + subscribe, no database. */
  mqttPassThrough: RatePhase;
  /** mqttToPostgres.perSecond divided by each limit. */
  ratioToCopy: number;
  ratioToPassThrough: number;
}

const DATASETS: SensorDataset[] = ['uci-occupancy', 'uci-air-quality'];

async function waitFor(cond: () => boolean, what: string, timeoutMs = PHASE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rate(messages: number, ms: number): RatePhase {
  return { messages, seconds: round(ms / 1000, 3), perSecond: Math.round(messages / (ms / 1000)) };
}

function fmt(x: number | null): string {
  return x === null ? '\\N' : String(x);
}

async function measureCopy(pool: Pool, table: string, rows: Array<{ source: string; r: DeviceReading }>): Promise<RatePhase> {
  const client = await pool.connect();
  try {
    await client.query(`CREATE TABLE ${table} (LIKE ingest.sensor_readings INCLUDING DEFAULTS INCLUDING INDEXES)`);
    function* lines(): Generator<string> {
      let chunk = '';
      for (const { source, r } of rows) {
        chunk += `${source}\t${r.deviceId}\t${new Date(r.eventTime).toISOString()}\t${fmt(r.temperature)}\t${fmt(r.humidity)}\t${fmt(r.light)}\t${fmt(r.co2)}\t${fmt(r.humidityRatio)}\t1\n`;
        if (chunk.length > 64 * 1024) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    const t0 = performance.now();
    await client.query('BEGIN');
    await pipeline(
      Readable.from(lines()),
      client.query(
        copyFrom(`COPY ${table} (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio, batch_id) FROM STDIN`),
      ),
    );
    await client.query('COMMIT');
    const ms = performance.now() - t0;
    const { rows: c } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    if (Number(c[0]?.n) !== rows.length) throw new Error(`COPY wrote ${c[0]?.n} rows, expected ${rows.length}`);
    return rate(rows.length, ms);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    client.release();
  }
}

async function measurePassThrough(url: string, runId: string, rounds: number, total: number): Promise<RatePhase> {
  const sources = DATASETS.map((d) => `${runId}-pt-${d}`);
  const sub = await mqtt.connectAsync(url, {
    clientId: `${runId}-pt-sub`,
    clean: true,
    protocolVersion: 5,
    properties: { receiveMaximum: 65535 },
  });
  let received = 0;
  sub.on('message', () => {
    received++;
  });
  try {
    await sub.subscribeAsync(
      sources.map((s) => `sensors/${s}/+`),
      { qos: 1 },
    );
    const publishers = await Promise.all(
      DATASETS.map((d, i) => startPublisher({ kind: 'dataset', url, source: sources[i]!, dataset: d, rounds, window: PUBLISH_WINDOW })),
    );
    const t0 = performance.now();
    await Promise.all(publishers.map((p) => p.go()));
    await waitFor(() => received >= total, `MQTT pass-through of ${total} messages`);
    return rate(total, performance.now() - t0);
  } finally {
    await sub.endAsync().catch(() => undefined);
  }
}

async function cleanupSources(pool: Pool, sources: string[]): Promise<void> {
  for (const t of ['ingest.sensor_readings', 'ingest.dead_letters', 'ingest.batches', 'ingest.device_status']) {
    await pool.query(`DELETE FROM ${t} WHERE source = ANY($1::text[])`, [sources]);
  }
}

/**
 * Runs the three ingest measurements.
 * @param rounds copies of each data set. @default 3
 * @throws when a phase fails, times out, or the committed row count is wrong
 */
export async function runIngestBench(o: {
  databaseUrl: string;
  mqttUrl: string;
  rounds?: number;
  log?: (m: string) => void;
}): Promise<IngestBenchResult> {
  const rounds = o.rounds ?? 3;
  const log = o.log ?? console.log;
  const runId = `bench${Date.now().toString(36)}${process.pid}`;
  const base = new Map(DATASETS.map((d) => [d, loadDataset(d)] as const));
  const copies = new Map(DATASETS.map((d) => [d, shiftedCopies(base.get(d)!, rounds)] as const));
  const total = [...copies.values()].reduce((a, c) => a + c.length, 0);
  const pool = createPool(o.databaseUrl, 10);
  const sources = DATASETS.map((d) => `${runId}-${d}`);
  try {
    log(`  ingest: MQTT QoS 1 pass-through of ${total} messages…`);
    const passThrough = await measurePassThrough(o.mqttUrl, runId, rounds, total);

    log(`  ingest: raw COPY of ${total} rows…`);
    const copyRows = DATASETS.flatMap((d) => copies.get(d)!.map((r) => ({ source: `${runId}-copy-${d}`, r })));
    const rawCopy = await measureCopy(pool, `public.${runId}_copy`, copyRows);

    log(`  ingest: MQTT → MqttBatchConsumer → PostgreSQL of ${total} messages…`);
    const batchSize = 1000;
    const flushIntervalMs = 500;
    const consumers = DATASETS.map(
      (d, i) =>
        new MqttBatchConsumer(pool, {
          url: o.mqttUrl,
          clientId: `${runId}-consumer-${d}`,
          topic: `sensors/${sources[i]!}/+`,
          source: sources[i]!,
          batchSize,
          flushIntervalMs,
          sessionExpirySeconds: 30,
        }),
    );
    let mqttToPostgres: IngestBenchResult['mqttToPostgres'];
    try {
      await Promise.all(consumers.map((c) => c.start()));
      const publishers = await Promise.all(
        DATASETS.map((d, i) =>
          startPublisher({ kind: 'dataset', url: o.mqttUrl, source: sources[i]!, dataset: d, rounds, window: PUBLISH_WINDOW }),
        ),
      );
      const t0 = performance.now();
      await Promise.all(publishers.map((p) => p.go()));
      const published = performance.now();
      const committed = () => consumers.reduce((a, c) => a + c.stats.committed, 0);
      await waitFor(() => committed() >= total || consumers.some((c) => c.error !== undefined), `commit of ${total} messages`);
      const t1 = performance.now();
      const failed = consumers.find((c) => c.error);
      if (failed?.error) throw failed.error;
      const sum = (k: keyof MqttBatchConsumer['stats']) => consumers.reduce((a, c) => a + c.stats[k], 0);
      const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = ANY($1::text[])', [
        sources,
      ]);
      const inDb = Number(rows[0]?.n);
      if (inDb !== sum('inserted')) throw new Error(`consumer reports ${sum('inserted')} inserted rows, the table holds ${inDb}`);
      mqttToPostgres = {
        ...rate(total, t1 - t0),
        inserted: inDb,
        duplicates: sum('duplicates'),
        deadLettered: sum('deadLettered'),
        batches: sum('batches'),
        batchSize,
        flushIntervalMs,
        publishSeconds: round((published - t0) / 1000, 3),
      };
    } finally {
      await Promise.all(consumers.map((c) => c.stop({ flush: false })));
    }
    return {
      datasets: Object.fromEntries(DATASETS.map((d) => [d, { rowsPerCopy: base.get(d)!.length }])) as IngestBenchResult['datasets'],
      rounds,
      mqttToPostgres,
      rawCopy,
      mqttPassThrough: passThrough,
      ratioToCopy: round(mqttToPostgres.perSecond / rawCopy.perSecond, 3),
      ratioToPassThrough: round(mqttToPostgres.perSecond / passThrough.perSecond, 3),
    };
  } finally {
    await cleanupSources(pool, sources).catch((e: unknown) => log(`  ingest: cleanup failed: ${String(e)}`));
    await pool.end();
  }
}
