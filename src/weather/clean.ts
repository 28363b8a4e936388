/**
 * Cleaning of an Open-Meteo forecast response (`/v1/forecast`, `/v1/gfs`, … — column-oriented `hourly`
 * block with `hourly_units`; https://open-meteo.com/en/docs): one row per (hour, variable) with the value
 * converted to SI units and both units stated. Nothing is dropped silently: nulls are kept as NULL and
 * counted, missing and duplicate hours are counted, unparsable times reject their hour (counted), and
 * variables whose unit has no known conversion are kept in their source unit (listed).
 *
 * Conversions (exact factors): °F → °C: (x − 32) × 5/9; mph → m/s: × 0.44704 (international mile
 * 1609.344 m); km/h → m/s: ÷ 3.6; kn → m/s: × 1852/3600; hPa → Pa: × 100; mm → m: × 0.001; inch → m:
 * × 0.0254. Degrees Celsius (an SI derived unit) is used for temperature, degrees (°, accepted for use
 * with the SI) for directions; J/kg, m, Pa, % and unitless values are kept as they are.
 */

/** One hourly value. */
export interface HourlyValue {
  /** Valid time, ISO 8601 UTC. */
  validTime: string;
  variable: string;
  /** In `unit`; null when the provider sent null. */
  value: number | null;
  unit: string;
  sourceValue: number | null;
  sourceUnit: string;
}

/** Counts of a cleaning; `values = nonNull + nulls` and `values = hours × variables`. */
export interface CleanStats {
  hours: number;
  variables: number;
  values: number;
  nonNull: number;
  nulls: number;
  nullsByVariable: Record<string, number>;
  /** Hours missing between the first and last hour (gaps of the time axis). */
  missingHours: number;
  /** Hours given more than once (the later one wins, counted here). */
  duplicateHours: number;
  /** Hours rejected because their time could not be parsed. */
  rejectedHours: number;
  /** Arrays shorter than `time`, padded with nulls (variable → padded count). */
  padded: Record<string, number>;
  /** Values that were present but not finite numbers (stored as NULL, counted in `nulls` too). */
  invalid: number;
  /** Variables kept in their source unit (no known conversion). */
  unconverted: string[];
}

/** A cleaned forecast. */
export interface CleanForecast {
  latitude: number;
  longitude: number;
  elevationM: number | null;
  timezone: string | null;
  utcOffsetSeconds: number;
  rows: HourlyValue[];
  units: Record<string, { sourceUnit: string; unit: string }>;
  stats: CleanStats;
  /** `daily` block as received with `daily_units` (not converted; e.g. sunset times). */
  daily: { units: Record<string, string>; values: Record<string, unknown[]> };
  firstHour: string;
}

/** The response is not an Open-Meteo forecast (missing fields). Not retryable. */
export class ForecastFormatError extends Error {
  override readonly name = 'ForecastFormatError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`Open-Meteo response: ${field}: ${reason}`);
  }
}

type Conversion = { unit: string; f: (x: number) => number };

/** Source unit (as Open-Meteo writes it) → SI unit and conversion. */
export const CONVERSIONS: Record<string, Conversion> = {
  '°F': { unit: '°C', f: (x) => ((x - 32) * 5) / 9 },
  '°C': { unit: '°C', f: (x) => x },
  'mp/h': { unit: 'm/s', f: (x) => x * 0.44704 },
  mph: { unit: 'm/s', f: (x) => x * 0.44704 },
  'km/h': { unit: 'm/s', f: (x) => x / 3.6 },
  kn: { unit: 'm/s', f: (x) => (x * 1852) / 3600 },
  'm/s': { unit: 'm/s', f: (x) => x },
  hPa: { unit: 'Pa', f: (x) => x * 100 },
  Pa: { unit: 'Pa', f: (x) => x },
  mm: { unit: 'm', f: (x) => x / 1000 },
  inch: { unit: 'm', f: (x) => x * 0.0254 },
  cm: { unit: 'm', f: (x) => x / 100 },
  m: { unit: 'm', f: (x) => x },
  '°': { unit: '°', f: (x) => x },
  'J/kg': { unit: 'J/kg', f: (x) => x },
  '%': { unit: '%', f: (x) => x },
  '': { unit: '1', f: (x) => x },
};

const HOUR_MS = 3_600_000;

