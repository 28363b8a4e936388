/**
 * Streams soak: the real ingest workflows (`kafkaIngest`, `mqttIngest`) run on a private bench task
 * queue served by a stream worker process (bench/streams/worker.ts) while a Kafka producer and an MQTT
 * publisher send at a fixed rate for N seconds. Every `sampleSeconds` it samples the worker's resident
 * memory (`VmRSS` of /proc/<pid>/status: the process that runs the consumers) and the history length
 * of both workflows' current runs. Reports RSS after warm-up, at the end and at most, growth after
 * warm-up (target ≤ 10 %), the longest workflow history over each continue-as-new chain (target
 * ≤ 10,000 events), messages committed, and the exactly-once check (rows = produced). Cleans up its
 * workflows, rows, consumer positions, MQTT session and topic.
 * Run alone: `node --import tsx bench/streams/soak.ts [--seconds S] [--rate R]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import mqtt from 'mqtt';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR } from '../../src/config/env';
import { createPool, type Pool } from '../../src/db/pool';
import { createTopic, withAdmin } from '../../src/ingest/kafka-client';
import { encodeReading } from '../../src/simulator/payloads';
import { produceTelemetry } from '../../src/simulator/kafka-producer';
import { kafkaIngestWorkflowId, type KafkaIngestInput } from '../../src/workflows/kafka-ingest';
import { status } from '../../src/workflows/messages';
import type { MqttIngestInput } from '../../src/workflows/mqtt-ingest';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Length of the fixed-rate phase, s. @default 600 */
  seconds?: number;
  /** Messages per second sent to EACH stream (Kafka and MQTT). @default 500 */
  ratePerSecond?: number;
  /** RSS / history sampling period, s. @default 5 */
  sampleSeconds?: number;
  /** Warm-up excluded from the growth figure, s. @default max(10 % of `seconds`, min(30, 25 % of `seconds`)) */
  warmupSeconds?: number;
  /** `runForMs` of each MQTT consumer activity run (short, so runs pile up in history). @default 1000 */
  mqttRunForMs?: number;
  /** `runForMs` of each Kafka member activity run (each run rejoins the group). @default 3000 */
  kafkaRunForMs?: number;
  /** Kafka partitions of the soak topic. @default 4 */
  partitions?: number;
}

/** One sample of the soak. */
export interface SoakSample {
  /** Seconds since the fixed-rate phase started. */
  t: number;
  /** Resident memory of the worker process, MiB. */
  rssMiB: number;
  /** History length (events) of the current run of each workflow. */
  kafkaHistory: number;
  mqttHistory: number;
}

/** Per-stream outcome. */
export interface SoakStream {
  produced: number;
  /** Rows in the raw table for the soak's source. */
  rows: number;
  /** Distinct natural keys among them. */
  distinctKeys: number;
  /** Sum of `messages − duplicates` over the committed batches (ingest.batches). */
  committedByBatches: number;
  /** `committed` of the workflow's `status` query (completed consumer runs, carried over continue-as-new). */
  committedByStatus: number;
  deadLettered: number;
  /** rows = distinct keys = produced. */
  exactlyOnce: boolean;
  /** Runs in the continue-as-new chain. */
  workflowRuns: number;
  /** Longest history (events) over the chain. */
  longestHistory: number;
  /** Consumer activity runs completed (status query). */
  consumerRuns: number;
  /** Achieved send rate, messages/s. */
  sendRate: number;
}

/** Results of {@link runSoak}. */
export interface SoakResult {
  seconds: number;
  ratePerSecond: number;
  warmupSeconds: number;
  mqttRunForMs: number;
  kafkaRunForMs: number;
  rss: {
    /** RSS at the end of the warm-up, MiB. */
    startMiB: number;
    endMiB: number;
    maxMiB: number;
    /** (end − start) / start after warm-up, %. */
    growthPct: number;
    /** Least-squares slope of RSS after warm-up, MiB per minute. */
    slopeMiBPerMin: number;
  };
  /** Longest workflow history over both chains, events. */
  longestHistory: number;
  kafka: SoakStream;
  mqtt: SoakStream;
  samples: SoakSample[];
  /** Targets met: growth ≤ 10 %, longest history ≤ 10,000, exactly once on both streams. */
  pass: { memory: boolean; history: boolean; exactlyOnce: boolean };
}

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.ts');
/** Growth target after warm-up, %. */
const MAX_GROWTH_PCT = 10;
/** History target, events. */
const MAX_HISTORY = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round((Number(m[1]) / 1024) * 10) / 10;
}

