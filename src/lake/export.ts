/**
 * Exports one hour of raw events from PostgreSQL to the lake (layout in `layout.ts`): every row whose
 * arrival time (`received_at`, like Firehose's arrival-time prefixes) falls in [hour, hour + 1 h), one
 * partition per source, and that hour's dead letters, one `errors/` partition per source.
 *
 * - Raw partition `<source>/dt=…/hour=…/`: one Parquet file per raw table the source has rows in, with
 *   that table's columns. A stream carries one kind, so normally one table and the file is
 *   `part-0.parquet`; a source with rows in several tables in the hour gets `part-0-<table>.parquet`
 *   for each (e.g. `part-0-gps_fixes.parquet`). Every file also names its table in the Parquet footer
 *   metadata (`table` = `ingest.<table>`).
 * - Dead-letter partition `errors/<source>/dt=…/hour=…/part-0.parquet` (columns of `ingest.dead_letters`,
 *   payload as BLOB).
 *
 * Idempotent: each produced partition is replaced whole, and partitions that an earlier export of the
 * hour wrote (tracked in `ingest.lake_partitions`, migration 050) but this one no longer produces are
 * removed. Rows are read in one REPEATABLE READ snapshot through server-side cursors into NDJSON
 * staging files, then written by the {@link LakeWriter}. Exports of the same hour are serialised by a
 * PostgreSQL advisory lock. `ingest.lake_partitions` has no lake-root column: one lake per database.
 * `ingest.lake_exports` (per dataset and hour, migration 010) is kept but no longer written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool, PoolClient } from '../db/pool';
import { errorsPrefix, eventsPrefix, LakeSourceNameError } from './layout';
import type { LakeColumns, LakeFile, LakeWriter } from './writer';

/** A PostgreSQL table exported to the lake. */
interface LakeDataset {
  table: string;
  columns: LakeColumns;
  /** SELECT list producing the columns (JSON-friendly values). */
  select: string;
}

/** The raw-event tables of the lake, by dataset name. */
export const RAW_DATASETS = {
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
} as const satisfies Record<string, LakeDataset>;

/** The dead letters dataset (`errors/` prefix). */
export const ERRORS_DATASET = {
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
  select:
    "id, source, origin::text AS origin, translate(encode(payload, 'base64'), E'\\n', '') AS payload, error_code, reason, batch_id, received_at",
} as const satisfies LakeDataset;

/** Every dataset of the lake: the raw tables and `errors` (dead letters); the values of the `datasets` filter. */
export const LAKE_DATASETS: Record<string, LakeDataset> = { ...RAW_DATASETS, errors: ERRORS_DATASET };

const RAW_NAMES = Object.keys(RAW_DATASETS);

/** File name of a single-file partition. */
export const PART_FILE = 'part-0.parquet';

/** One partition written or removed by {@link exportHour}. */
export interface LakePartition {
  /** Partition folder relative to the lake root, e.g. `plant-1/dt=2024-05-01/hour=13` or `errors/plant-1/…`. */
  prefix: string;
  /** Source name (not encoded). */
  source: string;
  /** Datasets with a file in the partition (raw table names, or `['errors']`); `[]` when removed. */
  datasets: string[];
  /** Files, relative to the lake root; `[]` when removed. */
  files: string[];
  /** Rows in the partition; 0 when removed. */
  rows: number;
  /** `written` (replaced whole) or `removed` (an earlier export's partition this one no longer produces). */
  status: 'written' | 'removed';
}

/** Options of {@link exportHour}. */
export interface ExportHourOptions {
  pool: Pool;
  writer: LakeWriter;
  /** Start of the hour (UTC, whole hour). */
  hour: Date;
  /**
   * Datasets to export (keys of {@link LAKE_DATASETS}). A raw dataset selects the raw partitions of the
   * sources with rows (now, or at the previous export) in that table; such a partition is always
   * rebuilt with ALL raw tables of its source, so a filtered run never drops another table's file.
   * `errors` selects the dead-letter partitions. @default every dataset
   */
  datasets?: string[];
  /** Only these sources (their partitions are written and, when stale, removed; others untouched). @default every source */
  sources?: string[];
}

