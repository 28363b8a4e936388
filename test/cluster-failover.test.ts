/**
 * The whole stack as a cluster, and its parts dying (issue 18): `iot-pipelines stack up` in a stack
 * folder and on ports of its own runs PostgreSQL, Mosquitto, two Temporal server processes
 * (`TEMPORAL_MODE=cluster`, clients through the stack's balancer on `TEMPORAL_ADDRESS`) and three Kafka
 * brokers (`KAFKA_MODE=cluster`: replication factor 3, `min.insync.replicas=2`). Two `iot-pipelines
 * worker` processes share a Kafka ingest (two consumer-group members) and an MQTT ingest (two
 * shared-subscription sessions). During that ingest and a sensor-pipeline run: kill -9 of Temporal
 * server a, then of one worker, then of one Kafka broker. Every message is in PostgreSQL exactly once,
 * the pipeline run completes, and nobody intervenes. Then the whole cluster stops and starts again: the
 * ingest workflows are still running where they were, the schedule is still there, and records
 * produced after the restart land once.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import pg from 'pg';
import { connectClient } from '../src/cli/client';
import { loadSettings, type Settings } from '../src/config/env';
import { createTopic, highWatermarks, withAdmin } from '../src/ingest/kafka-client';
import { queryWorkflow } from '../src/client/query';
import { status } from '../src/workflows/messages';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { prepareIsolatedCluster, type IsolatedCluster } from '../src/stack/isolated';
import { hostPort, isPortOpen } from '../src/stack/process';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import type { SensorPipelineResult } from '../src/workflows/sensor-pipeline';
import { waitForSharedMembers } from './support/ingest';
import { exitOf, killHard, spawnCli, startCliWorker, waitFor } from './support/processes';

type Child = ChildProcess & { output: () => string };

let cluster: IsolatedCluster | undefined;
let dir = '';
let env: Record<string, string> = {};
let stackUp: Child | undefined;
const workers: Child[] = [];
let db: pg.Pool | undefined;

async function startStack(): Promise<void> {
  const child = spawnCli(['stack', 'up', '--services', 'temporal,postgres,mosquitto,kafka'], env);
  stackUp = child;
  await waitFor('stack up to be ready', () => child.output().includes('Stack ready') || child.exitCode !== null, 300_000, 100);
  if (child.exitCode !== null) throw new Error(`stack up exited with ${child.exitCode}:\n${child.output()}`);
}

async function stopStack(): Promise<void> {
  const child = stackUp;
  if (!child || child.exitCode !== null) return;
  child.kill('SIGINT');
  expect(await exitOf(child, 120_000), child.output()).toBe(0);
}

function pidOf(service: string): number {
  return Number(fs.readFileSync(path.join(dir, 'logs', `${service}.pid`), 'utf8'));
}

function settings(): Settings {
  return { ...loadSettings(), temporalAddress: env.TEMPORAL_ADDRESS!, temporalNamespace: 'default', kafkaBrokers: brokers().join(',') };
}

function brokers(): string[] {
  return cluster!.brokers;
}

async function count(sql: string, args: unknown[]): Promise<number> {
  const r = await db!.query<{ n: string }>(sql, args);
  return Number(r.rows[0]?.n);
}

describe('cluster failover: Temporal server, worker and Kafka broker killed during ingest and a pipeline run', () => {
  beforeAll(async () => {
    cluster = await prepareIsolatedCluster(loadSettings().stackDir, (m) => console.log(`[failover] ${m}`));
    dir = cluster.dir;
    env = cluster.env;
    await startStack();
    db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 4 });
  }, 1_500_000);

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await db?.end();
    if (stackUp && stackUp.exitCode === null) {
      stackUp.kill('SIGINT');
      await exitOf(stackUp, 120_000).catch(() => stackUp?.kill('SIGKILL'));
    }
    cluster?.remove();
  });

  it(
    'every message once, the pipeline run completes, the survivors take over; state and schedules survive a full restart',
    { timeout: 900_000 },
    async () => {
      const mqttUrl = cluster!.mqttUrl;
      const id = randomUUID().slice(0, 8);
      const topic = `telemetry-failover-${id}`;
      const groupId = `failover-${id}`;
      const kafkaSource = `modem-failover-${id}`;
      const mqttSource = `occ-failover-${id}`;
      const total = 30_000;
      const devices = 300;
      const startTime = Date.UTC(2024, 5, 1);
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatraining.txt');
      const device = readings[0]!.deviceId;
      const half = Math.floor(readings.length / 2);
      const taskQueue = env.TASK_QUEUE!;

      workers.push(await startCliWorker(env), await startCliWorker(env));
      const { client, close } = await connectClient(settings());
      try {
        // Replicated three times: a topic created with the brokers' default.
        expect(await createTopic(brokers(), topic, 4)).toBe(true);
        const kafka = await client.workflow.start('kafkaIngest', {
          workflowId: kafkaIngestWorkflowId(groupId, topic),
          taskQueue,
          args: [{ topic, groupId, source: kafkaSource, kind: 'modem', members: 2, batchSize: 1000 }],
        });
        const mqtt = await client.workflow.start('mqttIngest', {
          workflowId: `ingest-mqtt-${mqttSource}`,
          taskQueue,
          args: [{ source: mqttSource, members: 2, batchSize: 200, flushIntervalMs: 100 }],
        });
        // A schedule, paused (its runs are not the point): it must outlive a full restart.
        const scheduleId = `failover-schedule-${id}`;
        await client.schedule.create({
          scheduleId,
          spec: { intervals: [{ every: '1h' }] },
          action: { type: 'startWorkflow', workflowType: 'sensorPipeline', taskQueue, args: [{}] },
          policies: { overlap: ScheduleOverlapPolicy.SKIP },
          state: { paused: true },
        });

        // Both shared-subscription sessions exist once probes land through each member.
        await waitForSharedMembers(db!, mqttUrl, mqttSource, 2).catch((e: unknown) => {
          throw new Error(`${String(e)}; workers:\n${workers.map((w) => w.output().slice(-3000)).join('\n---\n')}`);
        });

        // Kafka records at a fixed rate, so the kills land mid-stream; half the readings over MQTT.
        const producing = produceTelemetry({ brokers: brokers(), topic, count: total, devices, startTime, rate: 1_000 });
        producing.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        const firstHalf = replayReadings({ url: mqttUrl, source: mqttSource, readings: readings.slice(0, half), window: 100 });
        const kafkaRows = () => count('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [kafkaSource]);
        const mqttRows = () =>
          count('SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2', [mqttSource, device]);
        await waitFor('a first part of the Kafka records', async () => (await kafkaRows()) >= 3_000, 120_000, 200);
        await firstHalf;

        // A pipeline run over the first day of readings, in flight while things die.
        const pipeline = await client.workflow.start('sensorPipeline', {
          workflowId: `failover-pipeline-${id}`,
          taskQueue,
          args: [{ dataIntervalStart: '2015-02-04T17:00:00Z', dataIntervalEnd: '2015-02-05T17:00:00Z', qualityGate: false }],
        });

        process.kill(pidOf('temporal-a'), 'SIGKILL');
        const a = hostPort(`127.0.0.1:${Number(env.TEMPORAL_CLUSTER_PORT_BASE)}`);
        await waitFor('Temporal server a to be gone', async () => !(await isPortOpen(a.host, a.port)), 10_000, 50);
        await new Promise((r) => setTimeout(r, 3_000));
        await killHard(workers[0]!);
        await new Promise((r) => setTimeout(r, 3_000));
        process.kill(pidOf('kafka-2'), 'SIGKILL');
        const secondHalf = replayReadings({ url: mqttUrl, source: mqttSource, readings: readings.slice(half), window: 100 });

        const outcome = (await pipeline.result()) as SensorPipelineResult;
        expect(outcome.models.error).toBe(0);
        expect(outcome.inference).toBeDefined();
        expect((await producing).sent).toBe(total);
        await secondHalf;
        const report = async () => {
          const offsets = await db!.query(
            'SELECT partition, next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2 ORDER BY 1',
            [groupId, topic],
          );
          const high = await withAdmin(brokers(), (admin) => highWatermarks(admin, topic)).catch((e: unknown) => String(e));
          const st = await queryWorkflow(client.workflow.getHandle(kafka.workflowId), status, []).catch((e: unknown) => String(e));
          fs.cpSync(path.join(dir, 'logs'), `/tmp/failover-logs-${id}`, { recursive: true });
          return (
            `Kafka ${await kafkaRows()} of ${total}, MQTT ${await mqttRows()} of ${readings.length}; offsets ${JSON.stringify(offsets.rows)}; ` +
            `high watermarks ${JSON.stringify(high instanceof Map ? [...high] : high)}; status ${JSON.stringify(st)}; logs in /tmp/failover-logs-${id}; ` +
            `surviving worker:\n${workers[1]!.output().slice(-3000)}`
          );
        };
        await waitFor(
          'every Kafka record and every reading',
          async () => (await kafkaRows()) >= total && (await mqttRows()) >= readings.length,
          240_000,
          500,
        ).catch(async (e: unknown) => {
          throw new Error(`${String(e)}; ${await report()}`);
        });
        await new Promise((r) => setTimeout(r, 3_000));
        // Exactly once: as many rows as messages, one per natural key.
        expect(await kafkaRows()).toBe(total);
        expect(
          await count('SELECT count(DISTINCT (device_id, interface, event_time)) AS n FROM ingest.modem_telemetry WHERE source = $1', [
            kafkaSource,
          ]),
        ).toBe(total);
        expect(await mqttRows()).toBe(readings.length);
        expect(
          await count('SELECT count(DISTINCT event_time) AS n FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2', [
            mqttSource,
            device,
          ]),
        ).toBe(readings.length);
        // The stored Kafka positions cover what was produced (every partition's next offset ≥ its records).
        expect(
          await count('SELECT sum(next_offset) AS n FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2', [groupId, topic]),
        ).toBeGreaterThanOrEqual(total);

        // A full restart of the cluster: the worker stops, then every service; then all start again.
        // SIGTERM: a clean stop exits 0; a consumer still closing its client to the dead broker when the
        // stop bound (40 s) is up exits 1, as the worker command promises (worker-shutdown.test.ts checks
        // the clean case). Either way it is gone within the bound.
        workers[1]!.kill('SIGTERM');
        const code = await exitOf(workers[1]!, 60_000);
        if (code !== 0) console.log(`[failover] the worker exited ${code}:\n${workers[1]!.output().slice(-2000)}`);
        expect([0, 1]).toContain(code);
        await close();
        await stopStack();
        await startStack();
        const again = await connectClient(settings());
        try {
          for (const h of [kafka, mqtt]) {
            expect((await again.client.workflow.getHandle(h.workflowId).describe()).status.name, h.workflowId).toBe('RUNNING');
          }
          const schedule = await again.client.schedule.getHandle(scheduleId).describe();
          expect(schedule.state.paused).toBe(true);
          expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'sensorPipeline' });
          // The ingest resumes where it left off: records produced after the restart land once.
          workers.push(await startCliWorker(env));
          await produceTelemetry({ brokers: brokers(), topic, count: 2_000, devices, startTime, offset: total });
          await waitFor('the records produced after the restart', async () => (await kafkaRows()) >= total + 2_000, 120_000, 500);
          await new Promise((r) => setTimeout(r, 2_000));
          expect(await kafkaRows()).toBe(total + 2_000);
          await again.client.workflow.getHandle(kafka.workflowId).terminate('test done');
          await again.client.workflow.getHandle(mqtt.workflowId).terminate('test done');
          await again.client.schedule.getHandle(scheduleId).delete();
        } finally {
          await again.close();
        }
      } finally {
        await close().catch(() => undefined);
      }
    },
  );
});
