/**
 * Where the weather pipeline gets its forecast: the live Open-Meteo API for configured coordinates
 * (default), or any `url` (a local file `file://…` or a local server) — e.g. the real snapshots in
 * `data/weather-forecast`.
 */

/** Live API base (Open-Meteo, free, no key; CC BY 4.0 data). */
export const OPEN_METEO_FORECAST_URL = 'https://api.open-meteo.com/v1/forecast';

/** Hourly variables requested from the live API by default. */
export const DEFAULT_HOURLY = [
  'temperature_2m',
  'relative_humidity_2m',
  'precipitation',
  'pressure_msl',
  'wind_speed_10m',
  'wind_direction_10m',
] as const;

/** Forecast source settings (the `args` of `schedules/weather.yaml`). */
export interface WeatherConfig {
  /** Name of the place; key of the stored rows. @default 'aracaju' */
  location?: string;
  /** Degrees WGS84. @default -10.9112 (Aracaju, where the fleet drives) */
  latitude?: number;
  /** @default -37.0717 */
  longitude?: number;
  /** @default {@link DEFAULT_HOURLY} */
  hourly?: string[];
  /** @default 2 */
  forecastDays?: number;
  /** Full URL (http(s) or file://); overrides the live API and the coordinates. */
  url?: string;
}

/** Resolved source: the URL to read and the location key. */
export function forecastSource(c: WeatherConfig = {}): { url: string; location: string } {
  const location = c.location ?? 'aracaju';
  if (c.url) return { url: c.url, location };
  // Plain string building (runs inside workflows too).
  const q: Array<[string, string]> = [
    ['latitude', String(c.latitude ?? -10.9112)],
    ['longitude', String(c.longitude ?? -37.0717)],
    ['hourly', (c.hourly ?? DEFAULT_HOURLY).join(',')],
    ['forecast_days', String(c.forecastDays ?? 2)],
    ['timezone', 'UTC'],
  ];
  return { url: `${OPEN_METEO_FORECAST_URL}?${q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`, location };
}
