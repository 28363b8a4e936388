/**
 * MQTT ingest on the real stack: Mosquitto → consumer activity → PostgreSQL, supervised by the
 * mqttIngest workflow on the Temporal dev server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createMqttIngestActivities } from '../src/activities/mqtt-ingest';
import { mqttUrl } from '../src/config/env';
import { MAX_PAYLOAD_BYTES } from '../src/ingest/payload';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { publishRaw, replayReadings } from '../src/simulator/sensor-replay';
import { WORKER_TUNING, WORKFLOWS_PATH } from '../src/workers/worker';
import { configure, pause, resume, status } from '../src/workflows/messages';
import { queryWorkflow } from '../src/client/query';
import { testPool, uniqueSuffix } from './support/db';
import { killHard, spawnCli, waitFor } from './support/processes';
import { countReadings, waitForSubscription } from './support/ingest';
import { recordHistory, withWorker, useTemporalClient } from './support/temporal';

const pool = testPool();

afterAll(async () => {
  await pool.end();
});

describe('MQTT ingest', () => {
  const temporal = useTemporalClient();

  it('lands every row of a real file exactly once while the worker process is killed mid-stream', { timeout: 300_000 }, async () => {
    const source = `occ-kill-${uniqueSuffix()}`;
    const taskQueue = `test-ingest-${source}`;
    const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatraining.txt');
    const env = { TASK_QUEUE: taskQueue };
    let worker = spawnCli(['worker'], env);
    const workflowId = `ingest-mqtt-${source}`;
    const handle = await temporal().workflow.start('mqttIngest', {
      workflowId,
      taskQueue,
      args: [{ source, batchSize: 200, flushIntervalMs: 100, runForMs: 20_000 }],
    });
    try {
      // The first run of the consumer creates the persistent session; wait until it exists.
      await waitForSubscription(pool, source);
      const publishing = replayReadings({ url: mqttUrl(), source, readings, speedup: 'max', window: 100 });
      const device = readings[0]!.deviceId;
      await waitFor('a first part of the rows', async () => (await countReadings(pool, source, device)) >= 1500, 120_000, 50);
      await killHard(worker);
      const atKill = await countReadings(pool, source, device);
      expect(atKill).toBeLessThan(readings.length);
      await publishing;
      worker = spawnCli(['worker'], env);
      await waitFor('every row', async () => (await countReadings(pool, source, device)) >= readings.length, 120_000, 500).catch(
        async (e: unknown) => {
          throw new Error(
            `${String(e)}; ${await countReadings(pool, source, device)} of ${readings.length} rows; worker output:\n${worker.output().slice(-3000)}`,
          );
        },
      );
      // Give a redelivery a chance to (wrongly) add rows before checking exactly-once.
      await new Promise((r) => setTimeout(r, 2000));
      const r = await pool.query<{ n: string; distinct_times: string; temp_sum: number; co2_sum: number }>(
        `SELECT count(*) AS n, count(DISTINCT event_time) AS distinct_times, sum(temperature) AS temp_sum, sum(co2) AS co2_sum
           FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2`,
        [source, device],
      );
      const row = r.rows[0]!;
      expect(Number(row.n)).toBe(readings.length);
      expect(Number(row.distinct_times)).toBe(readings.length);
      expect(row.temp_sum).toBeCloseTo(
        readings.reduce((s, x) => s + (x.temperature ?? 0), 0),
        6,
      );
      expect(row.co2_sum).toBeCloseTo(
        readings.reduce((s, x) => s + (x.co2 ?? 0), 0),
        4,
      );
      const st = await queryWorkflow(handle, status, []);
      expect(st.state).toBe('running');
    } finally {
      await handle.terminate('test done').catch(() => undefined);
      await killHard(worker);
    }
  });

  it('dead-letters malformed payloads with a reason and keeps the valid ones around them', async () => {
    const source = `occ-dlq-${uniqueSuffix()}`;
    const topic = `sensors/${source}/dev-1`;
    const valid = (i: number) =>
      JSON.stringify({ device_id: 'dev-1', ts: new Date(Date.UTC(2015, 1, 4, 12, i)).toISOString(), temperature: 20 + i });
    const bad: Array<[string, Buffer | string]> = [
      ['not_json', '{"device_id": "dev-1", "ts": '],
      ['schema', JSON.stringify({ device_id: 'dev-1', ts: '2015-02-04T12:00:00Z', temperature: 'hot' })],
      ['schema', JSON.stringify({ ts: '2015-02-04T12:00:00Z', temperature: 21 })],
      ['oversized', JSON.stringify({ device_id: 'dev-1', ts: '2015-02-04T12:00:00Z', temperature: 1, pad: 'x'.repeat(MAX_PAYLOAD_BYTES) })],
      ['invalid_utf8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['non_finite', '{"device_id":"dev-1","ts":"2015-02-04T12:00:00Z","temperature":NaN}'],
      ['future_timestamp', JSON.stringify({ device_id: 'dev-1', ts: '2999-01-01T00:00:00Z', temperature: 20 })],
      // PostgreSQL text cannot store U+0000: written, it would fail the whole batch.
      ['schema', JSON.stringify({ device_id: 'dev\u00001', ts: '2015-02-04T12:05:00Z', temperature: 20 })],
    ];
    const messages = [
      { topic, payload: valid(0) },
      ...bad.map(([, payload]) => ({ topic, payload })),
      { topic, payload: valid(1) },
      { topic, payload: valid(2) },
    ];
    await withWorker(
      { workflowsPath: WORKFLOWS_PATH, activities: createMqttIngestActivities({ pool, mqttUrl: mqttUrl() }), ...WORKER_TUNING },
      async ({ client: c, taskQueue }) => {
        const workflowId = `ingest-mqtt-${source}`;
        const handle = await c.workflow.start('mqttIngest', {
          workflowId,
          taskQueue,
          args: [{ source, runForMs: 3_000, flushIntervalMs: 100 }],
        });
        await waitForSubscription(pool, source);
        await publishRaw(mqttUrl(), messages);
        await waitFor('rows and dead letters', async () => {
          const d = await pool.query('SELECT 1 FROM ingest.dead_letters WHERE source = $1', [source]);
          return (await countReadings(pool, source, 'dev-1')) === 3 && d.rowCount === bad.length;
        });
        const dl = await pool.query<{ error_code: string; reason: string; origin: { mqttTopic: string } }>(
          'SELECT error_code, reason, origin FROM ingest.dead_letters WHERE source = $1 ORDER BY id',
          [source],
        );
        expect(dl.rows.map((r) => r.error_code).sort()).toEqual(bad.map(([code]) => code).sort());
        for (const r of dl.rows) {
          expect(r.reason.length).toBeGreaterThan(5);
          expect(r.origin.mqttTopic).toBe(topic);
        }
        expect(dl.rows.find((r) => r.error_code === 'schema' && r.reason.startsWith('temperature'))).toBeDefined();
        expect(dl.rows.find((r) => r.error_code === 'schema' && r.reason.startsWith('device_id'))).toBeDefined();
        expect(dl.rows.find((r) => r.reason.startsWith('device_id: contains U+0000'))).toBeDefined();

        // Control: pause stops consumption, configure changes the batch size, resume restarts.
        await handle.signal(pause, 'maintenance');
        await waitFor('paused', async () => (await queryWorkflow(handle, status, [])).state === 'paused');
        const cfg = await handle.executeUpdate(configure, { args: [{ batchSize: 50 }] });
        expect(cfg.batchSize).toBe(50);
        const batchSizeMessage: unknown = expect.stringMatching(/batchSize must be an integer/);
        await expect(handle.executeUpdate(configure, { args: [{ batchSize: 0 }] })).rejects.toMatchObject({
          cause: { message: batchSizeMessage },
        });
        await publishRaw(mqttUrl(), [{ topic, payload: valid(3) }]);
        await new Promise((r) => setTimeout(r, 1500));
        expect(await countReadings(pool, source, 'dev-1')).toBe(3);
        await handle.signal(resume);
        await waitFor('the message queued while paused', async () => (await countReadings(pool, source, 'dev-1')) === 4, 30_000);
        const st = await queryWorkflow(handle, status, []);
        expect(st.state).toBe('running');
        expect(st.batchSize).toBe(50);
        // `ingest stop`: cancelling the workflow ends it after the consumer committed what it held.
        await handle.cancel();
        await expect(handle.result()).rejects.toThrow();
        expect((await handle.describe()).status.name).toBe('CANCELLED');
        await recordHistory(c, workflowId, 'mqttIngest-dead-letters-pause-resume');
      },
    );
  });
});

describe('MQTT ingest continue-as-new', () => {
  it(
    'continues as new with its counters after handlers finish, and nothing is lost across the boundary',
    { timeout: 180_000 },
    async () => {
      const source = `occ-can-${uniqueSuffix()}`;
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatest.txt').slice(0, 1500);
      await withWorker(
        { workflowsPath: WORKFLOWS_PATH, activities: createMqttIngestActivities({ pool, mqttUrl: mqttUrl() }), ...WORKER_TUNING },
        async ({ client: c, taskQueue }) => {
          const workflowId = `ingest-mqtt-${source}`;
          // Two consumer runs per history: the workflow continues as new every ~2 s while data flows.
          const handle = await c.workflow.start('mqttIngest', {
            workflowId,
            taskQueue,
            args: [{ source, runForMs: 1_000, flushIntervalMs: 100, maxRunsPerHistory: 2 }],
          });
          const firstRunId = handle.firstExecutionRunId;
          await waitForSubscription(pool, source);
          await replayReadings({ url: mqttUrl(), source, readings, speedup: 'max', window: 50 });
          const device = readings[0]!.deviceId;
          await waitFor('every reading', async () => (await countReadings(pool, source, device)) === readings.length, 60_000);
          await waitFor(
            'a later run of the chain',
            async () => (await c.workflow.getHandle(workflowId).describe()).runId !== firstRunId,
            30_000,
            500,
          );
          const latest = c.workflow.getHandle(workflowId);
          const st = await queryWorkflow(latest, status, []);
          // Counters are carried across continue-as-new: the latest run knows every committed message.
          expect(st.runs).toBeGreaterThan(2);
          expect(st.committed).toBeGreaterThanOrEqual(readings.length);
          const first = await c.workflow.getHandle(workflowId, firstRunId).describe();
          expect(first.status.name).toBe('CONTINUED_AS_NEW');
          const r = await pool.query<{ n: string; k: string }>(
            'SELECT count(*) AS n, count(DISTINCT event_time) AS k FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2',
            [source, device],
          );
          expect(Number(r.rows[0]!.n)).toBe(readings.length);
          expect(Number(r.rows[0]!.k)).toBe(readings.length);
          await latest.terminate('test done');
        },
      );
    },
  );
});
