/**
 * Applies `src/db/migrations/*.sql` in file-name order, each once, recorded in `ops.schema_migrations`.
 * Concurrent callers serialise on an advisory lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../config/env';
import type { Pool } from './pool';

/** The SQL files (read from the sources, also when the code runs from dist/). */
const MIGRATIONS_DIR = path.join(ROOT_DIR, 'src', 'db', 'migrations');
const LOCK_KEY = 4_242_001;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /**
   * Also create or evolve the tables of the declared sources (`sources/*.yaml`, `SOURCES_DIR`), so
   * models that select from them find them on any migrated database. @default true
   */
  sources?: boolean;
  /** Where problems with source files are reported (they never fail the migration). @default console.warn */
  log?: (line: string) => void;
}

/**
 * Applies pending migrations, then the declared sources' tables (see {@link MigrateOptions.sources}).
 * @returns the file names applied by this call.
 */
export async function migrate(pool: Pool, dir = MIGRATIONS_DIR, o: MigrateOptions = {}): Promise<string[]> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query('CREATE SCHEMA IF NOT EXISTS ops');
    await client.query(
      'CREATE TABLE IF NOT EXISTS ops.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM ops.schema_migrations')).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = fs.readFileSync(path.join(dir, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO ops.schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw new Error(`Migration ${file} failed: ${(e as Error).message}`);
      }
      applied.push(file);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    client.release();
  }
  if (o.sources !== false) await applySourceTables(pool, o.log ?? ((l) => console.warn(l)));
  return applied;
}

/**
 * Creates or evolves the table of every declared source. A file with problems, or a table change that
 * is refused, is reported and left for `sources apply`; it never fails the migration.
 */
async function applySourceTables(pool: Pool, log: (line: string) => void): Promise<void> {
  const { loadSources, SourceFileError } = await import('../sources/load');
  const { applyTable, SourceTableError } = await import('../sources/table');
  let sources;
  try {
    sources = loadSources();
  } catch (e) {
    if (!(e instanceof SourceFileError)) throw e;
    log(`Source files with problems (run iot-pipelines sources validate):\n${e.message}`);
    return;
  }
  for (const s of sources.values()) {
    try {
      await applyTable(pool, s);
    } catch (e) {
      if (!(e instanceof SourceTableError)) throw e;
      log(e.message);
    }
  }
}