async function spawnWorker(taskQueue: string): Promise<ChildProcess & { output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    cwd: ROOT_DIR,
    env: { ...process.env, TASK_QUEUE: taskQueue },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const end = Date.now() + 60_000;
  while (!out.includes('ready')) {
    if (child.exitCode !== null) throw new Error(`stream worker exited: ${out}`);
    if (Date.now() > end) throw new Error(`stream worker not ready after 60 s: ${out}`);
    await sleep(100);
  }
  return Object.assign(child, { output: () => out });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Publishes `count` sensor readings at `rate` per second, QoS 1, to `sensors/<source>/<device>`. */
async function publishAtRate(
  url: string,
  source: string,
  count: number,
  rate: number,
  startTime: number,
): Promise<{ sent: number; elapsedMs: number }> {
  const client = await mqtt.connectAsync(url, { clientId: `soak-pub-${source}`, clean: true });
  const inflight = new Set<Promise<unknown>>();
  const t0 = Date.now();
  let i = 0;
  try {
    while (i < count) {
      const due = Math.min(count, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
      if (i >= due) {
        await sleep(20);
        continue;
      }
      while (i < due) {
        const d = i % 100;
        const payload = encodeReading({
          deviceId: `d${d}`,
          eventTime: startTime + Math.floor(i / 100) * 1000,
          temperature: 20 + (i % 50) / 10,
          humidity: 40,
          light: null,
          co2: 400 + (i % 200),
          humidityRatio: null,
        });
        const p = client.publishAsync(`sensors/${source}/d${d}`, payload, { qos: 1 }).finally(() => inflight.delete(p));
        inflight.add(p);
        i++;
        if (inflight.size >= 1000) await Promise.race(inflight);
      }
    }
    await Promise.all(inflight);
  } finally {
    await client.endAsync();
  }
  return { sent: i, elapsedMs: Date.now() - t0 };
}

/** Longest history and number of runs over a workflow's continue-as-new chain (visibility + describe). */
async function chainHistory(client: Client, workflowId: string): Promise<{ runs: number; longest: number }> {
  let runs = 0;
  let longest = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs++;
    const d = await client.workflow.getHandle(workflowId, w.runId).describe();
    longest = Math.max(longest, d.historyLength);
  }
  return { runs, longest };
}

async function currentHistory(handle: WorkflowHandle): Promise<number> {
  return (await handle.describe()).historyLength;
}

async function streamCounts(pool: Pool, table: string, keys: string, source: string) {
  const r = await pool.query<{ n: string; k: string }>(
    `SELECT count(*) AS n, count(DISTINCT (${keys})) AS k FROM ${table} WHERE source = $1`,
    [source],
  );
  const b = await pool.query<{ m: string | null; dl: string | null }>(
    'SELECT sum(messages - duplicates) AS m, sum(dead_letters) AS dl FROM ingest.batches WHERE source = $1',
    [source],
  );
  return {
    rows: Number(r.rows[0]?.n ?? 0),
    distinctKeys: Number(r.rows[0]?.k ?? 0),
    committedByBatches: Number(b.rows[0]?.m ?? 0),
    deadLettered: Number(b.rows[0]?.dl ?? 0),
  };
}

function slopePerMinute(points: Array<[number, number]>): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : Math.round((sxy / sxx) * 60 * 100) / 100;
}

/**
 * Runs the soak on the running stack (Temporal, PostgreSQL, Mosquitto, Kafka) and cleans up after it.
 * Takes `seconds` plus start-up and drain time (up to ~2 min).
 * @throws when the worker cannot start or the streams do not drain within 3 minutes after sending
 * (after cleaning up).
 */
