/**
 * Storage of cleaned forecasts: one `weather.forecast_runs` row per fetch and its hourly values in
 * `weather.forecast_hourly` (latest forecast wins per location, hour and variable), in one transaction.
 */
import type { Pool } from '../db/pool';
import type { CleanForecast } from './clean';

/** What a store wrote. */
export interface StoredForecast {
  runId: number;
  location: string;
  rows: number;
  firstHour: string;
  hours: number;
}

/** Stores a cleaned forecast. @throws pg errors (the transaction is rolled back). */
export async function storeForecast(pool: Pool, location: string, url: string, f: CleanForecast): Promise<StoredForecast> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const run = await client.query<{ id: string }>(
      `INSERT INTO weather.forecast_runs (location, url, latitude, longitude, elevation_m, timezone, first_hour, hours, stats, units, daily)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
      [
        location,
        url,
        f.latitude,
        f.longitude,
        f.elevationM,
        f.timezone,
        f.firstHour,
        f.stats.hours,
        JSON.stringify(f.stats),
        JSON.stringify(f.units),
        JSON.stringify(f.daily),
      ],
    );
    const runId = Number(run.rows[0]!.id);
    let rows = 0;
    for (let i = 0; i < f.rows.length; i += 1000) {
      const c = f.rows.slice(i, i + 1000);
      const r = await client.query(
        `INSERT INTO weather.forecast_hourly (location, valid_time, variable, value, unit, source_value, source_unit, run_id)
         SELECT $1, t, v, x, u, sx, su, $2 FROM unnest($3::timestamptz[], $4::text[], $5::float8[], $6::text[], $7::float8[], $8::text[]) AS z(t, v, x, u, sx, su)
         ON CONFLICT (location, valid_time, variable) DO UPDATE SET value = EXCLUDED.value, unit = EXCLUDED.unit,
           source_value = EXCLUDED.source_value, source_unit = EXCLUDED.source_unit, run_id = EXCLUDED.run_id`,
        [
          location,
          runId,
          c.map((x) => x.validTime),
          c.map((x) => x.variable),
          c.map((x) => x.value),
          c.map((x) => x.unit),
          c.map((x) => x.sourceValue),
          c.map((x) => x.sourceUnit),
        ],
      );
      rows += r.rowCount ?? 0;
    }
    await client.query('COMMIT');
    return { runId, location, rows, firstHour: f.firstHour, hours: f.stats.hours };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
