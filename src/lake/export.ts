/**
 * Exports one hour of raw events from PostgreSQL to the lake: every row whose arrival time
 * (`received_at`, like Firehose's arrival-time prefixes) falls in [hour, hour + 1 h) of each raw table,
 * and that hour's dead letters to the `errors` dataset. Rows are streamed through a server-side cursor
 * into an NDJSON staging file, then written by the {@link LakeWriter}.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from '../db/pool';
import type { LakeColumns, LakePartition, LakeWriter } from './writer';

/** A raw table exported to the lake. */
interface LakeDataset {
  table: string;
  columns: LakeColumns;
  /** SELECT list producing the columns (JSON-friendly values). */
  select: string;
}

/** The datasets of the lake: the raw tables and `errors` (dead letters). */
export const LAKE_DATASETS: Record<string, LakeDataset> = {
  sensor_readings: {
    table: 'ingest.sensor_readings',
    columns: {
      source: 'VARCHAR',
      device_id: 'VARCHAR',
      event_time: 'TIMESTAMPTZ',
      temperature: 'DOUBLE',
      humidity: 'DOUBLE',
      light: 'DOUBLE',
      co2: 'DOUBLE',
      humidity_ratio: 'DOUBLE',
      batch_id: 'BIGINT',
      received_at: 'TIMESTAMPTZ',
    },
    select: 'source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio, batch_id, received_at',
  },
  modem_telemetry: {
    table: 'ingest.modem_telemetry',
    columns: {
      source: 'VARCHAR',
      device_id: 'VARCHAR',
      interface: 'VARCHAR',
      event_time: 'TIMESTAMPTZ',
      model: 'VARCHAR',
      interface_status: 'VARCHAR',
      cpu_usage: 'DOUBLE',
      memory_usage: 'DOUBLE',
      batch_id: 'BIGINT',
      received_at: 'TIMESTAMPTZ',
    },
    select: 'source, device_id, interface, event_time, model, interface_status, cpu_usage, memory_usage, batch_id, received_at',
  },
  gps_fixes: {
    table: 'ingest.gps_fixes',
    columns: {
      source: 'VARCHAR',
      device_id: 'VARCHAR',
      seq: 'BIGINT',
      event_time: 'TIMESTAMPTZ',
      track_id: 'VARCHAR',
      latitude: 'DOUBLE',
      longitude: 'DOUBLE',
      batch_id: 'BIGINT',
      received_at: 'TIMESTAMPTZ',
    },
    select: 'source, device_id, seq, event_time, track_id, latitude, longitude, batch_id, received_at',
  },
  errors: {
    table: 'ingest.dead_letters',
    columns: {
      id: 'BIGINT',
      source: 'VARCHAR',
      origin: 'VARCHAR',
      payload: 'BLOB',
      error_code: 'VARCHAR',
      reason: 'VARCHAR',
      batch_id: 'BIGINT',
      received_at: 'TIMESTAMPTZ',
    },
    select: "id, source, origin::text AS origin, translate(encode(payload, 'base64'), E'\n', '') AS payload, error_code, reason, batch_id, received_at",
  },
};

/** Options of {@link exportHour}. */
export interface ExportHourOptions {
  pool: Pool;
  writer: LakeWriter;
  /** Start of the hour (UTC, whole hour). */
  hour: Date;
  /** Datasets to export. @default every key of {@link LAKE_DATASETS} */
  datasets?: string[];
  /** Optional extra filter on `source` (tests). */
  sources?: string[];
}

/**
 * Exports the hour; each dataset's partition is replaced whole and recorded in `ingest.lake_exports`.
 * @throws Error when `hour` is not a whole UTC hour or a dataset is unknown.
 */
export async function exportHour(o: ExportHourOptions): Promise<LakePartition[]> {
  if (o.hour.getTime() % 3_600_000 !== 0) throw new Error(`hour ${o.hour.toISOString()} is not a whole UTC hour`);
  const out: LakePartition[] = [];
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'lake-'));
  try {
    for (const name of o.datasets ?? Object.keys(LAKE_DATASETS)) {
      const ds = LAKE_DATASETS[name];
      if (!ds) throw new Error(`Unknown lake dataset ${name}; choose from ${Object.keys(LAKE_DATASETS).join(', ')}`);
      const file = path.join(staging, `${name}.ndjson`);
      const rows = await dumpRows(o.pool, ds, o.hour, file, o.sources);
      const part = await o.writer.writeHour(name, o.hour, ds.columns, file, rows);
      await o.pool.query(
        `INSERT INTO ingest.lake_exports (dataset, hour, rows, files) VALUES ($1, $2, $3, $4::jsonb)
         ON CONFLICT (dataset, hour) DO UPDATE SET rows = EXCLUDED.rows, files = EXCLUDED.files, exported_at = now()`,
        [name, o.hour, rows, JSON.stringify(part.files)],
      );
      out.push(part);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return out;
}

async function dumpRows(pool: Pool, ds: LakeDataset, hour: Date, file: string, sources?: string[]): Promise<number> {
  const client = await pool.connect();
  const fd = fs.openSync(file, 'w');
  let rows = 0;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(
      `DECLARE lake_cur NO SCROLL CURSOR FOR
         SELECT ${ds.select} FROM ${ds.table}
          WHERE received_at >= $1 AND received_at < $1::timestamptz + interval '1 hour'
            AND ($2::text[] IS NULL OR source = ANY($2))`,
      [hour, sources ?? null],
    );
    for (;;) {
      const r = await client.query<Record<string, unknown>>('FETCH 10000 FROM lake_cur');
      if (!r.rows.length) break;
      fs.writeSync(fd, r.rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
      rows += r.rows.length;
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    fs.closeSync(fd);
    client.release();
  }
  return rows;
}
