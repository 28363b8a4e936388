/**
 * Recovery from crashed workers (issue 19): one worker process runs a Kafka and an MQTT stream while
 * both are fed at a steady rate; the worker is killed with SIGKILL `kills` times and restarted each
 * time. Recovery is the time from the replacement worker polling (it printed `ready`) to the next batch
 * committed in PostgreSQL for each stream; afterwards every record must be there exactly once.
 * `test/stream-recovery.test.ts` asserts the bound on every kill; `npm run bench` (`--only=recovery`)
 * reports median and max beside the heartbeat timeout, in `bench/results/recovery.{json,md}`.
 *
 * Run alone: `node --import tsx bench/recovery.ts [--kills=N] [--heartbeat-timeout=MS]` (stack up).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import mqtt from 'mqtt';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl } from '../src/config/env';
import { createPool, type Pool } from '../src/db/pool';
import { createTopic } from '../src/ingest/kafka-client';
import { encodeReading } from '../src/simulator/payloads';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { kafkaIngestWorkflowId, type KafkaIngestInput } from '../src/workflows/kafka-ingest';
import type { MqttIngestInput } from '../src/workflows/mqtt-ingest';
import { waitForSubscription } from '../test/support/ingest';
import { killHard, spawnStreamWorker, waitFor } from '../test/support/processes';
import { round, summarize, type Summary } from './stats';

/** Options of {@link runCrashLoop}. */
export interface CrashLoopOptions {
  pool: Pool;
  client: Client;
  brokers: string[];
  mqttUrl: string;
  /** SIGKILLs of the worker. @default 10 */
  kills?: number;
  /** Heartbeat timeout of both streams, ms (Kafka's group session timeout follows it, ≥ 6 s). @default 6000 */
  heartbeatTimeoutMs?: number;
  /** Healthy running time after both streams recovered and before the next kill, ms. @default 2000 */
  runBetweenMs?: number;
  /** Kafka records per second. @default 400 */
  kafkaRate?: number;
  /** MQTT messages per second (QoS 1). @default 100 */
  mqttRate?: number;
  /** Longest wait for a stream's first commit after a restart, ms (then the kill counts as not recovered). @default 90000 */
  giveUpMs?: number;
  /** Called after each kill's recovery was measured. */
  onKill?: (k: KillRecovery) => void;
}

/** One kill: times from the replacement worker polling to each stream's next committed batch, ms. */
export interface KillRecovery {
  kill: number;
  /** From SIGKILL to the replacement worker polling, ms. */
  workerStartMs: number;
  /** From polling to the Kafka stream's next committed batch, ms; Infinity if none within `giveUpMs`. */
  kafkaMs: number;
  /** Same for the MQTT stream. */
  mqttMs: number;
}

