/**
 * Direct loader of GPS fixes into `ingest.gps_fixes` (bypasses the broker): for tests of the quality
 * checks and for backfills. Idempotent on the natural key (source, device_id, seq).
 */
import type { Pool } from '../db/pool';
import type { GpsFix } from './gps-files';

/** Rows per INSERT statement. */
const CHUNK = 1000;

/**
 * Inserts fixes under `source`. @returns rows inserted (existing keys are skipped).
 * @throws pg errors.
 */
export async function insertGpsFixes(pool: Pool, source: string, fixes: readonly GpsFix[], shiftMs = 0): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < fixes.length; i += CHUNK) {
    const chunk = fixes.slice(i, i + CHUNK);
    const r = await pool.query(
      `INSERT INTO ingest.gps_fixes (source, device_id, seq, event_time, track_id, latitude, longitude)
       SELECT $1, d, s, to_timestamp(t / 1000.0), tr, la, lo
         FROM unnest($2::text[], $3::bigint[], $4::float8[], $5::text[], $6::float8[], $7::float8[]) AS u(d, s, t, tr, la, lo)
       ON CONFLICT DO NOTHING`,
      [
        source,
        chunk.map((f) => f.deviceId),
        chunk.map((f) => f.seq),
        chunk.map((f) => f.eventTime + shiftMs),
        chunk.map((f) => f.trackId),
        chunk.map((f) => f.lat),
        chunk.map((f) => f.lon),
      ],
    );
    inserted += r.rowCount ?? 0;
  }
  return inserted;
}
