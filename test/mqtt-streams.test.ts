/**
 * MQTT streams on the real stack, with a Mosquitto of this test's own (never the shared one on 1883):
 * two shared-subscription sessions split one topic; every QoS 1 message lands exactly once across a
 * SIGKILL of a worker process and a Mosquitto restart with persistence on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { loadSettings } from '../src/config/env';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { publishRaw, replayReadings } from '../src/simulator/sensor-replay';
import { startMosquitto } from '../src/stack/mosquitto';
import type { ServiceProcess } from '../src/stack/process';
import { status } from '../src/workflows/messages';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSharedMembers } from './support/ingest';
import { freePort, killHard, spawnStreamWorker, waitFor } from './support/processes';

const pool = testPool();
const settings = loadSettings();

describe('MQTT streams', () => {
  const stackDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-restart-'));
  let broker: ServiceProcess | undefined;
  afterAll(async () => {
    await broker?.stop();
    await pool.end();
    fs.rmSync(stackDir, { recursive: true, force: true });
  });

  it(
    'lands every QoS 1 message exactly once across a worker kill and a Mosquitto restart, split by a shared subscription',
    { timeout: 240_000 },
    async () => {
      const port = await freePort();
      broker = await startMosquitto(stackDir, port);
      expect(broker).toBeDefined();
      const url = `mqtt://127.0.0.1:${port}`;
      const source = `occ-restart-${uniqueSuffix()}`;
      const taskQueue = `test-mqtt-restart-${source}`;
      const env = { TASK_QUEUE: taskQueue, MQTT_URL: url };
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatraining.txt');
      const device = readings[0]!.deviceId;
      const half = Math.floor(readings.length / 2);
      const workers = [await spawnStreamWorker(env), await spawnStreamWorker(env)];
      const connection = await Connection.connect({ address: settings.temporalAddress });
      const client = new Client({ connection });
      const handle = await client.workflow.start('mqttIngest', {
        workflowId: `ingest-mqtt-${source}`,
        taskQueue,
        args: [{ source, members: 2, batchSize: 200, flushIntervalMs: 100, runForMs: 20_000 }],
      });
      try {
        // Both persistent shared-subscription sessions exist once probes land through each member.
        await waitForSharedMembers(pool, url, source, 2);
        const first = replayReadings({ url, source, readings: readings.slice(0, half), speedup: 'max', window: 100 });
        await waitFor('a first part of the rows', async () => (await countReadings(pool, source, device)) >= 1000, 120_000, 50);
        await killHard(workers[0]!);
        await first;
        // The killed member's session holds queued and unacknowledged messages; restart the broker now.
        await broker?.stop();
        broker = await startMosquitto(stackDir, port);
        workers[0] = await spawnStreamWorker(env);
        let i = 0;
        await waitFor(
          'the surviving member to resubscribe after the restart',
          async () => {
            const ts = new Date(Date.UTC(2000, 0, 2, 0, i++)).toISOString();
            await publishRaw(url, [
              { topic: `sensors/${source}/probe`, payload: JSON.stringify({ device_id: 'probe', ts, temperature: 0 }) },
            ]);
            const r = await pool.query(
              "SELECT 1 FROM ingest.sensor_readings WHERE source = $1 AND device_id = 'probe' AND event_time >= '2000-01-02T00:00:00Z'",
              [source],
            );
            return (r.rowCount ?? 0) > 0;
          },
          60_000,
          1000,
        ).catch(async (e: unknown) => {
          const b = await pool.query(
            'SELECT consumer, messages, committed_at FROM ingest.batches WHERE source = $1 ORDER BY id DESC LIMIT 5',
            [source],
          );
          throw new Error(
            `${String(e)}; last batches ${JSON.stringify(b.rows)}; broker log ${fs.readFileSync(path.join(stackDir, 'logs/mosquitto.log'), 'utf8').slice(-1500)}; workers:\n${workers.map((w) => w.output().slice(-2000)).join('\n---\n')}`,
          );
        });
        await replayReadings({ url, source, readings: readings.slice(half), speedup: 'max', window: 100 });
        await waitFor('every row', async () => (await countReadings(pool, source, device)) >= readings.length, 150_000, 500).catch(
          async (e: unknown) => {
            throw new Error(
              `${String(e)}; ${await countReadings(pool, source, device)} of ${readings.length}; worker output:\n${workers.map((w) => w.output().slice(-2000)).join('\n---\n')}`,
            );
          },
        );
        await new Promise((r) => setTimeout(r, 2000));
        const r = await pool.query<{ n: string; d: string; t: number }>(
          'SELECT count(*) AS n, count(DISTINCT event_time) AS d, sum(temperature) AS t FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2',
          [source, device],
        );
        expect(Number(r.rows[0]!.n)).toBe(readings.length);
        expect(Number(r.rows[0]!.d)).toBe(readings.length);
        expect(r.rows[0]!.t).toBeCloseTo(
          readings.reduce((s, x) => s + (x.temperature ?? 0), 0),
          6,
        );
        // Both sessions of the shared subscription committed batches.
        const consumers = await pool.query<{ consumer: string }>(
          'SELECT DISTINCT consumer FROM ingest.batches WHERE source = $1 ORDER BY 1',
          [source],
        );
        expect(consumers.rows.map((x) => x.consumer)).toEqual([`iot-pipelines-ingest-${source}-m0`, `iot-pipelines-ingest-${source}-m1`]);
        const ds = await pool.query<{ event_time: Date }>(
          'SELECT event_time FROM ingest.device_status WHERE source = $1 AND device_id = $2',
          [source, device],
        );
        expect(ds.rows[0]!.event_time.getTime()).toBe(readings[readings.length - 1]!.eventTime);
        const st = await handle.query(status);
        expect(st.state).toBe('running');
        expect(st.members).toBe(2);
      } finally {
        await handle.terminate('test done').catch(() => undefined);
        for (const w of workers) await killHard(w);
        await connection.close();
      }
    },
  );
});
