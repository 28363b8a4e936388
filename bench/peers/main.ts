/**
 * The bench against the peers (`npm run bench -- --only=peers`): the same messages, broker and
 * PostgreSQL as the streams bench, ingested by our consumers and by the tools users would pick
 * instead, interleaved in one run so they see the same machine:
 *
 * - MQTT → PostgreSQL: ours (`MqttBatchConsumer`), Telegraf `inputs.mqtt_consumer` (QoS 1, persistent
 *   session) → `outputs.postgresql`, and a Python paho-mqtt + psycopg glue script;
 * - Kafka → PostgreSQL: ours (`KafkaBatchConsumer`), Telegraf `inputs.kafka_consumer` →
 *   `outputs.postgresql`, a Python confluent-kafka + psycopg glue script, and Kafka Connect with a
 *   JDBC sink when one can be obtained from Maven Central (the row says what was tried otherwise).
 *
 * Each row: committed rows per second (median of the repeats), the ratio ours / peer, the CPU per
 * message of the peer's process (`/proc/<pid>/stat`; ours: `process.cpuUsage`), of this stack's
 * PostgreSQL and of the broker, and the peer's delivery guarantee as it actually behaves. A peer that
 * cannot be built or run gives a row that says what was tried and why it failed; the bench goes on.
 * The peers write into tables of the `bench_peers` schema shaped like ours (same columns, key and
 * indexes); the schema is dropped afterwards. Run alone:
 * `node --import tsx bench/peers/main.ts [--records N] [--mqtt-messages M] [--repeats R]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl } from '../../src/config/env';
import pg from 'pg';
import type { Pool } from '../../src/db/pool';
import { createTopic } from '../../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../../src/ingest/kafka-consumer';
import { MqttBatchConsumer } from '../../src/ingest/mqtt-consumer';
import { produceTelemetry } from '../../src/simulator/kafka-producer';
import { startPublisher } from '../mqtt-publisher';
import { tryKafkaConnect } from './kafka-connect';
import { startServersCpu, type ServersCpu } from './proc';
import { ensureVenv, script } from './python';
import { spawnPeer } from './spawned';
import { ensureTelegraf, kafkaConfig, mqttConfig, TELEGRAF_BUILD_TIMEOUT_MS, TELEGRAF_VERSION, wroteBatch } from './telegraf';

/** Extra time the bench's watchdog allows for this section: a first Telegraf build and pip install. */
export const PEERS_WATCHDOG_MS = TELEGRAF_BUILD_TIMEOUT_MS + 20 * 60_000;

/** Schema of the peers' tables (created and dropped by the bench). */
export const PEERS_SCHEMA = 'bench_peers';

/** Longest wait for one run. */
const RUN_TIMEOUT_MS = 300_000;

/** Which ingest path a row measures. */
export type PeerPath = 'MQTT → PostgreSQL' | 'Kafka → PostgreSQL';

/** One measured run. */
interface Run {
  ms: number;
  /** CPU of the ingesting process, ms. */
  processMs: number | undefined;
  servers: ServersCpu;
}

/** One row of the peers table. */
export interface PeerRow {
  path: PeerPath;
  /** `ours` or the peer's name. */
  tool: string;
  ours: boolean;
  /** How it was obtained or built, and its settings. */
  how: string;
  /** Delivery guarantee as the tool behaves in this set-up. */
  delivery: string;
  messages: number;
  /** Median run time, s, and median rate; undefined when the peer failed. */
  seconds?: number;
  perSecond?: number;
  /** Rates of every run, msgs/s. */
  runs?: number[];
  /** CPU per message, µs, each the median over the runs. */
  cpuUsPerMessage?: { process?: number; postgres?: number; broker?: number };
  /** Every run: rate and CPU per message, µs. */
  runsDetail?: Array<{ perSecond: number; cpuUsPerMessage: { process?: number; postgres?: number; broker?: number } }>;
  /** Ours' rate / this tool's, run by run (the two ran back to back). */
  pairedRatios?: number[];
  /** Median of {@link PeerRow.pairedRatios} (1 for ours). */
  ratioOursToPeer?: number;
  /** Ours' median rate / this tool's median rate. */
  ratioOfMedians?: number;
  /** What was tried and why it failed. */
  error?: string;
}

