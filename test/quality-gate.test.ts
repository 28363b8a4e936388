/**
 * The sensor pipeline's data-quality gate on real UCI Air Quality days: a day whose readings mostly
 * carry the -200 fault code fails an error-severity rule, so inference is skipped and the result says
 * why; a clean day passes and is scored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities/index';
import { createQualityActivities } from '../src/activities/quality';
import { kafkaBrokers, mqttUrl, ROOT_DIR } from '../src/config/env';
import { loadOccupancyModel } from '../src/ml/occupancy-model';
import { createNotifier } from '../src/notify/index';
import { loadQualityRules } from '../src/quality/rules';
import { loadSensorFile } from '../src/simulator/sensor-files';
import type { SensorPipelineResult } from '../src/workflows/sensor-pipeline';
import { testPool, uniqueSuffix } from './support/db';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});
const WORKFLOWS = path.join(ROOT_DIR, 'test/fixtures/workflows/fleet-index.ts');

describe('data-quality gate of the sensor pipeline', () => {
  it('skips inference for a window failing an error-severity rule and says why; a clean window is scored', async () => {
    const source = `aq-gate-${uniqueSuffix()}`;
    const readings = loadSensorFile('uci-air-quality', 'data/uci-air-quality/AirQuality.csv');
    const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
    const rules = loadQualityRules();
    // Pick the days from the data: the first with a fault share ≥ errorFraction, and the first without faults.
    const byDay = new Map<string, { n: number; bad: number }>();
    for (const r of readings) {
      const d = byDay.get(dayOf(r.eventTime)) ?? { n: 0, bad: 0 };
      d.n++;
      if (r.temperature === -200 || r.humidity === -200) d.bad++;
      byDay.set(dayOf(r.eventTime), d);
    }
    const badDay = [...byDay].find(([, v]) => v.n === 24 && v.bad / v.n >= rules.sensors.sentinel.errorFraction)![0];
    const cleanDay = [...byDay].find(([, v]) => v.n === 24 && v.bad === 0)![0];
    const picked = readings.filter((r) => [badDay, cleanDay].includes(dayOf(r.eventTime)));
    await pool.query(
      `INSERT INTO ingest.sensor_readings (source, device_id, event_time, temperature, humidity)
       SELECT $1, d, to_timestamp(t / 1000.0), a, b FROM unnest($2::text[], $3::float8[], $4::float8[], $5::float8[]) AS u(d, t, a, b)`,
      [
        source,
        picked.map((r) => r.deviceId),
        picked.map((r) => r.eventTime),
        picked.map((r) => r.temperature),
        picked.map((r) => r.humidity),
      ],
    );
    const model = await loadOccupancyModel();
    const notifier = createNotifier();
    const activities = {
      ...createActivities({
        pool,
        mqttUrl: mqttUrl(),
        kafkaBrokers: kafkaBrokers(),
        lakeDir: path.join(ROOT_DIR, '.stack', 'test-lake'),
        model,
        notifier,
        outputDir: fs.mkdtempSync(path.join(ROOT_DIR, '.stack', 'test-gate-')),
        projectDir: ROOT_DIR,
      }),
      ...createQualityActivities({ pool, notifier, taskQueue: 'unused' }),
    };
    try {
      await withWorker({ workflowsPath: WORKFLOWS, activities }, async ({ client, taskQueue }) => {
        const run = (day: string, id: string) =>
          client.workflow.execute('sensorPipeline', {
            workflowId: id,
            taskQueue,
            args: [
              {
                dataIntervalStart: `${day}T00:00:00.000Z`,
                dataIntervalEnd: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString(),
              },
            ],
          }) as Promise<SensorPipelineResult>;
        const failedId = `sensor-pipeline-gate-${source}`;
        const failed = await run(badDay, failedId);
        expect(failed.models.error).toBe(0);
        expect(failed.quality?.passed).toBe(false);
        expect(failed.inference).toBeUndefined();
        expect(failed.skippedInference).toMatch(/^data-quality gate failed/);
        expect(failed.skippedInference).toContain(`sensor_sentinel on ${source}/roadside-1`);
        expect(failed.quality?.errors).toContainEqual(expect.objectContaining({ source, deviceId: 'roadside-1', rule: 'sensor_sentinel' }));
        await recordHistory(client, failedId, 'sensorPipeline-quality-gate-failed');
        // The finding is an alert like any other.
        const alert = await pool.query('SELECT severity FROM quality.alerts WHERE source = $1 AND rule = $2', [source, 'sensor_sentinel']);
        expect(alert.rows).toEqual([{ severity: 'error' }]);

        const ok = await run(cleanDay, `sensor-pipeline-clean-${source}`);
        expect(ok.quality?.passed).toBe(true);
        expect(ok.skippedInference).toBeUndefined();
        expect(ok.inference?.windows).toBeGreaterThan(0);
      });
    } finally {
      await model.release();
    }
  });
});
