/**
 * Storage side of the data lake (the seed's Firehose → S3): whole partitions of Parquet files behind
 * the small {@link LakeWriter} interface, so an object store can follow the local-folder
 * {@link DuckDbLakeWriter}. The folder layout (which prefix holds what) is decided by `layout.ts` and
 * `export.ts`, not here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { DuckDBInstance } from '@duckdb/node-api';

/** Column name → DuckDB type, in file order. */
export type LakeColumns = Record<string, 'VARCHAR' | 'DOUBLE' | 'BIGINT' | 'INTEGER' | 'TIMESTAMPTZ' | 'BLOB' | 'JSON'>;

/** One Parquet file to write into a partition. */
export interface LakeFile {
  /** File name inside the partition folder, e.g. `part-0.parquet` (no `/`). */
  name: string;
  /** Columns of the file. */
  columns: LakeColumns;
  /**
   * Local NDJSON staging file with the rows: one object per line with the keys of `columns`;
   * TIMESTAMPTZ as ISO-8601 strings, BLOB columns base64.
   */
  ndjsonFile: string;
  /** Number of lines of `ndjsonFile` (> 0). */
  rows: number;
  /** Key/value metadata stored in the Parquet footer (e.g. `{ table: 'ingest.gps_fixes' }`). @default {} */
  metadata?: Record<string, string>;
}

/**
 * Writes and removes whole partitions. A partition is a prefix (folder) relative to the lake root,
 * e.g. `plant-1/dt=2024-05-01/hour=13`, that the writer owns completely.
 *
 * An object-store implementation uploads the new objects, then deletes every other object under the
 * prefix; the local one stages a folder and renames it into place.
 */
export interface LakeWriter {
  /**
   * Replaces the partition `prefix` whole with `files`: afterwards it holds exactly these files.
   * @returns the written files, relative to the lake root (`<prefix>/<name>`)
   */
  writePartition(prefix: string, files: LakeFile[]): Promise<string[]>;
  /** Removes the partition `prefix` and everything in it; no-op when it does not exist. */
  removePartition(prefix: string): Promise<void>;
}

/** Folder under the lake root for staging partitions (`_`-prefixed: ignored by pyarrow, Spark, Hive). */
export const STAGING_DIR = '_staging';

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * Checks that `prefix` is a relative partition path inside the lake: `/`-separated, non-empty
 * segments, none `.`, `..` or starting with `_` (reserved for {@link STAGING_DIR}).
 * @throws Error otherwise
 */
export function checkPrefix(prefix: string): void {
  const segments = prefix.split('/');
  const bad = segments.find((s) => s === '' || s === '.' || s === '..' || s.startsWith('_') || s.includes('\\'));
  if (bad !== undefined) throw new Error(`Lake: invalid partition prefix ${JSON.stringify(prefix)} (segment ${JSON.stringify(bad)})`);
}

/**
 * Renames `from` to `to`, creating `to`'s parent; retried when a concurrent {@link
 * DuckDbLakeWriter.removePartition} of a sibling deleted the (then empty) parent in between.
 */
function renameIntoPlace(from: string, to: string): void {
  for (let attempt = 1; ; attempt++) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    try {
      fs.renameSync(from, to);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw e;
    }
  }
}

/**
 * {@link LakeWriter} on a local folder, with DuckDB's Parquet writer (ZSTD compression). A partition
 * is written to `<root>/_staging/<uuid>/`, then the old folder is renamed aside, the staged one renamed
 * into place and the old one deleted: readers see the old or the new partition whole, never a mix
 * (between the two renames, for a moment, none). Staging is on the same file system as the lake, so
 * the renames are atomic.
 */
export class DuckDbLakeWriter implements LakeWriter {
  private readonly root: string;

  /** @param root lake root folder (created when missing) */
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /**
   * @throws Error for an invalid prefix or file name, or when DuckDB cannot read the NDJSON file
   */
  async writePartition(prefix: string, files: LakeFile[]): Promise<string[]> {
    checkPrefix(prefix);
    for (const f of files) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f.name)) throw new Error(`Lake: invalid file name ${JSON.stringify(f.name)}`);
    }
    const final = path.join(this.root, prefix);
    const staging = path.join(this.root, STAGING_DIR, randomUUID());
    fs.mkdirSync(staging, { recursive: true });
    try {
      if (files.some((f) => f.rows > 0)) {
        const instance = await DuckDBInstance.create(':memory:');
        const conn = await instance.connect();
        try {
          for (const f of files) {
            if (f.rows <= 0) continue;
            const readCols = Object.entries(f.columns)
              .map(([k, t]) => `${sqlString(k)}: ${sqlString(t === 'BLOB' ? 'VARCHAR' : t)}`)
              .join(', ');
            const select = Object.entries(f.columns)
              .map(([k, t]) => (t === 'BLOB' ? `from_base64(${sqlIdent(k)}) AS ${sqlIdent(k)}` : sqlIdent(k)))
              .join(', ');
            const kv = Object.entries(f.metadata ?? {})
              .map(([k, v]) => `${sqlIdent(k)}: ${sqlString(v)}`)
              .join(', ');
            await conn.run(
              `COPY (SELECT ${select} FROM read_json(${sqlString(f.ndjsonFile)}, format = 'newline_delimited', columns = {${readCols}}))
                 TO ${sqlString(path.join(staging, f.name))} (FORMAT parquet, COMPRESSION zstd${kv ? `, KV_METADATA {${kv}}` : ''})`,
            );
          }
        } finally {
          conn.closeSync();
          instance.closeSync();
        }
      }
      const old = `${staging}.old`;
      const hadOld = fs.existsSync(final);
      if (hadOld) fs.renameSync(final, old);
      try {
        renameIntoPlace(staging, final);
      } catch (e) {
        if (hadOld) fs.renameSync(old, final);
        throw e;
      }
      if (hadOld) fs.rmSync(old, { recursive: true, force: true });
    } catch (e) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw e;
    }
    return files.filter((f) => f.rows > 0).map((f) => `${prefix}/${f.name}`);
  }

  /** @throws Error for an invalid prefix */
  removePartition(prefix: string): Promise<void> {
    checkPrefix(prefix);
    fs.rmSync(path.join(this.root, prefix), { recursive: true, force: true });
    // Drop parent folders left empty (`hour=` → `dt=` → source), up to the root.
    let dir = path.dirname(path.join(this.root, prefix));
    while (dir.startsWith(this.root + path.sep) && fs.existsSync(dir) && fs.readdirSync(dir).length === 0) {
      fs.rmdirSync(dir);
      dir = path.dirname(dir);
    }
    return Promise.resolve();
  }
}