export async function runSoak(o: SoakOptions = {}): Promise<SoakResult & { markdown: string }> {
  const seconds = o.seconds ?? 600;
  const rate = o.ratePerSecond ?? 500;
  const sampleMs = (o.sampleSeconds ?? 5) * 1000;
  const warmupSeconds = o.warmupSeconds ?? Math.round(Math.max(0.1 * seconds, Math.min(30, 0.25 * seconds)));
  const mqttRunForMs = o.mqttRunForMs ?? 1000;
  const kafkaRunForMs = o.kafkaRunForMs ?? 3000;
  const count = Math.round(rate * seconds);
  const settings = loadSettings();
  const brokers = kafkaBrokers(settings);
  const url = mqttUrl(settings);
  const id = `${Date.now().toString(36)}${process.pid}`;
  const taskQueue = `bench-soak-${id}`;
  const topic = `soak-telemetry-${id}`;
  const groupId = `soak-${id}`;
  const kafkaSource = `soak-kafka-${id}`;
  const mqttSource = `soak-mqtt-${id}`;
  const pool = createPool(databaseUrl(settings), 4);
  const connection = await Connection.connect({ address: settings.temporalAddress });
  const client = new Client({ connection, namespace: settings.temporalNamespace });
  let worker: (ChildProcess & { output: () => string }) | undefined;
  const handles: WorkflowHandle[] = [];
  try {
    await createTopic(brokers, topic, o.partitions ?? 4);
    worker = await spawnWorker(taskQueue);
    const pid = worker.pid!;
    const kafkaInput: KafkaIngestInput = {
      topic,
      groupId,
      source: kafkaSource,
      kind: 'modem',
      members: 1,
      batchSize: 5000,
      flushIntervalMs: 200,
      runForMs: kafkaRunForMs,
    };
    const mqttInput: MqttIngestInput = { source: mqttSource, batchSize: 1000, flushIntervalMs: 100, runForMs: mqttRunForMs };
    const kafkaHandle = await client.workflow.start('kafkaIngest', {
      workflowId: kafkaIngestWorkflowId(groupId, topic),
      taskQueue,
      args: [kafkaInput],
    });
    handles.push(kafkaHandle);
    const mqttHandle = await client.workflow.start('mqttIngest', { workflowId: `ingest-mqtt-${mqttSource}`, taskQueue, args: [mqttInput] });
    handles.push(mqttHandle);
    // The first completed consumer run of each stream means the MQTT session holds its subscription
    // (QoS 1 messages published before it would not be queued) and the Kafka group has joined.
    const ready = Date.now() + 60_000;
    while ((await mqttHandle.query(status)).runs === 0 || (await kafkaHandle.query(status)).runs === 0) {
      if (Date.now() > ready) throw new Error(`the consumers did not complete a first run within 60 s: ${worker.output().slice(-2000)}`);
      await sleep(200);
    }

    const samples: SoakSample[] = [];
    const t0 = Date.now();
    let sending = true;
    const startTime = Date.now() - seconds * 1000 - 3_600_000;
    const kafkaSend = produceTelemetry({ brokers, topic, count, devices: 1000, padTo: 200, rate, startTime });
    const mqttSend = publishAtRate(url, mqttSource, count, rate, startTime);
    const sendersDone = Promise.all([kafkaSend, mqttSend]).finally(() => (sending = false));
    const sample = async () => {
      samples.push({
        t: Math.round((Date.now() - t0) / 100) / 10,
        rssMiB: rssMiB(pid),
        kafkaHistory: await currentHistory(kafkaHandle).catch(() => NaN),
        mqttHistory: await currentHistory(mqttHandle).catch(() => NaN),
      });
    };
    await sample();
    while (sending) {
      const next = t0 + samples.length * sampleMs;
      while (sending && Date.now() < next) await sleep(Math.min(200, Math.max(1, next - Date.now())));
      if (worker.exitCode !== null) throw new Error(`stream worker exited mid-soak: ${worker.output().slice(-2000)}`);
      if (sending) await sample();
    }
    const [kafkaSent, mqttSent] = await sendersDone;

    // Drain: wait until both raw tables hold every message (exactly-once check below).
    const drainEnd = Date.now() + 180_000;
    for (;;) {
      const k = await streamCounts(pool, 'ingest.modem_telemetry', 'device_id, interface, event_time', kafkaSource);
      const m = await streamCounts(pool, 'ingest.sensor_readings', 'device_id, event_time', mqttSource);
      if ((k.rows >= kafkaSent.sent && m.rows >= mqttSent.sent) || Date.now() > drainEnd) break;
      await sleep(500);
    }
    await sample();
    // Let the current consumer runs end, so the status query counts them.
    await sleep(Math.max(kafkaRunForMs, mqttRunForMs) + 2_000);

    const after = samples.filter((s) => s.t >= warmupSeconds);
    const startMiB = after[0]?.rssMiB ?? NaN;
    const endMiB = samples[samples.length - 1]?.rssMiB ?? NaN;
    const maxMiB = Math.max(...samples.map((s) => s.rssMiB));
    const result = async (
      handle: WorkflowHandle,
      table: string,
      keys: string,
      source: string,
      produced: number,
      sendMs: number,
    ): Promise<SoakStream> => {
      const c = await streamCounts(pool, table, keys, source);
      const st = await handle.query(status);
      const chain = await chainHistory(client, handle.workflowId);
      const sampled = Math.max(0, ...samples.map((s) => (handle === kafkaHandle ? s.kafkaHistory : s.mqttHistory)).filter(Number.isFinite));
      return {
        produced,
        ...c,
        committedByStatus: st.committed,
        exactlyOnce: c.rows === produced && c.distinctKeys === produced,
        workflowRuns: chain.runs,
        longestHistory: Math.max(chain.longest, sampled),
        consumerRuns: st.runs,
        sendRate: Math.round((produced / Math.max(1, sendMs)) * 1000),
      };
    };
    const kafka = await result(
      kafkaHandle,
      'ingest.modem_telemetry',
      'device_id, interface, event_time',
      kafkaSource,
      kafkaSent.sent,
      kafkaSent.elapsedMs,
    );
    const mqttR = await result(
      mqttHandle,
      'ingest.sensor_readings',
      'device_id, event_time',
      mqttSource,
      mqttSent.sent,
      mqttSent.elapsedMs,
    );
    const growthPct = Math.round(((endMiB - startMiB) / startMiB) * 1000) / 10;
    const longestHistory = Math.max(kafka.longestHistory, mqttR.longestHistory);
    const r: SoakResult = {
      seconds,
      ratePerSecond: rate,
      warmupSeconds,
      mqttRunForMs,
      kafkaRunForMs,
      rss: { startMiB, endMiB, maxMiB, growthPct, slopeMiBPerMin: slopePerMinute(after.map((s) => [s.t, s.rssMiB])) },
      longestHistory,
      kafka,
      mqtt: mqttR,
      samples,
      pass: {
        memory: growthPct <= MAX_GROWTH_PCT,
        history: longestHistory <= MAX_HISTORY,
        exactlyOnce: kafka.exactlyOnce && mqttR.exactlyOnce,
      },
    };
    return { ...r, markdown: renderSoak(r) };
  } finally {
    for (const h of handles) await h.terminate('soak done').catch(() => undefined);
    if (worker) await stopWorker(worker);
    await cleanUp(pool, { brokers, url, topic, groupId, kafkaSource, mqttSource }).catch((e: unknown) =>
      console.error('soak clean-up:', e),
    );
    await connection.close();
    await pool.end();
  }
}

