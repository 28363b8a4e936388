/**
 * Weather pipeline activities: fetch an Open-Meteo forecast (http(s) or file://, errors classified by
 * `src/activities/http.ts`) to a raw file → clean it (SI units, nulls/gaps counted) and store it →
 * publish it (the dashboard is told by PostgreSQL NOTIFY from the store; a notification summarises it).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import type { Notifier } from '../notify/index';
import { cleanForecast, ForecastFormatError, type CleanStats } from '../weather/clean';
import { storeForecast, type StoredForecast } from '../weather/store';
import { dbFailure } from './devices';
import { atActivityBoundary, readText } from './http';

/** Largest forecast body accepted, bytes. @default 5 MiB */
export const MAX_FORECAST_BYTES = 5 * 1024 * 1024;

/** Dependencies of {@link createWeatherActivities}. */
export interface WeatherActivityDeps {
  pool: Pool;
  notifier: Notifier;
  /** Raw responses go to `<outputDir>/weather/`. */
  outputDir: string;
}

/** Activity functions built by {@link createWeatherActivities}. */
export interface WeatherActivities {
  /**
   * Fetches `url` and saves the body as `<outputDir>/weather/<name>.json`.
   * @throws ApplicationFailure typed after the HTTP error (4xx/invalid URL/missing file non-retryable), `ForecastFormat` for a body that is not JSON.
   */
  fetchForecast(i: { url: string; name: string }): Promise<{ rawPath: string; bytes: number }>;
  /** Cleans the saved body and stores it. @throws ApplicationFailure `ForecastFormat` (non-retryable) for a body that is not an Open-Meteo forecast. */
  cleanAndStoreForecast(i: {
    rawPath: string;
    url: string;
    location: string;
  }): Promise<StoredForecast & { stats: CleanStats; units: Record<string, { sourceUnit: string; unit: string }> }>;
  /** Notifies that a forecast was stored. */
  publishForecast(i: {
    location: string;
    runId: number;
    hours: number;
    firstHour: string;
    nulls: number;
    missingHours: number;
  }): Promise<void>;
}

const formatFailure = (e: ForecastFormatError | SyntaxError, url: string) =>
  ApplicationFailure.create({ type: 'ForecastFormat', message: `${url}: ${e.message}`, nonRetryable: true, details: [{ url }] });

/** Builds the weather activities. */
export function createWeatherActivities(deps: WeatherActivityDeps): WeatherActivities {
  return {
    async fetchForecast({ url, name }) {
      const body = await atActivityBoundary(() => readText(url));
      if (Buffer.byteLength(body) > MAX_FORECAST_BYTES)
        throw ApplicationFailure.create({
          type: 'ResponseTooLarge',
          message: `${url} is larger than ${MAX_FORECAST_BYTES} bytes`,
          nonRetryable: true,
        });
      try {
        JSON.parse(body);
      } catch (e) {
        throw formatFailure(e as SyntaxError, url);
      }
      const dir = path.join(deps.outputDir, 'weather');
      await fs.mkdir(dir, { recursive: true });
      const rawPath = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
      await fs.writeFile(rawPath, body);
      return { rawPath, bytes: Buffer.byteLength(body) };
    },
    async cleanAndStoreForecast({ rawPath, url, location }) {
      let clean;
      try {
        clean = cleanForecast(JSON.parse(await fs.readFile(rawPath, 'utf8')));
      } catch (e) {
        if (e instanceof ForecastFormatError || e instanceof SyntaxError) throw formatFailure(e, url);
        throw e;
      }
      try {
        const stored = await storeForecast(deps.pool, location, url, clean);
        return { ...stored, stats: clean.stats, units: clean.units };
      } catch (e) {
        throw dbFailure(e);
      }
    },
    async publishForecast(i) {
      await atActivityBoundary(() =>
        deps.notifier.notify({
          dedupeKey: `weather/${i.location}/${i.runId}`,
          source: 'weatherPipeline',
          message: `Forecast for ${i.location} stored: ${i.hours} hour(s) from ${i.firstHour} (${i.nulls} null value(s), ${i.missingHours} missing hour(s))`,
          data: i,
        }),
      );
    },
  };
}
