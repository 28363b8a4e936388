/**
 * Recovery of streams from crashed and stopped workers (issue 19), on the real stack with worker
 * processes killed for real: 10 SIGKILLs during a Kafka and an MQTT stream, each followed by the next
 * committed batch within heartbeat timeout + 5 s of the replacement worker polling, every time (no
 * backoff that grows with the crashes); a standby worker taking over after SIGKILL (within heartbeat
 * timeout + 5 s) and SIGTERM (within 5 s) of the active one; `streams status` (the CLI) showing the
 * running consumers' counters equal to what PostgreSQL holds at that moment. Nothing lost or doubled.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, mqttUrl } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { publishRaw } from '../src/simulator/sensor-replay';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import type { LiveStreamStatus } from '../src/ingest/stream-status';
import { configure, status } from '../src/workflows/messages';
import { queryWorkflow } from '../src/client/query';
import { createMqttIngestActivities } from '../src/activities/mqtt-ingest';
import { WORKER_TUNING, WORKFLOWS_PATH } from '../src/workers/worker';
import { runCrashLoop } from '../bench/recovery';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSubscription } from './support/ingest';
import { killHard, spawnCli, spawnStreamWorker, waitFor } from './support/processes';
import { recordHistory, useTemporalClient, withWorker } from './support/temporal';

const pool = testPool();
const brokers = kafkaBrokers();

afterAll(async () => {
  await pool.end();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function maxBatchId(source: string): Promise<number> {
  const r = await pool.query<{ id: string | null }>('SELECT max(id) AS id FROM ingest.batches WHERE source = $1', [source]);
  return Number(r.rows[0]?.id ?? 0);
}

/** Ms from `since` until `source` has a batch above `afterId`. @throws after `timeoutMs` */
async function nextCommitMs(source: string, afterId: number, since: number, timeoutMs = 90_000): Promise<number> {
  await waitFor(`a batch of ${source} after id ${afterId}`, async () => (await maxBatchId(source)) > afterId, timeoutMs, 100);
  return Date.now() - since;
}

/** Runs `iot-pipelines <args>` to the end. @returns stdout and stderr */
async function runCli(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawnCli(args, env);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`iot-pipelines ${args.join(' ')} exited with ${code}: ${child.output()}`);
  return child.output();
}

describe('stream recovery', () => {
  const temporal = useTemporalClient();

  it(
    'recovers from 10 SIGKILLs of the worker within heartbeat timeout + 5 s every time, Kafka and MQTT, exactly once',
    { timeout: 600_000 },
    async () => {
      const heartbeatTimeoutMs = 6_000;
      const bound = heartbeatTimeoutMs + 5_000;
      const r = await runCrashLoop({
        pool,
        client: temporal(),
        brokers,
        mqttUrl: mqttUrl(),
        kills: 10,
        heartbeatTimeoutMs,
        onKill: (k) =>
          console.log(`[recovery] kill ${k.kill}: worker up ${k.workerStartMs} ms, Kafka ${k.kafkaMs} ms, MQTT ${k.mqttMs} ms`),
      });
      expect(r.kills).toHaveLength(10);
      for (const k of r.kills) {
        expect(k.kafkaMs, `Kafka after kill ${k.kill}`).toBeLessThanOrEqual(bound);
        expect(k.mqttMs, `MQTT after kill ${k.kill}`).toBeLessThanOrEqual(bound);
      }
      expect(r.kafka.produced).toBeGreaterThan(1000);
      expect(r.kafka.rows).toBe(r.kafka.produced);
      expect(r.kafka.distinctKeys).toBe(r.kafka.produced);
      // Exactly once in effect: each record written by one committed batch; the stored positions cover the topic.
      expect(r.kafka.writtenOnce).toBe(r.kafka.produced);
      expect(r.kafka.offsetsSum).toBe(r.kafka.produced);
      expect(r.mqtt.published).toBeGreaterThan(500);
      expect(r.mqtt.rows).toBe(r.mqtt.published);
      expect(r.mqtt.distinctTimes).toBe(r.mqtt.published);
      expect(r.mqtt.inserted).toBe(r.mqtt.published);
    },
  );
});