/** Results of {@link runPeersBench}. */
export interface PeersBenchResult {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; loadAverage1m: number };
  mqttMessages: number;
  kafkaRecords: number;
  repeats: number;
  warmup: number;
  rows: PeerRow[];
  /** The goals of issue 15 and whether this run met them (undefined: not measurable). */
  goals: Array<{ goal: string; measured: string; met: boolean | undefined }>;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function perMessage(ms: number | undefined, n: number): number | undefined {
  return ms === undefined ? undefined : round1((ms * 1000) / n);
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);

/** Summarises the runs of one tool: the median rate, and the median of each CPU figure over the runs. */
function summarise(base: Omit<PeerRow, 'messages'>, n: number, runs: Run[], broker: 'mosquitto' | 'kafka'): PeerRow {
  const detail = runs.map((r) => ({
    perSecond: Math.round((n / r.ms) * 1000),
    cpuUsPerMessage: {
      process: perMessage(r.processMs, n),
      postgres: perMessage(r.servers.postgres, n),
      broker: perMessage(r.servers[broker], n),
    },
  }));
  const med = (k: 'process' | 'postgres' | 'broker') => {
    const m = median(defined(detail.map((d) => d.cpuUsPerMessage[k])));
    return m === undefined ? undefined : round1(m);
  };
  const ms = median(runs.map((r) => r.ms))!;
  return {
    ...base,
    messages: n,
    seconds: Math.round(ms) / 1000,
    perSecond: Math.round(median(detail.map((d) => d.perSecond))!),
    runs: detail.map((d) => d.perSecond),
    runsDetail: detail,
    cpuUsPerMessage: { process: med('process'), postgres: med('postgres'), broker: med('broker') },
  };
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = RUN_TIMEOUT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Creates a fresh table for a peer, shaped like ours (columns, key, indexes). */
async function peerTable(pool: Pool, name: string, like: 'sensor_readings' | 'modem_telemetry'): Promise<string> {
  const table = `${PEERS_SCHEMA}.${name}`;
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await pool.query(`CREATE TABLE ${table} (LIKE ingest.${like} INCLUDING DEFAULTS INCLUDING INDEXES)`);
  return table;
}

async function countRows(pool: Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

/** Ends a persistent MQTT session: connect with a clean start under its client id, disconnect. */
async function dropSession(url: string, clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(url, {
    clientId,
    clean: true,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 0 },
    reconnectPeriod: 0,
  });
  await c.endAsync();
}

interface Ctx {
  pool: Pool;
  stackDir: string;
  url: string;
  brokers: string[];
  dbUrl: string;
  workDir: string;
  log: (m: string) => void;
}

// ---------------------------------------------------------------------------------------------- MQTT

async function mqttOurs(ctx: Ctx, n: number, run: number): Promise<Run> {
  const source = `peers-ours-${Date.now()}-${run}`;
  const c = new MqttBatchConsumer(ctx.pool, {
    url: ctx.url,
    clientId: source,
    topic: `sensors/${source}/+`,
    source,
    batchSize: 5000,
    flushIntervalMs: 50,
    sessionExpirySeconds: 60,
  });
  try {
    await c.start();
    const publisher = await startPublisher({ kind: 'readings', url: ctx.url, prefix: `sensors/${source}`, count: n });
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await publisher.go();
    await waitUntil(() => c.stats.committed >= n || c.error !== undefined, `ours: commit of ${n} MQTT messages`);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const used = servers();
    if (c.error) throw c.error;
    return { ms, processMs: (cpu.user + cpu.system) / 1000, servers: used };
  } finally {
    await c.stop();
    await dropSession(ctx.url, source).catch(() => undefined);
    await ctx.pool.query('DELETE FROM ingest.sensor_readings WHERE source = $1', [source]);
    await ctx.pool.query('DELETE FROM ingest.batches WHERE source = $1', [source]).catch(() => undefined);
    await ctx.pool.query('DELETE FROM ingest.device_status WHERE source = $1', [source]).catch(() => undefined);
  }
}

/** The limit: the same publisher and messages to an MQTT.js subscriber in this process that only counts. */
async function mqttPassThrough(ctx: Ctx, n: number, run: number): Promise<Run> {
  const prefix = `bench/peers-pass/${Date.now()}-${run}`;
  const sub = await mqtt.connectAsync(ctx.url, {
    clientId: `peers-pass-${Date.now()}-${run}`,
    protocolVersion: 5,
    clean: true,
    properties: { receiveMaximum: 65535 },
  });
  let got = 0;
  sub.on('message', () => got++);
  try {
    await sub.subscribeAsync(`${prefix}/+`, { qos: 1 });
    const publisher = await startPublisher({ kind: 'readings', url: ctx.url, prefix, count: n });
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await publisher.go();
    await waitUntil(() => got >= n, `pass-through of ${n} MQTT messages`);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, processMs: (cpu.user + cpu.system) / 1000, servers: servers() };
  } finally {
    await sub.endAsync();
  }
}