function parseTime(t: unknown, offsetSeconds: number): number {
  if (typeof t === 'number') return t * 1000; // timeformat=unixtime
  if (typeof t !== 'string') return NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(t);
  if (m) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!) - offsetSeconds * 1000;
  return Date.parse(t);
}

/**
 * Cleans a parsed response.
 * @throws {@link ForecastFormatError} when `hourly.time`, `hourly_units` or the coordinates are missing.
 */
export function cleanForecast(body: unknown): CleanForecast {
  const b = body as Record<string, unknown>;
  if (!b || typeof b !== 'object') throw new ForecastFormatError('(root)', 'not an object');
  if (typeof b.latitude !== 'number' || typeof b.longitude !== 'number') throw new ForecastFormatError('latitude/longitude', 'missing');
  const hourly = b.hourly as Record<string, unknown> | undefined;
  const units = (b.hourly_units ?? {}) as Record<string, string>;
  if (!hourly || !Array.isArray(hourly.time)) throw new ForecastFormatError('hourly.time', 'missing or not an array');
  const offset = typeof b.utc_offset_seconds === 'number' ? b.utc_offset_seconds : 0;
  const times = hourly.time as unknown[];
  const variables = Object.keys(hourly).filter((k) => k !== 'time');
  const stats: CleanStats = {
    hours: 0,
    variables: variables.length,
    values: 0,
    nonNull: 0,
    nulls: 0,
    nullsByVariable: {},
    missingHours: 0,
    duplicateHours: 0,
    rejectedHours: 0,
    padded: {},
    invalid: 0,
    unconverted: [],
  };
  const unitMap: CleanForecast['units'] = {};
  for (const v of variables) {
    const su = units[v];
    if (su === undefined) throw new ForecastFormatError(`hourly_units.${v}`, 'missing: the unit of every variable must be stated');
    const c = CONVERSIONS[su];
    if (!c) stats.unconverted.push(v);
    unitMap[v] = { sourceUnit: su, unit: c ? c.unit : su };
    const arr = hourly[v];
    if (!Array.isArray(arr)) throw new ForecastFormatError(`hourly.${v}`, 'not an array');
    if (arr.length < times.length) stats.padded[v] = times.length - arr.length;
  }
  // Hour index → position in the arrays (a later duplicate wins).
  const byHour = new Map<number, number>();
  times.forEach((t, i) => {
    const ms = parseTime(t, offset);
    if (!Number.isFinite(ms)) {
      stats.rejectedHours++;
      return;
    }
    if (byHour.has(ms)) stats.duplicateHours++;
    byHour.set(ms, i);
  });
  const hours = [...byHour.keys()].sort((a, b) => a - b);
  for (let i = 1; i < hours.length; i++) stats.missingHours += Math.max(0, Math.round((hours[i]! - hours[i - 1]!) / HOUR_MS) - 1);
  const rows: HourlyValue[] = [];
  for (const h of hours) {
    const idx = byHour.get(h)!;
    for (const v of variables) {
      const raw = (hourly[v] as unknown[])[idx];
      const src = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
      if (src === null && raw !== null && raw !== undefined) stats.invalid++;
      const u = unitMap[v]!;
      const c = CONVERSIONS[u.sourceUnit];
      const value = src === null ? null : c ? c.f(src) : src;
      if (value === null) {
        stats.nulls++;
        stats.nullsByVariable[v] = (stats.nullsByVariable[v] ?? 0) + 1;
      } else stats.nonNull++;
      stats.values++;
      rows.push({ validTime: new Date(h).toISOString(), variable: v, value, unit: u.unit, sourceValue: src, sourceUnit: u.sourceUnit });
    }
  }
  stats.hours = hours.length;
  const daily = (b.daily ?? {}) as Record<string, unknown[]>;
  return {
    latitude: b.latitude,
    longitude: b.longitude,
    elevationM: typeof b.elevation === 'number' ? b.elevation : null,
    timezone: typeof b.timezone === 'string' ? b.timezone : null,
    utcOffsetSeconds: offset,
    rows,
    units: unitMap,
    stats,
    daily: { units: (b.daily_units ?? {}) as Record<string, string>, values: daily },
    firstHour: hours.length ? new Date(hours[0]!).toISOString() : new Date(0).toISOString(),
  };
}