describe('standby failover', () => {
  const temporal = useTemporalClient();

  it(
    'a standby worker takes both streams over after SIGTERM (≤ 5 s) and SIGKILL (≤ heartbeat timeout + 5 s) of the active one, exactly once',
    { timeout: 300_000 },
    async () => {
      const heartbeatTimeoutMs = 6_000;
      const id = uniqueSuffix();
      const topic = `standby-${id}`;
      const groupId = `standby-${id}`;
      const kafkaSource = `modem-standby-${id}`;
      const mqttSource = `occ-standby-${id}`;
      const taskQueue = `test-standby-${id}`;
      const env = { TASK_QUEUE: taskQueue };
      await createTopic(brokers, topic, 2);
      // The first worker, the CLI's `iot-pipelines worker`, alone picks both streams up; the standby starts after.
      const cliWorker = spawnCli(['worker'], env);
      const workers: ChildProcess[] = [cliWorker];
      await waitFor('the CLI worker to poll', () => cliWorker.output().includes('polling') || cliWorker.exitCode !== null, 90_000, 100);
      const kafka = await temporal().workflow.start('kafkaIngest', {
        workflowId: kafkaIngestWorkflowId(groupId, topic),
        taskQueue,
        args: [
          {
            topic,
            groupId,
            source: kafkaSource,
            kind: 'modem',
            batchSize: 500,
            flushIntervalMs: 200,
            runForMs: 120_000,
            heartbeatTimeoutMs,
          },
        ],
      });
      const mqttHandle = await temporal().workflow.start('mqttIngest', {
        workflowId: `ingest-mqtt-${mqttSource}`,
        taskQueue,
        args: [{ source: mqttSource, batchSize: 200, flushIntervalMs: 100, runForMs: 120_000, heartbeatTimeoutMs }],
      });
      let stop = false;
      try {
        await waitForSubscription(pool, mqttSource);
        const start = Date.UTC(2024, 0, 1);
        // Few devices: the CLI worker's ingest starts a device entity workflow per device.
        const producing = produceTelemetry({
          brokers,
          topic,
          count: 100_000_000,
          devices: 4,
          startTime: start,
          rate: 300,
          shouldStop: () => stop,
        });
        let published = 0;
        const publishing = (async () => {
          while (!stop) {
            const batch = Array.from({ length: 10 }, (_, i) => ({
              topic: `sensors/${mqttSource}/dev-1`,
              payload: JSON.stringify({ device_id: 'dev-1', ts: new Date(start + (published + i) * 1000).toISOString(), temperature: 20 }),
            }));
            await publishRaw(mqttUrl(), batch);
            published += batch.length;
            await sleep(100);
          }
        })();
        for (const s of [kafkaSource, mqttSource]) await waitFor(`first batch of ${s}`, async () => (await maxBatchId(s)) > 0, 60_000, 200);
        const standby = await spawnStreamWorker(env);
        workers.push(standby);
        await sleep(3_000);

        // SIGTERM of the active (CLI) worker: it commits what it holds and ends its runs; the standby commits within 5 s.
        const termAt = Date.now();
        const exited = new Promise((r) => cliWorker.once('exit', r));
        cliWorker.kill('SIGTERM');
        await exited;
        const exitMs = Date.now() - termAt;
        // Batches after the exit are the standby's (the stopping worker commits what it holds first).
        const [k1, m1] = [await maxBatchId(kafkaSource), await maxBatchId(mqttSource)];
        const [kafkaTerm, mqttTerm] = await Promise.all([nextCommitMs(kafkaSource, k1, termAt), nextCommitMs(mqttSource, m1, termAt)]);
        console.log(`[standby] SIGTERM: worker exited in ${exitMs} ms; Kafka ${kafkaTerm} ms, MQTT ${mqttTerm} ms`);
        expect(cliWorker.exitCode, cliWorker.output()).toBe(0);
        expect(kafkaTerm).toBeLessThanOrEqual(5_000);
        expect(mqttTerm).toBeLessThanOrEqual(5_000);

        // A new standby; SIGKILL of the worker now holding the streams: the standby, already polling,
        // commits within heartbeat timeout + 5 s.
        workers.push(await spawnStreamWorker(env));
        await sleep(3_000);
        const killedAt = Date.now();
        await killHard(standby);
        const [k0, m0] = [await maxBatchId(kafkaSource), await maxBatchId(mqttSource)];
        const [kafkaKill, mqttKill] = await Promise.all([nextCommitMs(kafkaSource, k0, killedAt), nextCommitMs(mqttSource, m0, killedAt)]);
        console.log(`[standby] SIGKILL: Kafka ${kafkaKill} ms, MQTT ${mqttKill} ms`);
        expect(kafkaKill).toBeLessThanOrEqual(heartbeatTimeoutMs + 5_000);
        expect(mqttKill).toBeLessThanOrEqual(heartbeatTimeoutMs + 5_000);

        await sleep(2_000);
        stop = true;
        const produced = (await producing).sent;
        await publishing;
        await waitFor(
          'every record',
          async () => {
            const k = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [kafkaSource]);
            return Number(k.rows[0]!.n) >= produced && (await countReadings(pool, mqttSource, 'dev-1')) >= published;
          },
          90_000,
          500,
        );
        await sleep(2_000);
        const k = await pool.query<{ n: string; keys: string }>(
          'SELECT count(*) AS n, count(DISTINCT (device_id, interface, event_time)) AS keys FROM ingest.modem_telemetry WHERE source = $1',
          [kafkaSource],
        );
        expect(Number(k.rows[0]!.n)).toBe(produced);
        expect(Number(k.rows[0]!.keys)).toBe(produced);
        const once = await pool.query<{ n: string }>('SELECT sum(messages - duplicates) AS n FROM ingest.batches WHERE source = $1', [
          kafkaSource,
        ]);
        expect(Number(once.rows[0]!.n)).toBe(produced);
        const offsets = await pool.query<{ s: string }>(
          'SELECT sum(next_offset) AS s FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2',
          [groupId, topic],
        );
        expect(Number(offsets.rows[0]!.s)).toBe(produced);
        const m = await pool.query<{ n: string; times: string }>(
          "SELECT count(*) AS n, count(DISTINCT event_time) AS times FROM ingest.sensor_readings WHERE source = $1 AND device_id = 'dev-1'",
          [mqttSource],
        );
        expect(Number(m.rows[0]!.n)).toBe(published);
        expect(Number(m.rows[0]!.times)).toBe(published);
      } finally {
        stop = true;
        await kafka.terminate('test done').catch(() => undefined);
        await mqttHandle.terminate('test done').catch(() => undefined);
        for (const w of workers) await killHard(w);
      }
    },
  );
});