async function mqttTelegraf(ctx: Ctx, bin: string, n: number, run: number): Promise<Run> {
  const source = `peers-telegraf-${Date.now()}-${run}`;
  const clientId = source;
  const table = await peerTable(ctx.pool, 'telegraf_mqtt', 'sensor_readings');
  const conf = path.join(ctx.workDir, 'telegraf-mqtt.conf');
  fs.writeFileSync(
    conf,
    mqttConfig({
      brokerUrl: ctx.url,
      topic: `sensors/${source}/+`,
      clientId,
      databaseUrl: ctx.dbUrl,
      schema: PEERS_SCHEMA,
      table: 'telegraf_mqtt',
      source,
      batchSize: 5000,
      flushInterval: '50ms',
      maxUndelivered: 10_000,
    }),
  );
  let written = 0;
  let connected = false;
  const p = spawnPeer(bin, ['--config', conf], (line) => {
    written += wroteBatch(line);
    if (/\[inputs\.mqtt_consumer\] Connected/.test(line)) connected = true;
  });
  try {
    const publisher = await startPublisher({ kind: 'readings', url: ctx.url, prefix: `sensors/${source}`, count: n });
    await p.waitFor(() => connected, 'Telegraf mqtt_consumer connect', 60_000);
    // "Connected" is logged just before the SUBSCRIBE is sent; the SUBACK follows within milliseconds.
    await new Promise((r) => setTimeout(r, 500));
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = p.cpuMs();
    const t0 = performance.now();
    await publisher.go();
    await p.waitFor(() => written >= n, `Telegraf: write of ${n} MQTT messages`, RUN_TIMEOUT_MS);
    const ms = performance.now() - t0;
    const cpu1 = p.cpuMs();
    const used = servers();
    const inDb = await countRows(ctx.pool, table);
    if (inDb !== n) throw new Error(`Telegraf logged ${written} written metrics, the table holds ${inDb} rows (expected ${n})`);
    return { ms, processMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, servers: used };
  } finally {
    await p.stop();
    await dropSession(ctx.url, clientId).catch(() => undefined);
    await ctx.pool.query(`DROP TABLE IF EXISTS ${table}`);
  }
}

async function mqttPython(ctx: Ctx, python: string, n: number, run: number): Promise<Run> {
  const source = `peers-python-${Date.now()}-${run}`;
  const table = await peerTable(ctx.pool, 'python_mqtt', 'sensor_readings');
  const u = new URL(ctx.url);
  let committed = 0;
  let ready = false;
  const p = spawnPeer(
    python,
    [
      script('mqtt_to_pg.py'),
      '--host',
      u.hostname,
      '--port',
      u.port || '1883',
      '--topic',
      `sensors/${source}/+`,
      '--client-id',
      source,
      '--dsn',
      ctx.dbUrl,
      '--table',
      table,
      '--source',
      source,
      '--count',
      String(n),
      '--batch',
      '5000',
      '--flush-seconds',
      '0.05',
    ],
    (line, stream) => {
      if (stream !== 'stdout') return;
      if (line === 'ready') ready = true;
      const m = /^committed (\d+)$/.exec(line);
      if (m) committed = Number(m[1]);
    },
  );
  try {
    const publisher = await startPublisher({ kind: 'readings', url: ctx.url, prefix: `sensors/${source}`, count: n });
    await p.waitFor(() => ready, 'Python MQTT script start', 60_000);
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = p.cpuMs();
    const t0 = performance.now();
    await publisher.go();
    await p.waitFor(() => committed >= n, `Python: commit of ${n} MQTT messages`, RUN_TIMEOUT_MS);
    const ms = performance.now() - t0;
    const cpu1 = p.cpuMs();
    const used = servers();
    const inDb = await countRows(ctx.pool, table);
    if (inDb !== n) throw new Error(`the Python script reported ${committed} committed rows, the table holds ${inDb} (expected ${n})`);
    return { ms, processMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, servers: used };
  } finally {
    await p.stop();
    await ctx.pool.query(`DROP TABLE IF EXISTS ${table}`);
  }
}

