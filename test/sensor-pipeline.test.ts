/**
 * The sensor pipeline end to end on the real stack: real readings replayed over MQTT → ingest
 * workflow → PostgreSQL → SQL models (one activity per model) → ONNX inference, for one data interval.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities/index';
import { kafkaBrokers, mqttUrl, ROOT_DIR } from '../src/config/env';
import { loadOccupancyModel } from '../src/ml/occupancy-model';
import { createNotifier } from '../src/notify/index';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import { WORKER_TUNING, WORKFLOWS_PATH } from '../src/workers/worker';
import type { SensorPipelineResult } from '../src/workflows/sensor-pipeline';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSubscription } from './support/ingest';
import { waitFor } from './support/processes';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

interface FixtureRow {
  windowStart: string;
  probability: number;
  predictedOccupied: boolean;
}

const WINDOW_MS = 10 * 60 * 1000;

describe('sensor pipeline', () => {
  it('ingests a real file over MQTT, builds the models and writes predictions equal to the training library’s', async () => {
    const model = await loadOccupancyModel();
    const source = `occ-e2e-${uniqueSuffix()}`;
    const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatest.txt');
    const activities = createActivities({
      pool,
      mqttUrl: mqttUrl(),
      kafkaBrokers: kafkaBrokers(),
      lakeDir: path.join(ROOT_DIR, '.stack', 'test-lake'),
      model,
      notifier: createNotifier(),
      outputDir: fs.mkdtempSync(path.join(ROOT_DIR, '.stack', 'test-output-')),
      projectDir: ROOT_DIR,
    });
    try {
      await withWorker({ workflowsPath: WORKFLOWS_PATH, activities, ...WORKER_TUNING }, async ({ client, taskQueue }) => {
        const ingest = await client.workflow.start('mqttIngest', {
          workflowId: `ingest-mqtt-${source}`,
          taskQueue,
          args: [{ source, runForMs: 10_000 }],
        });
        await waitForSubscription(pool, source);
        await replayReadings({ url: mqttUrl(), source, readings });
        await waitFor('every reading', async () => (await countReadings(pool, source, 'office-room-1')) === readings.length, 60_000);
        await ingest.terminate('test done');

        const first = readings[0]!.eventTime;
        const last = readings[readings.length - 1]!.eventTime;
        const dataIntervalStart = new Date(Math.floor(first / WINDOW_MS) * WINDOW_MS).toISOString();
        const dataIntervalEnd = new Date(Math.floor(last / WINDOW_MS) * WINDOW_MS + WINDOW_MS).toISOString();
        const workflowId = `sensor-pipeline-${source}`;
        const run = () =>
          client.workflow.execute('sensorPipeline', {
            workflowId,
            taskQueue,
            args: [{ dataIntervalStart, dataIntervalEnd }],
          }) as Promise<SensorPipelineResult>;
        const result = await run();
        expect(result.dataIntervalStart).toBe(dataIntervalStart);
        expect(result.dataIntervalEnd).toBe(dataIntervalEnd);
        expect(result.models.error).toBe(0);
        expect(result.models.success).toBe(result.models.total);
        expect(result.inference?.modelVersion).toBe(model.modelVersion);
        await recordHistory(client, workflowId, 'sensorPipeline-datatest-interval');

        // Windows computed independently from the file: floor(event time / 10 min).
        const windows = new Set(readings.map((r) => Math.floor(r.eventTime / WINDOW_MS) * WINDOW_MS));
        const preds = await pool.query<{ window_start: Date; probability: number; occupied: boolean }>(
          'SELECT window_start, probability, occupied FROM ml.occupancy_predictions WHERE source = $1 AND model_version = $2 ORDER BY window_start',
          [source, model.modelVersion],
        );
        expect(preds.rows.length).toBe(windows.size);
        expect(new Set(preds.rows.map((r) => r.window_start.getTime()))).toEqual(windows);

        // The training script's scikit-learn predictions for windows of the same file.
        const fixture = JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'ml', 'fixtures', 'occupancy_parity.json'), 'utf8')) as {
          rows: FixtureRow[];
        };
        const byWindow = new Map(preds.rows.map((r) => [r.window_start.getTime(), r]));
        let compared = 0;
        for (const f of fixture.rows) {
          const p = byWindow.get(Date.parse(f.windowStart));
          if (!p) continue;
          expect(Math.abs(p.probability - f.probability)).toBeLessThanOrEqual(1e-6);
          expect(p.occupied).toBe(f.predictedOccupied);
          compared++;
        }
        expect(compared).toBe(fixture.rows.length);

        // Re-running the interval replaces its predictions, never duplicates them.
        await run();
        const again = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ml.occupancy_predictions WHERE source = $1', [source]);
        expect(Number(again.rows[0]?.n)).toBe(windows.size);
      });
    } finally {
      await model.release();
    }
  });
});