/** Advisory lock namespace of the lake export (key 2: epoch hours). */
const LOCK_CLASS = 4_242_050;

/** Rows of one (dataset, source) in the staging folder. */
interface Staged {
  file: string;
  fd: number;
  rows: number;
}

/**
 * Exports the hour: writes one partition per source and dataset kind, records them in
 * `ingest.lake_partitions` (row first, then files), then removes the stale partitions of the hour.
 * @returns the written partitions (raw events by source, then dead letters by source), then the removed ones
 * @throws Error when `hour` is not a whole UTC hour or a dataset is unknown (nothing written)
 * @throws LakeSourceNameError after exporting every other partition, when a source cannot be a lake
 *   folder (raw events of a source named `errors`, an empty or over-long name); that partition is not
 *   written (the first such error is thrown)
 */
export async function exportHour(o: ExportHourOptions): Promise<LakePartition[]> {
  if (!Number.isFinite(o.hour.getTime()) || o.hour.getTime() % 3_600_000 !== 0) {
    throw new Error(`hour ${String(o.hour)} is not a whole UTC hour`);
  }
  const datasets = o.datasets ?? Object.keys(LAKE_DATASETS);
  const unknown = datasets.filter((d) => !(d in LAKE_DATASETS));
  if (unknown.length)
    throw new Error(`Unknown lake dataset(s) ${unknown.join(', ')}; choose from ${Object.keys(LAKE_DATASETS).join(', ')}`);
  const rawSelected = RAW_NAMES.filter((d) => datasets.includes(d));
  const sources = o.sources ?? null;

  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'lake-'));
  const staged = new Map<string, Map<string, Staged>>(); // dataset → source → rows
  const client = await o.pool.connect();
  const lockKey = o.hour.getTime() / 3_600_000;
  const written: LakePartition[] = [];
  const rejected: LakeSourceNameError[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, lockKey]);
    try {
      const previous = await previousPartitions(o.pool, o.hour, datasets, sources);
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        for (const name of Object.keys(LAKE_DATASETS).filter((d) => datasets.includes(d))) {
          await dump(client, name, o.hour, sources, staging, staged);
        }
        // Sources whose raw partition is in scope: rows in a selected table now, or at the previous export.
        const touched = new Set<string>();
        for (const name of rawSelected) for (const s of staged.get(name)?.keys() ?? []) touched.add(s);
        for (const p of previous) if (p.datasets.some((d) => rawSelected.includes(d))) touched.add(p.source);
        // Complete those partitions with the raw tables the filter left out.
        const others = RAW_NAMES.filter((d) => !rawSelected.includes(d));
        if (touched.size) for (const name of others) await dump(client, name, o.hour, [...touched], staging, staged);
        await client.query('COMMIT');

        for (const source of [...touched].sort()) {
          const tables = RAW_NAMES.filter((d) => staged.get(d)?.has(source));
          if (!tables.length) continue; // stale: removed below
          const prefix = checked(() => eventsPrefix(source, o.hour), rejected);
          if (prefix === undefined) continue;
          const files = tables.map((d) =>
            lakeFile(d, tables.length === 1 ? PART_FILE : `part-0-${d}.parquet`, staged.get(d)!.get(source)!),
          );
          written.push(await writePartition(o, prefix, source, tables, files));
        }
        const errors = [...(staged.get('errors') ?? new Map<string, Staged>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [source, s] of errors) {
          const prefix = checked(() => errorsPrefix(source, o.hour), rejected);
          if (prefix === undefined) continue;
          written.push(await writePartition(o, prefix, source, ['errors'], [lakeFile('errors', PART_FILE, s)]));
        }
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
      const produced = new Set(written.map((p) => p.prefix));
      const removed: LakePartition[] = [];
      for (const p of previous) {
        if (produced.has(p.prefix)) continue;
        await o.writer.removePartition(p.prefix);
        await o.pool.query('DELETE FROM ingest.lake_partitions WHERE prefix = $1', [p.prefix]);
        removed.push({ prefix: p.prefix, source: p.source, datasets: [], files: [], rows: 0, status: 'removed' });
      }
      written.push(...removed);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, lockKey]).catch(() => {});
    }
  } finally {
    client.release();
    for (const bySource of staged.values()) for (const s of bySource.values()) fs.closeSync(s.fd);
    fs.rmSync(staging, { recursive: true, force: true });
  }
  if (rejected[0]) throw rejected[0];
  return written;
}