// --------------------------------------------------------------------------------------------- Kafka

async function kafkaOurs(ctx: Ctx, topic: string, n: number, run: number): Promise<Run> {
  const source = `peers-ours-${Date.now()}-${run}`;
  const c = new KafkaBatchConsumer(ctx.pool, {
    brokers: ctx.brokers,
    groupId: source,
    topic,
    source,
    kind: 'modem',
    batchSize: 10_000,
    partitionsConsumedConcurrently: 4,
  });
  try {
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await c.start();
    await waitUntil(() => c.stats.committed >= n, `ours: commit of ${n} Kafka records`);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, processMs: (cpu.user + cpu.system) / 1000, servers: servers() };
  } finally {
    await c.stop();
    await ctx.pool.query('DELETE FROM ingest.modem_telemetry WHERE source = $1', [source]);
    await ctx.pool.query('DELETE FROM ingest.batches WHERE source = $1', [source]).catch(() => undefined);
    await ctx.pool.query('DELETE FROM ingest.device_status WHERE source = $1', [source]).catch(() => undefined);
  }
}

async function kafkaTelegraf(ctx: Ctx, bin: string, topic: string, n: number, run: number): Promise<Run> {
  const source = `peers-telegraf-${Date.now()}-${run}`;
  const table = await peerTable(ctx.pool, 'telegraf_kafka', 'modem_telemetry');
  const conf = path.join(ctx.workDir, 'telegraf-kafka.conf');
  fs.writeFileSync(
    conf,
    kafkaConfig({
      brokers: ctx.brokers,
      topic,
      group: source,
      databaseUrl: ctx.dbUrl,
      schema: PEERS_SCHEMA,
      table: 'telegraf_kafka',
      source,
      batchSize: 10_000,
      flushInterval: '50ms',
      maxUndelivered: 20_000,
    }),
  );
  let written = 0;
  const servers = startServersCpu(ctx.stackDir);
  // Timed from the process start (its start-up, config parsing, PostgreSQL connect and group join
  // included, as ours includes connect and group join).
  const t0 = performance.now();
  const p = spawnPeer(bin, ['--config', conf], (line) => {
    written += wroteBatch(line);
  });
  try {
    await p.waitFor(() => written >= n, `Telegraf: write of ${n} Kafka records`, RUN_TIMEOUT_MS);
    const ms = performance.now() - t0;
    const cpu = p.cpuMs();
    const used = servers();
    const inDb = await countRows(ctx.pool, table);
    if (inDb !== n) throw new Error(`Telegraf logged ${written} written metrics, the table holds ${inDb} rows (expected ${n})`);
    return { ms, processMs: cpu, servers: used };
  } finally {
    await p.stop();
    await ctx.pool.query(`DROP TABLE IF EXISTS ${table}`);
  }
}

async function kafkaPython(ctx: Ctx, python: string, topic: string, n: number, run: number): Promise<Run> {
  const source = `peers-python-${Date.now()}-${run}`;
  const table = await peerTable(ctx.pool, 'python_kafka', 'modem_telemetry');
  let committed = 0;
  let ready = false;
  const p = spawnPeer(
    python,
    [
      script('kafka_to_pg.py'),
      '--brokers',
      ctx.brokers.join(','),
      '--topic',
      topic,
      '--group',
      source,
      '--dsn',
      ctx.dbUrl,
      '--table',
      table,
      '--source',
      source,
      '--count',
      String(n),
      '--batch',
      '10000',
    ],
    (line, stream) => {
      if (stream !== 'stdout') return;
      if (line === 'ready') ready = true;
      const m = /^committed (\d+)$/.exec(line);
      if (m) committed = Number(m[1]);
    },
  );
  try {
    await p.waitFor(() => ready, 'Python Kafka script start', 60_000);
    const servers = startServersCpu(ctx.stackDir);
    const cpu0 = p.cpuMs();
    const t0 = performance.now();
    p.send('go');
    await p.waitFor(() => committed >= n, `Python: commit of ${n} Kafka records`, RUN_TIMEOUT_MS);
    const ms = performance.now() - t0;
    const cpu1 = p.cpuMs();
    const used = servers();
    const inDb = await countRows(ctx.pool, table);
    if (inDb !== n) throw new Error(`the Python script reported ${committed} committed rows, the table holds ${inDb} (expected ${n})`);
    return { ms, processMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, servers: used };
  } finally {
    await p.stop();
    await ctx.pool.query(`DROP TABLE IF EXISTS ${table}`);
  }
}

