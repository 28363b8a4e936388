/**
 * The weather pipeline (`weatherPipeline`, the seed's fetch → clean → push DAG), scheduled hourly by
 * `schedules/weather.yaml`: fetch an Open-Meteo forecast (live API for configured coordinates by
 * default; `url` may be a local file or server) → clean it to SI units and store it → publish it
 * (the dashboard updates live from the store's NOTIFY; a notification summarises the run).
 */
import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { WeatherActivities } from '../activities/weather';
import type { CleanStats } from '../weather/clean';
import { forecastSource, type WeatherConfig } from '../weather/config';
import { searchAttributeKeys } from '../config/names';

/** Fetch: network errors and 5xx retry with backoff; 4xx, bad URLs and missing files do not. */
export const FETCH_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6 },
} as const;
/** Clean/store/publish: short, retried on transient database or webhook errors. */
export const STORE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;

const { fetchForecast } = proxyActivities<WeatherActivities>(FETCH_ACTIVITY_OPTIONS);
const { cleanAndStoreForecast, publishForecast } = proxyActivities<WeatherActivities>(STORE_ACTIVITY_OPTIONS);

/** Input of {@link weatherPipeline}: the forecast source (see {@link WeatherConfig}); schedules add `schedule`. */
export type WeatherInput = WeatherConfig & { schedule?: unknown };

/** What a run did. */
export interface WeatherResult {
  url: string;
  location: string;
  runId: number;
  rows: number;
  hours: number;
  firstHour: string;
  stats: CleanStats;
  units: Record<string, { sourceUnit: string; unit: string }>;
}

/** Fetch → clean + store → publish. */
export async function weatherPipeline(input: WeatherInput = {}): Promise<WeatherResult> {
  const { url, location } = forecastSource(input);
  upsertSearchAttributes([{ key: searchAttributeKeys.PipelineName, value: 'weather' }]);
  const name = `${location}-${workflowInfo().runId}`;
  const raw = await fetchForecast({ url, name });
  const stored = await cleanAndStoreForecast({ rawPath: raw.rawPath, url, location });
  await publishForecast({
    location,
    runId: stored.runId,
    hours: stored.hours,
    firstHour: stored.firstHour,
    nulls: stored.stats.nulls,
    missingHours: stored.stats.missingHours,
  });
  return {
    url,
    location,
    runId: stored.runId,
    rows: stored.rows,
    hours: stored.hours,
    firstHour: stored.firstHour,
    stats: stored.stats,
    units: stored.units,
  };
}