describe('streams status', () => {
  const temporal = useTemporalClient();

  it(
    'shows the running consumer’s counters, equal to what PostgreSQL committed, and clears lastError once flowing again',
    { timeout: 240_000 },
    async () => {
      const source = `occ-status-${uniqueSuffix()}`;
      const taskQueue = `test-status-${source}`;
      const env = { TASK_QUEUE: taskQueue };
      let worker = await spawnStreamWorker(env);
      const handle = await temporal().workflow.start('mqttIngest', {
        workflowId: `ingest-mqtt-${source}`,
        taskQueue,
        // Short runs: the totals of ended runs and the running one's heartbeat counters both count.
        args: [{ source, batchSize: 50, flushIntervalMs: 100, runForMs: 4_000, heartbeatTimeoutMs: 6_000 }],
      });
      let stop = false;
      let published = 0;
      let publishing: Promise<void> | undefined;
      try {
        await waitForSubscription(pool, source);
        const start = Date.UTC(2024, 0, 1);
        publishing = (async () => {
          while (!stop) {
            const batch = Array.from({ length: 10 }, (_, i) => ({
              topic: `sensors/${source}/dev-1`,
              payload: JSON.stringify({ device_id: 'dev-1', ts: new Date(start + (published + i) * 1000).toISOString(), temperature: 20 }),
            }));
            await publishRaw(mqttUrl(), batch);
            published += batch.length;
            await sleep(200);
          }
        })();
        const cliStatus = async (): Promise<LiveStreamStatus> => {
          const out = await runCli(['streams', 'status', `mqtt:${source}`], {});
          return JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as LiveStreamStatus;
        };
        await waitFor('two ended runs', async () => (await queryWorkflow(handle, status, [])).runs >= 2, 60_000, 500);

        // Mid-run: the counters match the batches committed up to the last one the running consumer reported.
        let s = await cliStatus();
        for (let i = 0; i < 5 && !(s.live[0]?.details?.lastBatchId !== undefined && s.runs >= 2); i++) s = await cliStatus();
        expect(s.live).toHaveLength(1);
        const lastBatchId = s.lastBatchId;
        expect(lastBatchId).toBeDefined();
        const db = await pool.query<{ messages: string; batches: string; inserted: string }>(
          'SELECT coalesce(sum(messages), 0) AS messages, count(*) AS batches, coalesce(sum(rows_inserted), 0) AS inserted FROM ingest.batches WHERE source = $1 AND id <= $2',
          [source, lastBatchId],
        );
        const rows = await pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND batch_id <= $2',
          [source, lastBatchId],
        );
        console.log(
          `[status] runs ${s.runs}, committed ${s.committed}, batches ${s.batches}, last batch ${lastBatchId}, live committed ${s.live[0]!.details!.committed}`,
        );
        expect(s.live[0]!.details!.committed).toBeGreaterThan(0);
        expect(s.committed).toBe(Number(db.rows[0]!.messages));
        expect(s.batches).toBe(Number(db.rows[0]!.batches));
        expect(s.inserted).toBe(Number(db.rows[0]!.inserted));
        expect(s.inserted).toBe(Number(rows.rows[0]!.n));
        expect(s.received).toBeGreaterThanOrEqual(s.committed);
        expect(s.live[0]!.attempt).toBe(1);
        expect(s.live[0]!.lastFailure).toBeUndefined();
        expect(s.sinceLastCommitMs).toBeLessThan(10_000);
        expect(s.lastError).toBeUndefined();
        expect(s.heartbeatTimeoutMs).toBe(6_000);

        // `streams configure` changes the heartbeat timeout of the next runs; the workflow's validator refuses nonsense.
        const cfg = await runCli(['streams', 'configure', `mqtt:${source}`, '--heartbeat-timeout', '7000'], {});
        expect(JSON.parse(cfg.slice(cfg.indexOf('{'), cfg.lastIndexOf('}') + 1))).toMatchObject({ heartbeatTimeoutMs: 7_000 });
        await expect(runCli(['streams', 'configure', `mqtt:${source}`, '--heartbeat-timeout', '1000'], {})).rejects.toThrow(
          /heartbeatTimeoutMs must be an integer from 3000/,
        );

        // A crash: the workflow records it; once the next run commits, status no longer reports it.
        await killHard(worker);
        worker = await spawnStreamWorker(env);
        await waitFor(
          'the workflow to see the crash',
          async () => (await queryWorkflow(handle, status, [])).lastError !== undefined,
          30_000,
          250,
        );
        const after = await maxBatchId(source);
        await nextCommitMs(source, after, Date.now(), 30_000);
        let flowing = await cliStatus();
        for (let i = 0; i < 5 && !flowing.live[0]?.details?.lastCommitAt; i++) flowing = await cliStatus();
        expect((await queryWorkflow(handle, status, [])).lastError).toMatch(/[Hh]eartbeat/);
        expect(flowing.lastError).toBeUndefined();
        expect(flowing.live).toHaveLength(1);
        expect(flowing.live[0]!.attempt).toBe(1);
        expect(flowing.live[0]!.lastFailure).toBeUndefined();
        expect(flowing.committed).toBeGreaterThan(s.committed);
        stop = true;
        await publishing;
        // `streams stop`: the consumer commits what it holds. The history (a crash, then at once a new run) is replayed.
        await handle.cancel();
        await expect(handle.result()).rejects.toThrow();
        await recordHistory(temporal(), handle.workflowId, 'mqttIngest-heartbeat-timeout-restart');
      } finally {
        stop = true;
        await publishing;
        await handle.terminate('test done').catch(() => undefined);
        await killHard(worker);
      }
    },
  );
});