// ---------------------------------------------------------------------------------------------- runner

/** A tool measured `repeats` times, or the reason it cannot be. */
interface Contender {
  base: Omit<PeerRow, 'messages'>;
  measure?: (run: number) => Promise<Run>;
  runs: Run[];
}

async function measureAll(
  path_: PeerPath,
  n: number,
  o: { repeats: number; warmup: number },
  contenders: Contender[],
  broker: 'mosquitto' | 'kafka',
  log: (m: string) => void,
): Promise<PeerRow[]> {
  for (let i = 0; i < o.warmup + o.repeats; i++) {
    const label = i < o.warmup ? `warm-up ${i + 1}/${o.warmup}` : `run ${i - o.warmup + 1}/${o.repeats}`;
    for (const c of contenders) {
      if (!c.measure || c.base.error) continue;
      try {
        const r = await c.measure(i);
        if (i >= o.warmup) c.runs.push(r);
        log(`  peers: ${path_}, ${c.base.tool}, ${label}: ${Math.round((n / r.ms) * 1000)} msgs/s`);
      } catch (e) {
        c.base.error = `${label} failed: ${e instanceof Error ? e.message : String(e)}`;
        log(`  peers: ${path_}, ${c.base.tool}: ${c.base.error}`);
      }
    }
  }
  const rows = contenders.map((c) => (c.runs.length && !c.base.error ? summarise(c.base, n, c.runs, broker) : { ...c.base, messages: n }));
  // Ours / peer round by round (the two ran next to each other, so they saw about the same load), and
  // the median of those: steadier on a machine whose load drifts than the ratio of the two medians.
  const ours = rows.find((r) => r.ours);
  for (const r of rows) {
    if (!ours?.runs || !r.runs || ours.perSecond === undefined || r.perSecond === undefined) continue;
    r.pairedRatios = r.runs.map((x, i) => Math.round(((ours.runs![i] ?? NaN) / x) * 100) / 100).filter(Number.isFinite);
    r.ratioOursToPeer = Math.round((median(r.pairedRatios) ?? NaN) * 100) / 100;
    r.ratioOfMedians = Math.round((ours.perSecond / r.perSecond) * 100) / 100;
  }
  return rows;
}

/**
 * Runs the peers comparison on the running stack (PostgreSQL, Mosquitto, Kafka).
 * @param o.records Kafka records (200 B, 4 partitions). @default 200000
 * @param o.mqttMessages MQTT messages. @default 50000
 * @param o.repeats interleaved runs of every tool; the medians are compared. @default 5
 * @param o.warmup interleaved runs of every tool before those, not counted (ours runs in this process,
 *   whose first run pays its one-off start-up; the broker has just taken the records). @default 1
 */