/** Result of {@link runCrashLoop}: the recoveries and the exactly-once accounting of both streams. */
export interface CrashLoopResult {
  heartbeatTimeoutMs: number;
  kills: KillRecovery[];
  kafka: { produced: number; rows: number; distinctKeys: number; writtenOnce: number; offsetsSum: number };
  mqtt: { published: number; rows: number; distinctTimes: number; inserted: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function maxBatchId(pool: Pool, source: string): Promise<number> {
  const r = await pool.query<{ id: string | null }>('SELECT max(id) AS id FROM ingest.batches WHERE source = $1', [source]);
  return Number(r.rows[0]?.id ?? 0);
}

/** Resolves with the ms from `since` until `source` has a batch with id above `afterId`; Infinity after `giveUpMs`. */
async function nextCommit(pool: Pool, source: string, afterId: number, since: number, giveUpMs: number): Promise<number> {
  while (Date.now() - since < giveUpMs) {
    const r = await pool.query('SELECT 1 FROM ingest.batches WHERE source = $1 AND id > $2 LIMIT 1', [source, afterId]);
    if (r.rowCount) return Date.now() - since;
    await sleep(100);
  }
  return Infinity;
}

/**
 * Publishes readings of device `dev-1` (event times one second apart from `start`) with QoS 1 at
 * `rate` per second until `stop()` returns true. @returns how many the broker acknowledged
 */
async function publishSteadily(url: string, source: string, rate: number, start: number, stop: () => boolean): Promise<number> {
  const client = await mqtt.connectAsync(url, { clientId: `recovery-pub-${source}`, clean: true, reconnectPeriod: 500 });
  const t0 = Date.now();
  let sent = 0;
  try {
    while (!stop()) {
      const due = Math.floor(((Date.now() - t0) / 1000) * rate);
      const batch: Array<Promise<unknown>> = [];
      for (; sent < due; sent++) {
        const payload = encodeReading({
          deviceId: 'dev-1',
          eventTime: start + sent * 1000,
          temperature: 20 + (sent % 100) / 10,
          humidity: null,
          light: null,
          co2: null,
          humidityRatio: null,
        });
        batch.push(client.publishAsync(`sensors/${source}/dev-1`, payload, { qos: 1 }));
      }
      await Promise.all(batch);
      await sleep(20);
    }
  } finally {
    await client.endAsync();
  }
  return sent;
}

/** See the module comment. Starts and ends its own streams and worker processes. */
export async function runCrashLoop(o: CrashLoopOptions): Promise<CrashLoopResult> {
  const kills = o.kills ?? 10;
  const hb = o.heartbeatTimeoutMs ?? 6_000;
  const giveUpMs = o.giveUpMs ?? 90_000;
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const topic = `recovery-${id}`;
  const groupId = `recovery-${id}`;
  const kafkaSource = `modem-recovery-${id}`;
  const mqttSource = `occ-recovery-${id}`;
  const taskQueue = `recovery-${id}`;
  const env = { TASK_QUEUE: taskQueue, MQTT_URL: o.mqttUrl };
  await createTopic(o.brokers, topic, 2);
  let worker = await spawnStreamWorker(env);
  const handles: WorkflowHandle[] = [];
  let stop = false;
  try {
    const kafkaInput: KafkaIngestInput = {
      topic,
      groupId,
      source: kafkaSource,
      kind: 'modem',
      batchSize: 500,
      flushIntervalMs: 200,
      runForMs: 120_000,
      heartbeatTimeoutMs: hb,
    };
    handles.push(
      await o.client.workflow.start('kafkaIngest', { workflowId: kafkaIngestWorkflowId(groupId, topic), taskQueue, args: [kafkaInput] }),
    );
    const mqttInput: MqttIngestInput = {
      source: mqttSource,
      batchSize: 200,
      flushIntervalMs: 100,
      runForMs: 120_000,
      heartbeatTimeoutMs: hb,
    };
    handles.push(await o.client.workflow.start('mqttIngest', { workflowId: `ingest-mqtt-${mqttSource}`, taskQueue, args: [mqttInput] }));
    // The persistent MQTT session must exist before publishing (else the broker has nobody to queue for).
    await waitForSubscription(o.pool, mqttSource);
    const start = Date.UTC(2024, 0, 1);
    const producing = produceTelemetry({
      brokers: o.brokers,
      topic,
      count: 100_000_000,
      devices: 200,
      startTime: start,
      rate: o.kafkaRate ?? 400,
      shouldStop: () => stop,
    });
    const publishing = publishSteadily(o.mqttUrl, mqttSource, o.mqttRate ?? 100, start, () => stop);
    for (const source of [kafkaSource, mqttSource]) {
      await waitFor(`a first batch of ${source}`, async () => (await maxBatchId(o.pool, source)) > 0, 120_000, 200);
    }
    const out: KillRecovery[] = [];
    for (let k = 1; k <= kills; k++) {
      await sleep(o.runBetweenMs ?? 2_000);
      const killedAt = Date.now();
      await killHard(worker);
      worker = await spawnStreamWorker(env);
      const readyAt = Date.now();
      const [kafkaAfter, mqttAfter] = [await maxBatchId(o.pool, kafkaSource), await maxBatchId(o.pool, mqttSource)];
      const [kafkaMs, mqttMs] = await Promise.all([
        nextCommit(o.pool, kafkaSource, kafkaAfter, readyAt, giveUpMs),
        nextCommit(o.pool, mqttSource, mqttAfter, readyAt, giveUpMs),
      ]);
      const r = { kill: k, workerStartMs: readyAt - killedAt, kafkaMs, mqttMs };
      out.push(r);
      o.onKill?.(r);
    }
    stop = true;
    const produced = (await producing).sent;
    const published = await publishing;
    const kafkaRows = async () =>
      Number(
        (await o.pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [kafkaSource])).rows[0]?.n,
      );
    const mqttRows = async () =>
      Number(
        (
          await o.pool.query<{ n: string }>("SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND device_id = 'dev-1'", [
            mqttSource,
          ])
        ).rows[0]?.n,
      );
    await waitFor(
      'every record of both streams',
      async () => (await kafkaRows()) >= produced && (await mqttRows()) >= published,
      120_000,
      500,
    );
    // Give a redelivery the chance to (wrongly) add rows before counting.
    await sleep(2_000);
    const k = await o.pool.query<{ n: string; keys: string }>(
      'SELECT count(*) AS n, count(DISTINCT (device_id, interface, event_time)) AS keys FROM ingest.modem_telemetry WHERE source = $1',
      [kafkaSource],
    );
    const kb = await o.pool.query<{ once: string }>('SELECT sum(messages - duplicates) AS once FROM ingest.batches WHERE source = $1', [
      kafkaSource,
    ]);
    const ko = await o.pool.query<{ s: string }>(
      'SELECT sum(next_offset) AS s FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2',
      [groupId, topic],
    );
    const m = await o.pool.query<{ n: string; times: string }>(
      "SELECT count(*) AS n, count(DISTINCT event_time) AS times FROM ingest.sensor_readings WHERE source = $1 AND device_id = 'dev-1'",
      [mqttSource],
    );
    const mi = await o.pool.query<{ inserted: string }>(
      'SELECT sum(b.rows_inserted) AS inserted FROM ingest.batches b WHERE b.source = $1',
      [mqttSource],
    );
    const probes = await o.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND device_id = 'probe'",
      [mqttSource],
    );
    return {
      heartbeatTimeoutMs: hb,
      kills: out,
      kafka: {
        produced,
        rows: Number(k.rows[0]!.n),
        distinctKeys: Number(k.rows[0]!.keys),
        writtenOnce: Number(kb.rows[0]!.once),
        offsetsSum: Number(ko.rows[0]!.s),
      },
      mqtt: {
        published,
        rows: Number(m.rows[0]!.n),
        distinctTimes: Number(m.rows[0]!.times),
        // Rows inserted by all batches of the stream, minus the subscription probes.
        inserted: Number(mi.rows[0]!.inserted) - Number(probes.rows[0]!.n),
      },
    };
  } finally {
    stop = true;
    for (const h of handles) await h.terminate('recovery run done').catch(() => undefined);
    await killHard(worker);
  }
}

