/**
 * Streams benchmark: committed messages per second MQTT → PostgreSQL and Kafka → PostgreSQL (the
 * project's consumers, exactly-once path: one transaction per batch, acks/offsets after commit), each
 * beside its raw limit measured in the same run: COPY of the same rows straight into PostgreSQL, MQTT
 * QoS 1 pass-through through the same broker (MQTT.js; both MQTT rows get the same messages from the
 * same publisher process, as devices are separate from the consumer), and Kafka's own Java consumer
 * (`kafka.tools.ConsumerPerformance` from the stack's jars) on the same topic.
 * Run alone: `node --import tsx bench/streams/main.ts [--records N] [--mqtt-messages M] [--repeats R]`.
 * The fixed-rate soak (worker RSS after warm-up and at the end, longest workflow history) is
 * `runSoak` in soak.ts.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import pgCopy from 'pg-copy-streams';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl } from '../../src/config/env';
import { createPool, type Pool } from '../../src/db/pool';
import { createTopic } from '../../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../../src/ingest/kafka-consumer';
import { MqttBatchConsumer } from '../../src/ingest/mqtt-consumer';
import { produceTelemetry, telemetryRecord } from '../../src/simulator/kafka-producer';
import type { LoadedSource } from '../../src/sources/load';
import { measureKafkaClients } from './clients';
import { startCpuSplit, type CpuSplit } from './cpu';
import { startPublisher, type PublisherJob } from '../mqtt-publisher';
import { runIfMain } from '../standalone';

/** One measured rate. */
export interface StreamsBenchRow {
  name: string;
  messages: number;
  seconds: number;
  perSecond: number;
  /** CPU used during the measurement, ms (where measured). */
  cpu?: CpuSplit;
  /** Rates of every run, msgs/s, when the row is a median of several. */
  runs?: number[];
}

/** Results of {@link runStreamsBench}. */
export interface StreamsBenchResult {
  rows: StreamsBenchRow[];
  markdown: string;
}

/**
 * The run with the median rate of `runs` (same name, messages), its name noting the range when there
 * are several.
 */
function median(runs: StreamsBenchRow[]): StreamsBenchRow {
  const sorted = [...runs].sort((a, b) => a.perSecond - b.perSecond);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  if (runs.length < 2) return mid;
  return {
    ...mid,
    name: `${mid.name}, median of ${runs.length} (${sorted[0]!.perSecond}–${sorted[sorted.length - 1]!.perSecond}/s)`,
    runs: runs.map((r) => r.perSecond),
  };
}

function row(name: string, messages: number, ms: number): StreamsBenchRow {
  return { name, messages, seconds: Math.round(ms) / 1000, perSecond: Math.round((messages / ms) * 1000) };
}