describe('restart backoff', () => {
  it('backs off exponentially only while runs fail without progress, validates settings, and reports attempt and backoff', async () => {
    // A source the consumer refuses (not [A-Za-z0-9_.-]+): every run fails at once, committing nothing.
    const source = `bad source ${uniqueSuffix()}`;
    await withWorker(
      { workflowsPath: WORKFLOWS_PATH, activities: createMqttIngestActivities({ pool, mqttUrl: mqttUrl() }), ...WORKER_TUNING },
      async ({ client: c, taskQueue }) => {
        const workflowId = `ingest-mqtt-backoff-${uniqueSuffix()}`;
        await expect(
          c.workflow.execute('mqttIngest', {
            workflowId: `${workflowId}-invalid`,
            taskQueue,
            args: [{ source: 'x', heartbeatTimeoutMs: 500 }],
          }),
        ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/heartbeatTimeoutMs must be an integer from 3000/) as string } });
        const handle = await c.workflow.start('mqttIngest', {
          workflowId,
          taskQueue,
          args: [{ source, restartBackoff: { initialIntervalMs: 200, coefficient: 2, maximumIntervalMs: 1_000 } }],
        });
        await waitFor('five failed runs', async () => (await queryWorkflow(handle, status, [])).consumers?.[0]?.attempt === 6, 30_000, 100);
        const s = await queryWorkflow(handle, status, []);
        expect(s.lastError).toMatch(/must match/);
        expect(s.consumers?.[0]).toMatchObject({ member: 0, lastError: expect.stringMatching(/must match/) as string });
        const cfg = await handle.executeUpdate(configure, {
          args: [{ heartbeatTimeoutMs: 5_000, restartBackoff: { maximumIntervalMs: 2_000 } }],
        });
        expect(cfg).toMatchObject({
          heartbeatTimeoutMs: 5_000,
          restartBackoff: { initialIntervalMs: 200, coefficient: 2, maximumIntervalMs: 2_000 },
        });
        await expect(handle.executeUpdate(configure, { args: [{ restartBackoff: { maximumIntervalMs: 100 } }] })).rejects.toMatchObject({
          cause: { message: expect.stringMatching(/must not be below initialIntervalMs/) as string },
        });
        await expect(handle.executeUpdate(configure, { args: [{ heartbeatTimeoutMs: 1_000 }] })).rejects.toThrow();
        await handle.cancel();
        await expect(handle.result()).rejects.toThrow();
        const history = await handle.fetchHistory();
        const timers = (history.events ?? [])
          .map((e) => e.timerStartedEventAttributes?.startToFireTimeout)
          .filter((t) => t !== undefined && t !== null)
          .map((t) => Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6));
        // 200, 400, 800 ms, then capped at 1 s: growing with failures without progress.
        expect(timers.slice(0, 5)).toEqual([200, 400, 800, 1000, 1000]);
        const scheduled = (history.events ?? [])
          .filter((e) => e.activityTaskScheduledEventAttributes)
          .map((e) => e.activityTaskScheduledEventAttributes!);
        expect(scheduled[0]!.activityId).toBe('consume-m0-1');
        expect(scheduled[0]!.retryPolicy?.maximumAttempts).toBe(1);
        expect(Number(scheduled[0]!.heartbeatTimeout?.seconds)).toBe(10);
        await recordHistory(c, workflowId, 'mqttIngest-restart-backoff');
      },
    );
  });
});
