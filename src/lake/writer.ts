/**
 * The data lake (the seed's Firehose → S3): raw events as Parquet, Hive-partitioned
 * `<root>/<dataset>/dt=YYYY-MM-DD/hour=HH/`, dead letters under `<root>/errors/dt=…/hour=…/` (the
 * Firehose error prefix). Written by DuckDB (@duckdb/node-api) behind {@link LakeWriter}, so an
 * object store can follow. A partition is written to a staging folder and renamed over the old one:
 * re-running an hour replaces its partition whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** Column name → DuckDB type, in file order. */
export type LakeColumns = Record<string, 'VARCHAR' | 'DOUBLE' | 'BIGINT' | 'INTEGER' | 'TIMESTAMPTZ' | 'BLOB' | 'JSON'>;

/** One written partition. */
export interface LakePartition {
  /** Partition folder, relative to the lake root, e.g. `sensor_readings/dt=2024-05-01/hour=13`. */
  prefix: string;
  /** Files of the partition, relative to the lake root. */
  files: string[];
  rows: number;
}

/** Writes whole hourly partitions. */
export interface LakeWriter {
  /**
   * Replaces the partition of `dataset` for the hour starting at `hour` with the rows of the NDJSON
   * file `ndjsonFile` (one object per line with the keys of `columns`; BLOB columns base64).
   */
  writeHour(dataset: string, hour: Date, columns: LakeColumns, ndjsonFile: string, rows: number): Promise<LakePartition>;
}

/** `dt=YYYY-MM-DD/hour=HH` of an hour start (UTC). */
export function hourPrefix(hour: Date): string {
  const iso = hour.toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** {@link LakeWriter} on a local folder with DuckDB's Parquet writer (ZSTD compression). */
export class DuckDbLakeWriter implements LakeWriter {
  constructor(private readonly root: string) {}

  async writeHour(dataset: string, hour: Date, columns: LakeColumns, ndjsonFile: string, rows: number): Promise<LakePartition> {
    if (!/^[a-z0-9_/-]+$/.test(dataset)) throw new Error(`dataset ${JSON.stringify(dataset)} must match [a-z0-9_/-]+`);
    const prefix = `${dataset}/${hourPrefix(hour)}`;
    const final = path.join(this.root, prefix);
    const staging = `${final}.staging-${process.pid}-${Date.now()}`;
    fs.mkdirSync(staging, { recursive: true });
    const file = 'part-0.parquet';
    try {
      if (rows > 0) {
        const instance = await DuckDBInstance.create(':memory:');
        const conn = await instance.connect();
        try {
          const readCols = Object.entries(columns)
            .map(([k, t]) => `${sqlString(k)}: ${sqlString(t === 'BLOB' ? 'VARCHAR' : t)}`)
            .join(', ');
          const select = Object.entries(columns)
            .map(([k, t]) => (t === 'BLOB' ? `from_base64("${k}") AS "${k}"` : `"${k}"`))
            .join(', ');
          await conn.run(
            `COPY (SELECT ${select} FROM read_json(${sqlString(ndjsonFile)}, format = 'newline_delimited', columns = {${readCols}}))
               TO ${sqlString(path.join(staging, file))} (FORMAT parquet, COMPRESSION zstd)`,
          );
        } finally {
          conn.closeSync();
          instance.closeSync();
        }
      }
      fs.rmSync(final, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(final), { recursive: true });
      fs.renameSync(staging, final);
    } catch (e) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw e;
    }
    return { prefix, files: rows > 0 ? [`${prefix}/${file}`] : [], rows };
  }
}