/** What `npm run bench` reports for recovery. */
export interface RecoveryBench {
  heartbeatTimeoutMs: number;
  kills: number;
  /** Recovery per kill, ms: from the replacement worker polling to the stream's next committed batch. */
  kafka: Summary;
  mqtt: Summary;
  /** From SIGKILL to the replacement worker polling, ms. */
  workerStart: Summary;
  perKill: KillRecovery[];
  exactlyOnce: boolean;
  markdown: string;
}

/** Runs {@link runCrashLoop} on the stack in the environment and summarises it. */
export async function runRecoveryBench(o: { kills?: number; heartbeatTimeoutMs?: number } = {}): Promise<RecoveryBench> {
  console.log(`recovery: ${o.kills ?? 10} SIGKILLs of the worker running a Kafka and an MQTT stream…`);
  const settings = loadSettings();
  const pool = createPool(databaseUrl(settings), 4);
  const connection = await Connection.connect({ address: settings.temporalAddress });
  try {
    const client = new Client({ connection, namespace: settings.temporalNamespace });
    const r = await runCrashLoop({
      pool,
      client,
      brokers: kafkaBrokers(settings),
      mqttUrl: mqttUrl(settings),
      kills: o.kills,
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      onKill: (k) =>
        console.log(`  kill ${k.kill}: worker up in ${k.workerStartMs} ms; Kafka ${k.kafkaMs} ms, MQTT ${k.mqttMs} ms to the next commit`),
    });
    const kafka = summarize(r.kills.map((k) => k.kafkaMs));
    const mqttS = summarize(r.kills.map((k) => k.mqttMs));
    const workerStart = summarize(r.kills.map((k) => k.workerStartMs));
    const exactlyOnce =
      r.kafka.rows === r.kafka.produced &&
      r.kafka.distinctKeys === r.kafka.produced &&
      r.kafka.writtenOnce === r.kafka.produced &&
      r.kafka.offsetsSum === r.kafka.produced &&
      r.mqtt.rows === r.mqtt.published &&
      r.mqtt.distinctTimes === r.mqtt.published;
    console.log(
      `  recovery median / max: Kafka ${kafka.p50} / ${kafka.max} ms, MQTT ${mqttS.p50} / ${mqttS.max} ms (heartbeat timeout ${r.heartbeatTimeoutMs} ms)`,
    );
    const s = (x: number) => `${round(x / 1000, 1)} s`;
    const markdown = [
      '## Recovery from crashed workers',
      '',
      `${r.kills.length} SIGKILLs of the worker running a Kafka and an MQTT stream (heartbeat timeout ${s(r.heartbeatTimeoutMs)}); ` +
        'recovery = from the replacement worker polling to the stream’s next committed batch.',
      '',
      '| stream | median | max | bound (heartbeat timeout + 5 s) |',
      '|---|---|---|---|',
      `| Kafka | ${s(kafka.p50)} | ${s(kafka.max)} | ${s(r.heartbeatTimeoutMs + 5000)} |`,
      `| MQTT | ${s(mqttS.p50)} | ${s(mqttS.max)} | ${s(r.heartbeatTimeoutMs + 5000)} |`,
      '',
      `Per kill (Kafka / MQTT): ${r.kills.map((k) => `${s(k.kafkaMs)} / ${s(k.mqttMs)}`).join(', ')}. Worker start after a kill: median ${s(workerStart.p50)}. ` +
        `Exactly once: ${exactlyOnce ? 'yes' : 'NO'} (${r.kafka.produced} Kafka records, ${r.mqtt.published} MQTT messages).`,
    ].join('\n');
    return {
      heartbeatTimeoutMs: r.heartbeatTimeoutMs,
      kills: r.kills.length,
      kafka,
      mqtt: mqttS,
      workerStart,
      perKill: r.kills,
      exactlyOnce,
      markdown,
    };
  } finally {
    await connection.close();
    await pool.end();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const num = (name: string) => {
    const a = process.argv.find((x) => x.startsWith(`--${name}=`));
    return a ? Number(a.split('=')[1]) : undefined;
  };
  runRecoveryBench({ kills: num('kills'), heartbeatTimeoutMs: num('heartbeat-timeout') }).then(
    (r) => {
      console.log(r.markdown);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