export async function runPeersBench(
  o: { records?: number; mqttMessages?: number; repeats?: number; warmup?: number; log?: (m: string) => void } = {},
): Promise<PeersBenchResult> {
  const n = o.records ?? 200_000;
  const m = o.mqttMessages ?? 50_000;
  const repeats = o.repeats ?? 5;
  const warmup = o.warmup ?? 1;
  const log = o.log ?? console.log;
  const settings = loadSettings();
  const startedAt = new Date().toISOString();
  const workDir = path.join(settings.stackDir, 'bench-peers');
  fs.mkdirSync(workDir, { recursive: true });
  const dbUrl = databaseUrl(settings);
  // Connections kept open for the whole run (no idle timeout), so no backend of the bench's own pool
  // ends between the two CPU readings of a run.
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4, idleTimeoutMillis: 0, application_name: 'iot-pipelines-bench-peers' });
  const ctx: Ctx = { pool, stackDir: settings.stackDir, url: mqttUrl(settings), brokers: kafkaBrokers(settings), dbUrl, workDir, log };

  const telegraf = ensureTelegraf(settings.stackDir, log);
  const venv = ensureVenv(settings.stackDir, log);
  const telegrafHow = `Telegraf ${TELEGRAF_VERSION} built from source by the bench (go install, custom build tag with only the plugins used), json_v2 parser`;
  const telegrafError = 'error' in telegraf ? telegraf.error : undefined;
  const pythonHow =
    'python' in venv ? `${venv.versions}; executemany INSERT + COMMIT per batch` : 'paho-mqtt / confluent-kafka + psycopg 3 from PyPI';
  const pythonError = 'error' in venv ? venv.error : undefined;

  const rows: PeerRow[] = [];
  try {
    await pool.query(`DROP SCHEMA IF EXISTS ${PEERS_SCHEMA} CASCADE`);
    await pool.query(`CREATE SCHEMA ${PEERS_SCHEMA}`);

    log(`  peers: MQTT → PostgreSQL, ${m} QoS 1 messages, ${warmup} warm-up + ${repeats} interleaved runs each…`);
    rows.push(
      ...(await measureAll(
        'MQTT → PostgreSQL',
        m,
        { repeats, warmup },
        [
          {
            base: {
              path: 'MQTT → PostgreSQL',
              tool: 'ours: MqttBatchConsumer',
              ours: true,
              how: 'in this process; MQTT 5, batches of 5000, flush 50 ms, binary COPY',
              delivery:
                'effectively-once: rows and batch record in one transaction, PUBACK after COMMIT (persistent session), redeliveries dropped by the key',
            },
            measure: (i) => mqttOurs(ctx, m, i),
            runs: [],
          },
          {
            base: {
              path: 'MQTT → PostgreSQL',
              tool: 'limit: MQTT.js QoS 1 pass-through, no database',
              ours: false,
              how: 'an MQTT.js subscriber in this process that only counts; MQTT 5, Receive Maximum 65535',
              delivery: 'none (nothing is stored)',
            },
            measure: (i) => mqttPassThrough(ctx, m, i),
            runs: [],
          },
          {
            base: {
              path: 'MQTT → PostgreSQL',
              tool: 'Telegraf inputs.mqtt_consumer → outputs.postgresql',
              ours: false,
              how: `${telegrafHow}; MQTT 3.1.1, QoS 1, persistent session, metric_batch_size 5000, max_undelivered_messages 10000, flush_interval 50 ms`,
              delivery: "at-least-once: PUBACK after the output's COMMIT (persistent session, manual acks), no dedupe",
              error: telegrafError,
            },
            measure: 'bin' in telegraf ? (i) => mqttTelegraf(ctx, telegraf.bin, m, i) : undefined,
            runs: [],
          },
          {
            base: {
              path: 'MQTT → PostgreSQL',
              tool: 'Python glue script (paho-mqtt + psycopg)',
              ours: false,
              how: `${pythonHow}; batches of 5000, flush 50 ms; bench/peers/mqtt_to_pg.py`,
              delivery: 'at-most-once on a crash: paho PUBACKs on receipt, before the write (clean session); no dedupe',
              error: pythonError,
            },
            measure: 'python' in venv ? (i) => mqttPython(ctx, venv.python, m, i) : undefined,
            runs: [],
          },
        ],
        'mosquitto',
        log,
      )),
    );

    log(`  peers: Kafka → PostgreSQL, ${n} records of 200 B on 4 partitions, ${warmup} warm-up + ${repeats} interleaved runs each…`);
    const topic = `bench-peers-${Date.now()}`;
    await createTopic(ctx.brokers, topic, 4);
    await produceTelemetry({ brokers: ctx.brokers, topic, count: n, devices: 1000, padTo: 200, startTime: Date.UTC(2024, 0, 1) });
    const connect = tryKafkaConnect(settings.stackDir, log);
    rows.push(
      ...(await measureAll(
        'Kafka → PostgreSQL',
        n,
        { repeats, warmup },
        [
          {
            base: {
              path: 'Kafka → PostgreSQL',
              tool: 'ours: KafkaBatchConsumer',
              ours: true,
              how: 'in this process; kafkajs, batches of 10000, 4 partitions concurrently, binary COPY',
              delivery: 'exactly-once: rows and offsets in one transaction',
            },
            measure: (i) => kafkaOurs(ctx, topic, n, i),
            runs: [],
          },
          {
            base: {
              path: 'Kafka → PostgreSQL',
              tool: 'Telegraf inputs.kafka_consumer → outputs.postgresql',
              ours: false,
              how: `${telegrafHow}; offset oldest, new group, metric_batch_size 10000, max_undelivered_messages 20000, flush_interval 50 ms; timed from process start`,
              delivery: "at-least-once: offsets marked after the output's COMMIT, committed by the client every 1 s, no dedupe",
              error: telegrafError,
            },
            measure: 'bin' in telegraf ? (i) => kafkaTelegraf(ctx, telegraf.bin, topic, n, i) : undefined,
            runs: [],
          },
          {
            base: {
              path: 'Kafka → PostgreSQL',
              tool: 'Python glue script (confluent-kafka + psycopg)',
              ours: false,
              how: `${pythonHow}; consume() batches of up to 10000; bench/peers/kafka_to_pg.py`,
              delivery: "at-least-once: offsets committed after the rows' COMMIT, as a second step; no dedupe",
              error: pythonError,
            },
            measure: 'python' in venv ? (i) => kafkaPython(ctx, venv.python, topic, n, i) : undefined,
            runs: [],
          },
          {
            base: {
              path: 'Kafka → PostgreSQL',
              tool: 'Kafka Connect + JDBC sink',
              ours: false,
              how: connect.how,
              delivery: 'at-least-once (sink task commits offsets after put/flush), not measured',
              error: connect.error,
            },
            runs: [],
          },
        ],
        'kafka',
        log,
      )),
    );
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${PEERS_SCHEMA} CASCADE`).catch(() => undefined);
    await pool.end();
  }
  const cpus = os.cpus();
  return {
    startedAt,
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', loadAverage1m: round1(os.loadavg()[0] ?? NaN) },
    mqttMessages: m,
    kafkaRecords: n,
    repeats,
    warmup,
    rows,
    goals: goals(rows),
  };
}

function goals(rows: PeerRow[]): PeersBenchResult['goals'] {
  const find = (p: PeerPath, tool: string) => rows.find((r) => r.path === p && r.tool.startsWith(tool) && r.perSecond !== undefined);
  const out: PeersBenchResult['goals'] = [];
  const mo = find('MQTT → PostgreSQL', 'ours');
  const mt = find('MQTT → PostgreSQL', 'Telegraf');
  out.push({
    goal: 'MQTT: ours ≥ 1.15× Telegraf mqtt_consumer rows/s',
    measured:
      mt?.ratioOursToPeer !== undefined
        ? `${mt.ratioOursToPeer}× (median of rounds; ratio of medians ${mt.ratioOfMedians}×)`
        : 'not measured',
    met: mt?.ratioOursToPeer !== undefined ? mt.ratioOursToPeer >= 1.15 : undefined,
  });
  const oc = mo?.cpuUsPerMessage?.process;
  const tc = mt?.cpuUsPerMessage?.process;
  out.push({
    goal: "MQTT: ours' CPU per message ≤ half of Telegraf's (process)",
    measured: oc !== undefined && tc !== undefined ? `${oc} vs ${tc} µs (${Math.round((oc / tc) * 100) / 100}×)` : 'not measured',
    met: oc !== undefined && tc !== undefined ? oc <= tc / 2 : undefined,
  });
  const kt = find('Kafka → PostgreSQL', 'Telegraf');
  out.push({
    goal: 'Kafka: ours ≥ 2× Telegraf kafka_consumer rows/s',
    measured:
      kt?.ratioOursToPeer !== undefined
        ? `${kt.ratioOursToPeer}× (median of rounds; ratio of medians ${kt.ratioOfMedians}×)`
        : 'not measured',
    met: kt?.ratioOursToPeer !== undefined ? kt.ratioOursToPeer >= 2 : undefined,
  });
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  runPeersBench({ records: arg('--records'), mqttMessages: arg('--mqtt-messages'), repeats: arg('--repeats'), warmup: arg('--warmup') })
    .then(async (r) => {
      const { renderPeers } = await import('../report');
      console.log(renderPeers(r).join('\n'));
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