async function cleanUp(
  pool: Pool,
  c: { brokers: string[]; url: string; topic: string; groupId: string; kafkaSource: string; mqttSource: string },
): Promise<void> {
  for (const [table, source] of [
    ['ingest.modem_telemetry', c.kafkaSource],
    ['ingest.sensor_readings', c.mqttSource],
  ] as const) {
    await pool.query(`DELETE FROM ${table} WHERE source = $1`, [source]);
  }
  for (const table of ['ingest.batches', 'ingest.dead_letters', 'ingest.device_status']) {
    await pool.query(`DELETE FROM ${table} WHERE source = ANY($1)`, [[c.kafkaSource, c.mqttSource]]);
  }
  await pool.query('DELETE FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2', [c.groupId, c.topic]);
  // End the consumer's persistent MQTT session, then delete the topic and the consumer group.
  const s = await mqtt.connectAsync(c.url, { clientId: `iot-pipelines-ingest-${c.mqttSource}`, clean: true });
  await s.endAsync();
  await withAdmin(c.brokers, async (admin) => {
    await admin.deleteGroups([c.groupId]).catch(() => undefined);
    await admin.deleteTopics({ topics: [c.topic] });
  });
}

/** Markdown section of a soak result. */
export function renderSoak(r: SoakResult): string {
  const ok = (b: boolean) => (b ? 'yes' : '**no**');
  const line = (name: string, s: SoakStream) =>
    `| ${name} | ${s.produced} | ${s.sendRate} | ${s.rows} | ${s.committedByBatches} | ${s.committedByStatus} | ${s.deadLettered} | ${ok(s.exactlyOnce)} | ${s.consumerRuns} | ${s.workflowRuns} | ${s.longestHistory} |`;
  return [
    '## Streams soak',
    '',
    `${r.seconds} s at ${r.ratePerSecond} msg/s per stream (Kafka 4 partitions, 200 B records; MQTT QoS 1), real \`kafkaIngest\` and \`mqttIngest\` workflows on a stream worker process; consumer runs of ${r.kafkaRunForMs} ms (Kafka) and ${r.mqttRunForMs} ms (MQTT). Warm-up ${r.warmupSeconds} s; ${r.samples.length} samples.`,
    '',
    '| worker RSS | MiB |',
    '|---|---:|',
    `| after warm-up | ${r.rss.startMiB} |`,
    `| at end | ${r.rss.endMiB} |`,
    `| max | ${r.rss.maxMiB} |`,
    `| growth after warm-up | ${r.rss.growthPct} % (target ≤ ${MAX_GROWTH_PCT} %: ${ok(r.pass.memory)}) |`,
    `| trend after warm-up | ${r.rss.slopeMiBPerMin} MiB/min |`,
    '',
    '| stream | produced | sent msg/s | rows | committed (batches) | committed (status) | dead letters | exactly once | consumer runs | workflow runs (continue-as-new chain) | longest history |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|',
    line('Kafka → PostgreSQL', r.kafka),
    line('MQTT → PostgreSQL', r.mqtt),
    '',
    `Longest workflow history: ${r.longestHistory} events (target ≤ ${MAX_HISTORY}: ${ok(r.pass.history)}).`,
    '',
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  runSoak({ seconds: arg('--seconds'), ratePerSecond: arg('--rate') })
    .then((r) => {
      console.log(r.markdown);
      console.log(JSON.stringify(r.samples));
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
