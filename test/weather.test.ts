/**
 * The weather pipeline on both real Open-Meteo snapshots: every hourly value accounted for (stored or
 * counted null), units stated and converted to SI, on the real Temporal server and PostgreSQL.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createWeatherActivities } from '../src/activities/weather';
import { ROOT_DIR } from '../src/config/env';
import type { Notification, Notifier } from '../src/notify/index';
import { cleanForecast } from '../src/weather/clean';
import { forecastSource } from '../src/weather/config';
import type { WeatherResult } from '../src/workflows/weather';
import { testPool, uniqueSuffix } from './support/db';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

const SNAPSHOTS = ['openmeteo_gfs_slc_2024-05-07T15.json', 'openmeteo_gfs_slc_2024-05-07T20.json'].map((f) =>
  path.join(ROOT_DIR, 'data/weather-forecast', f),
);
const WORKFLOWS = path.join(ROOT_DIR, 'test/fixtures/workflows/fleet-index.ts');

describe('weather pipeline', () => {
  it('cleans both real snapshots with units stated and nothing dropped', () => {
    for (const file of SNAPSHOTS) {
      const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        hourly: Record<string, unknown[]>;
        hourly_units: Record<string, string>;
        utc_offset_seconds: number;
      };
      const vars = Object.keys(raw.hourly).filter((k) => k !== 'time');
      const c = cleanForecast(raw);
      // Every (hour, variable) of the input is a row: nothing silently dropped.
      expect(c.stats.hours).toBe(raw.hourly.time!.length);
      expect(c.rows.length).toBe(raw.hourly.time!.length * vars.length);
      expect(c.stats.values).toBe(c.rows.length);
      expect(c.stats.nonNull + c.stats.nulls).toBe(c.stats.values);
      const inputNulls = vars.reduce((n, v) => n + raw.hourly[v]!.filter((x) => x === null).length, 0);
      expect(c.stats.nulls).toBe(inputNulls);
      expect(c.stats.missingHours).toBe(0);
      expect(c.stats.unconverted).toEqual([]);
      // Units: every variable states its source and SI unit.
      for (const v of vars) expect(c.units[v]?.sourceUnit).toBe(raw.hourly_units[v]);
      expect(c.units.temperature_2m).toEqual({ sourceUnit: '°F', unit: '°C' });
      expect(c.units.wind_speed_10m).toEqual({ sourceUnit: 'mp/h', unit: 'm/s' });
      expect(c.units.pressure_msl).toEqual({ sourceUnit: 'hPa', unit: 'Pa' });
      // Conversions checked value by value against the input.
      for (const r of c.rows) {
        const i = raw.hourly.time!.findIndex(
          (t) => Date.parse(`${String(t)}:00Z`) - raw.utc_offset_seconds * 1000 === Date.parse(r.validTime),
        );
        expect(i).toBeGreaterThanOrEqual(0);
        const src = raw.hourly[r.variable]![i] as number | null;
        expect(r.sourceValue).toBe(src);
        if (src === null) expect(r.value).toBeNull();
        else if (r.sourceUnit === '°F') expect(r.value).toBeCloseTo(((src - 32) * 5) / 9, 10);
        else if (r.sourceUnit === 'mp/h') expect(r.value).toBeCloseTo(src * 0.44704, 10);
        else if (r.sourceUnit === 'hPa') expect(r.value).toBeCloseTo(src * 100, 8);
        else expect(r.value).toBe(src);
      }
      // Local MDT times (UTC−6) become UTC instants.
      expect(c.firstHour).toBe(new Date(Date.parse(`${String(raw.hourly.time![0])}:00Z`) + 6 * 3600_000).toISOString());
    }
  });

  it('counts nulls, gaps and duplicate hours instead of dropping them', () => {
    const raw = JSON.parse(fs.readFileSync(SNAPSHOTS[0]!, 'utf8')) as { hourly: Record<string, unknown[]> };
    const h = raw.hourly;
    // Remove the 3rd hour (a gap), null one value, repeat the last hour.
    const keep = [0, 1, 3, 4, 5, 5];
    for (const k of Object.keys(h)) h[k] = keep.map((i) => h[k]![i]);
    h.temperature_2m![0] = null;
    const c = cleanForecast(raw);
    expect(c.stats.missingHours).toBe(1);
    expect(c.stats.duplicateHours).toBe(1);
    expect(c.stats.hours).toBe(5);
    expect(c.stats.nullsByVariable.temperature_2m).toBe(1);
    expect(c.rows.filter((r) => r.variable === 'temperature_2m' && r.value === null).length).toBe(1);
  });

  it('defaults to the live Open-Meteo API for the configured coordinates', () => {
    const s = forecastSource({ latitude: 40.77, longitude: -111.97, location: 'slc' });
    expect(s.url.startsWith('https://api.open-meteo.com/v1/forecast?latitude=40.77&longitude=-111.97&hourly=')).toBe(true);
    expect(forecastSource({ url: 'file:///x.json' }).url).toBe('file:///x.json');
  });

  it('fetches, cleans, stores and publishes both snapshots through the workflow', async () => {
    const sent: Notification[] = [];
    const notifier: Notifier = { notify: (n) => Promise.resolve(void sent.push(n)) };
    const outputDir = fs.mkdtempSync(path.join(ROOT_DIR, '.stack', 'test-weather-'));
    const location = `slc-${uniqueSuffix()}`;
    await withWorker(
      { workflowsPath: WORKFLOWS, activities: createWeatherActivities({ pool, notifier, outputDir }) },
      async ({ client, taskQueue }) => {
        const results: WeatherResult[] = [];
        for (const [i, file] of SNAPSHOTS.entries()) {
          const workflowId = `weather-${location}-${i}`;
          results.push(
            (await client.workflow.execute('weatherPipeline', {
              workflowId,
              taskQueue,
              args: [{ url: pathToFileURL(file).href, location }],
            })) as WeatherResult,
          );
          if (i === 0) await recordHistory(client, workflowId, 'weatherPipeline-slc-snapshot');
        }
        for (const r of results) {
          expect(r.rows).toBe(r.stats.values);
          expect(r.units.temperature_2m?.unit).toBe('°C');
        }
        const stored = await pool.query<{ n: string; hours: string }>(
          'SELECT count(*) AS n, count(DISTINCT valid_time) AS hours FROM weather.forecast_hourly WHERE location = $1',
          [location],
        );
        // Six hours each, overlapping at 20:00 local: 11 distinct hours, the later forecast wins the overlap.
        expect(Number(stored.rows[0]!.hours)).toBe(11);
        expect(Number(stored.rows[0]!.n)).toBe(11 * results[0]!.stats.variables);
        const overlap = await pool.query<{ source_value: number; run_id: string }>(
          `SELECT source_value, run_id FROM weather.forecast_hourly WHERE location = $1 AND variable = 'temperature_2m' AND valid_time = '2024-05-08T02:00:00Z'`,
          [location],
        );
        expect(overlap.rows[0]).toEqual({ source_value: 42.8, run_id: String(results[1]!.runId) });
        expect(sent.filter((n) => n.source === 'weatherPipeline').length).toBe(2);
      },
    );
  });
});