/** `prefix()`, or undefined with the {@link LakeSourceNameError} collected in `rejected`. */
function checked(prefix: () => string, rejected: LakeSourceNameError[]): string | undefined {
  try {
    return prefix();
  } catch (e) {
    if (!(e instanceof LakeSourceNameError)) throw e;
    rejected.push(e);
    return undefined;
  }
}

function lakeFile(dataset: string, name: string, s: Staged): LakeFile {
  const ds = LAKE_DATASETS[dataset]!;
  return { name, columns: ds.columns, ndjsonFile: s.file, rows: s.rows, metadata: { table: ds.table } };
}

/** Records the partition (before writing it, so no partition on disk is untracked), then writes it. */
async function writePartition(
  o: ExportHourOptions,
  prefix: string,
  source: string,
  datasets: string[],
  files: LakeFile[],
): Promise<LakePartition> {
  const rows = files.reduce((n, f) => n + f.rows, 0);
  const fileRows = files.map((f, i) => ({ file: `${prefix}/${f.name}`, dataset: datasets[i], rows: f.rows }));
  await o.pool.query(
    `INSERT INTO ingest.lake_partitions (prefix, datasets, source, hour, rows, files) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
     ON CONFLICT (prefix) DO UPDATE SET datasets = EXCLUDED.datasets, source = EXCLUDED.source, hour = EXCLUDED.hour,
       rows = EXCLUDED.rows, files = EXCLUDED.files, exported_at = now()`,
    [prefix, datasets, source, o.hour, rows, JSON.stringify(fileRows)],
  );
  const paths = await o.writer.writePartition(prefix, files);
  return { prefix, source, datasets, files: paths, rows, status: 'written' };
}

/** Partitions of the hour recorded by earlier exports, within the run's dataset and source filters. */
async function previousPartitions(
  pool: Pool,
  hour: Date,
  datasets: string[],
  sources: string[] | null,
): Promise<Array<{ prefix: string; source: string; datasets: string[] }>> {
  const r = await pool.query<{ prefix: string; source: string; datasets: string[] }>(
    `SELECT prefix, source, datasets FROM ingest.lake_partitions
      WHERE hour = $1 AND datasets && $2::text[] AND ($3::text[] IS NULL OR source = ANY($3))
      ORDER BY prefix`,
    [hour, datasets, sources],
  );
  return r.rows;
}

/** Streams the hour's rows of `dataset` (optionally of `sources` only) into one NDJSON file per source. */
async function dump(
  client: PoolClient,
  dataset: string,
  hour: Date,
  sources: string[] | null,
  dir: string,
  staged: Map<string, Map<string, Staged>>,
): Promise<void> {
  const ds = LAKE_DATASETS[dataset]!;
  const bySource = staged.get(dataset) ?? new Map<string, Staged>();
  staged.set(dataset, bySource);
  await client.query(
    `DECLARE lake_cur NO SCROLL CURSOR FOR
       SELECT ${ds.select} FROM ${ds.table}
        WHERE received_at >= $1 AND received_at < $1::timestamptz + interval '1 hour'
          AND ($2::text[] IS NULL OR source = ANY($2))`,
    [hour, sources],
  );
  for (;;) {
    const r = await client.query<Record<string, unknown> & { source: string }>('FETCH 10000 FROM lake_cur');
    if (!r.rows.length) break;
    const lines = new Map<string, string[]>();
    for (const row of r.rows) {
      const l = lines.get(row.source) ?? [];
      l.push(JSON.stringify(row));
      lines.set(row.source, l);
    }
    for (const [source, l] of lines) {
      let s = bySource.get(source);
      if (!s) {
        const file = path.join(dir, `${dataset}-${bySource.size}.ndjson`);
        s = { file, fd: fs.openSync(file, 'w'), rows: 0 };
        bySource.set(source, s);
      }
      fs.writeSync(s.fd, l.join('\n') + '\n');
      s.rows += l.length;
    }
  }
  await client.query('CLOSE lake_cur');
}