async function waitUntil(check: () => boolean, timeoutMs: number, pollMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('benchmark step timed out');
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * The PostgreSQL limit: one `COPY FROM STDIN` of the same telemetry rows into a scratch table with the
 * same columns, key and indexes as `ingest.modem_telemetry` (a regular, WAL-logged table). The COPY
 * text is built before the clock starts, so only PostgreSQL's side is timed.
 */
export async function copyRate(pool: Pool, n: number): Promise<StreamsBenchRow> {
  const client = await pool.connect();
  const table = `ingest.bench_copy_${Date.now()}`;
  try {
    await client.query(`CREATE TABLE ${table} (LIKE ingest.modem_telemetry INCLUDING ALL)`);
    const start = Date.UTC(2024, 0, 1);
    const chunks: string[] = [];
    for (let i = 0; i < n; i += 10_000) {
      let text = '';
      for (let j = i; j < Math.min(n, i + 10_000); j++) {
        const r = telemetryRecord(j, 1000, start);
        text += `bench\t${r.deviceId}\t${r.interface}\t${new Date(r.eventTime).toISOString()}\t${r.model}\t${r.interfaceStatus}\t${r.cpuUsage}\t${r.memoryUsage}\n`;
      }
      chunks.push(text);
    }
    const t0 = performance.now();
    await pipeline(
      Readable.from(chunks),
      client.query(
        pgCopy.from(
          `COPY ${table} (source, device_id, interface, event_time, model, interface_status, cpu_usage, memory_usage) FROM STDIN`,
        ),
      ),
    );
    return row('PostgreSQL COPY (raw limit)', n, performance.now() - t0);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    client.release();
  }
}

function kafkaJavaConsumer(topic: string, n: number): StreamsBenchRow {
  // The stack's jars: in STACK_DIR when it is set (`ensureKafkaJars`), not always <root>/.stack.
  const cp = path.join(loadSettings().stackDir, 'kafka', 'libs', '*');
  const t0 = performance.now();
  const r = spawnSync(
    'java',
    [
      '-cp',
      cp,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      kafkaBrokers().join(','),
      '--topic',
      topic,
      '--messages',
      String(n),
      '--timeout',
      '60000',
    ],
    { encoding: 'utf8' },
  );
  const ms = performance.now() - t0;
  // Summary line: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec (group join included, like ours), …
  const line = r.stdout
    .trim()
    .split('\n')
    .filter((l) => /^\d{4}-/.test(l))
    .pop();
  const nMsgSec = line ? Number(line.split(',')[5]) : NaN;
  if (Number.isFinite(nMsgSec) && nMsgSec > 0)
    return {
      name: 'Kafka ConsumerPerformance (raw limit)',
      messages: n,
      seconds: Math.round((n / nMsgSec) * 1000) / 1000,
      perSecond: Math.round(nMsgSec),
    };
  return row(`Kafka ConsumerPerformance (process wall time; output: ${r.stderr.slice(0, 120)})`, n, ms);
}

/**
 * Kafka → PostgreSQL from the start of `topic` (a new group) to the `n`-th committed record.
 * @param o.declared map the records through this declared source into its table (which must exist;
 *   its rows are left for the caller to drop) instead of the fixed `modem` kind
 * @param o.name row label. @default 'Kafka → PostgreSQL, exactly-once (kafkajs)'
 * @param o.fromFirstFetch start the clock when the first batch is fetched, leaving out connecting and
 *   the group join (≈ 1–2 s here, the same for every path). @default false: the clock starts before
 *   connecting, like Kafka's ConsumerPerformance
 */
export async function kafkaToPg(
  pool: Pool,
  topic: string,
  n: number,
  o: { declared?: LoadedSource; name?: string; fromFirstFetch?: boolean } = {},
): Promise<StreamsBenchRow> {
  const group = `bench-${Date.now()}`;
  const source = o.declared?.name ?? `bench-${group}`;
  const c = new KafkaBatchConsumer(pool, {
    brokers: kafkaBrokers(),
    groupId: group,
    topic,
    source,
    kind: 'modem',
    declared: o.declared,
    batchSize: 10_000,
    partitionsConsumedConcurrently: 4,
  });
  const cpu = startCpuSplit();
  let t0 = performance.now();
  await c.start();
  if (o.fromFirstFetch) {
    await waitUntil(() => c.stats.received > 0, 120_000, 1);
    t0 = performance.now();
  }
  await waitUntil(() => c.stats.committed >= n, 600_000);
  const ms = performance.now() - t0;
  const used = cpu();
  await c.stop();
  if (!o.declared) await pool.query('DELETE FROM ingest.modem_telemetry WHERE source = $1', [source]);
  return { ...row(o.name ?? 'Kafka → PostgreSQL, exactly-once (kafkajs)', n, ms), cpu: used };
}

/** The publisher job of the MQTT rows: `n` synthetic sensor readings under `prefix`. */
const readingsJob =
  (url: string, n: number) =>
  (prefix: string): PublisherJob => ({ kind: 'readings', url, prefix, count: n });

/**
 * MQTT QoS 1 pass-through: the publisher process (the devices) → Mosquitto → an MQTT.js subscriber
 * that only counts, from `go` to the `n`-th message received.
 * @param job what the publisher sends under the topic prefix it is given. @default `n` synthetic readings
 */
export async function mqttPassThrough(url: string, n: number, job = readingsJob(url, n)): Promise<StreamsBenchRow> {
  const prefix = `bench/pass/${Date.now()}`;
  const sub = await mqtt.connectAsync(url, {
    clientId: `bench-sub-${Date.now()}`,
    protocolVersion: 5,
    clean: true,
    properties: { receiveMaximum: 65535 },
  });
  let got = 0;
  sub.on('message', () => got++);
  await sub.subscribeAsync(`${prefix}/+`, { qos: 1 });
  const publisher = await startPublisher(job(prefix));
  const t0 = performance.now();
  await publisher.go();
  await waitUntil(() => got >= n, 300_000);
  const ms = performance.now() - t0;
  await sub.endAsync();
  return row('MQTT QoS 1 pass-through (raw limit)', n, ms);
}

/**
 * MQTT → PostgreSQL: the same publisher process and messages, from `go` to the `n`-th committed message.
 * @param o.job what the publisher sends under `sensors/<source>`. @default `n` synthetic readings
 * @param o.declared map the messages through this declared source into its table (which must exist;
 *   its rows are left for the caller to drop) instead of the fixed `sensor` kind; its topic must be
 *   `sensors/<its name>/+`
 * @param o.name row label. @default 'MQTT → PostgreSQL, QoS 1, PUBACK after commit'
 */
export async function mqttToPg(
  pool: Pool,
  url: string,
  n: number,
  o: {
    job?: (prefix: string) => PublisherJob;
    declared?: LoadedSource;
    name?: string;
    /** Topic prefix of the publisher and the consumer's filter. @default sensors/<source> and sensors/<source>/+ */
    topics?: { prefix: string; filter: string };
    /** Messages the publisher sends (births included). @default n */
    messages?: number;
  } = {},
): Promise<StreamsBenchRow> {
  const source = o.declared?.name ?? `bench-mqtt-${Date.now()}`;
  const topic = o.topics?.filter ?? `sensors/${source}/+`;
  if (o.declared && o.declared.mqttFilter !== topic) {
    throw new Error(`declared source ${source} subscribes to ${o.declared.mqttFilter}, not ${topic}`);
  }
  const c = new MqttBatchConsumer(pool, {
    url,
    clientId: source,
    topic,
    source,
    declared: o.declared,
    batchSize: 5000,
    flushIntervalMs: 50,
  });
  await c.start();
  const publisher = await startPublisher((o.job ?? readingsJob(url, n))(o.topics?.prefix ?? `sensors/${source}`));
  const cpu = startCpuSplit();
  const t0 = performance.now();
  await publisher.go();
  await waitUntil(() => c.stats.committed >= (o.messages ?? n), 300_000);
  const ms = performance.now() - t0;
  const used = cpu();
  await c.stop();
  if (!o.declared) await pool.query('DELETE FROM ingest.sensor_readings WHERE source = $1', [source]);
  return { ...row(o.name ?? 'MQTT → PostgreSQL, QoS 1, PUBACK after commit', n, ms), cpu: used };
}

/**
 * Runs the throughput comparisons on the running stack.
 * @param o.records Kafka records (200 B) and COPY rows. @default 200000
 * @param o.mqttMessages MQTT messages. @default 50000
 * @param o.repeats runs of Kafka's consumer and of Kafka → PostgreSQL, interleaved; the medians are
 *   compared. @default 3
 */
export async function runStreamsBench(o: { records?: number; mqttMessages?: number; repeats?: number } = {}): Promise<StreamsBenchResult> {
  const n = o.records ?? 200_000;
  const repeats = o.repeats ?? 3;
  const m = o.mqttMessages ?? 50_000;
  const settings = loadSettings();
  const pool = createPool(databaseUrl(settings), 10);
  const url = mqttUrl(settings);
  try {
    const topic = `bench-telemetry-${Date.now()}`;
    await createTopic(kafkaBrokers(settings), topic, 4);
    await produceTelemetry({
      brokers: kafkaBrokers(settings),
      topic,
      count: n,
      devices: 1000,
      padTo: 200,
      startTime: Date.UTC(2024, 0, 1),
    });
    const rows: StreamsBenchRow[] = [];
    rows.push(await copyRate(pool, n));
    // Kafka's consumer and ours, interleaved so both see the same machine; each a median of `repeats`
    // runs (a run of 200k records takes about a second, so one run alone swings with the JIT and the
    // machine's other load).
    const java: StreamsBenchRow[] = [];
    const ours: StreamsBenchRow[] = [];
    for (let i = 0; i < repeats; i++) {
      java.push(kafkaJavaConsumer(topic, n));
      ours.push(await kafkaToPg(pool, topic, n));
    }
    rows.push(median(java), median(ours));
    rows.push(...(await measureKafkaClients(kafkaBrokers(settings), topic, n)));
    rows.push(await mqttPassThrough(url, m));
    rows.push(await mqttToPg(pool, url, m));
    const byName = (s: string) => rows.find((r) => r.name.startsWith(s))?.perSecond ?? NaN;
    const kafkaPct = Math.round((byName('Kafka → PostgreSQL') / byName('Kafka ConsumerPerformance')) * 100);
    const mqttPct = Math.round((byName('MQTT → PostgreSQL') / byName('MQTT QoS 1')) * 100);
    const clientsPct = Math.round((byName('@platformatic/kafka raw') / byName('kafkajs raw')) * 100);
    const k = rows.find((r) => r.name.startsWith('Kafka → PostgreSQL'));
    const perRecord = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${((ms * 1000) / n).toFixed(1)} µs`);
    const cpuLine = k?.cpu
      ? `CPU per record during Kafka → PostgreSQL: Node.js ${perRecord(k.cpu.node)} (consumer thread: fetch, PostgreSQL client; encoder thread: validation, binary encoding), ` +
        `PostgreSQL ${perRecord(k.cpu.postgres)}, Kafka broker ${perRecord(k.cpu.kafka)}, on ${os.availableParallelism()} CPUs` +
        (k.cpu.postgres !== undefined && k.cpu.kafka !== undefined
          ? `: even with every CPU busy all the time this work caps the path at ${Math.round(
              (os.availableParallelism() * n * 1000) / (k.cpu.node + k.cpu.postgres + k.cpu.kafka),
            )} records/s here.`
          : '.')
      : '';
    const markdown = [
      '## Streams throughput',
      '',
      '| measurement | messages | seconds | msgs/s |',
      '|---|---:|---:|---:|',
      ...rows.map((r) => `| ${r.name} | ${r.messages} | ${r.seconds} | ${r.perSecond} |`),
      '',
      `Kafka → PostgreSQL at ${kafkaPct} % of Kafka's own consumer (target ≥ 40 %); MQTT → PostgreSQL at ${mqttPct} % of QoS 1 pass-through (target ≥ 80 %).`,
      `Raw consume, same topic, no DB: @platformatic/kafka at ${clientsPct} % of kafkajs.`,
      cpuLine,
      '',
    ].join('\n');
    return { rows, markdown };
  } finally {
    await pool.end();
  }
}

runIfMain(import.meta.url, (arg) =>
  runStreamsBench({ records: arg('--records'), mqttMessages: arg('--mqtt-messages'), repeats: arg('--repeats') }),
);
