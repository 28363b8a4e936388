/**
 * Stage 5 (execute): builds one node in PostgreSQL: a model's relation, a seed's table, or a test's
 * failing-row count.
 *
 * Materializations (after dbt-postgres, https://docs.getdbt.com/docs/build/materializations):
 * - `table`: in ONE transaction, `CREATE TABLE <name>__dbt_tmp AS (<sql>)`, rename the existing relation
 *   to `<name>__dbt_backup`, rename the temp one to `<name>`, drop the backup (CASCADE, like dbt: views
 *   on the old table go with it). Readers see the old table until the commit, then the new one; never a
 *   half-built or missing table. A failed build rolls back and leaves the old table untouched.
 * - `view`: an existing view is replaced in place with `CREATE OR REPLACE VIEW` (dependent views stay);
 *   when that is impossible (columns removed or retyped) or a table stands there, the same swap as
 *   above is used.
 * - `incremental` (dbt-postgres): the first build, a `--full-refresh` or a non-table in the way → built
 *   like `table` (plus a unique index on `unique_key` for `merge`). Otherwise the model is compiled with
 *   `is_incremental()` true into a temporary table, then in the same transaction: `append` inserts it;
 *   `delete+insert` (the default with a `unique_key`) deletes the target rows with a key in it and
 *   inserts; `merge` runs `INSERT … ON CONFLICT (unique_key) DO UPDATE` (creating the unique index when
 *   missing). Columns the model gained or lost follow `on_schema_change` (dbt's: `ignore`, the default,
 *   writes only the columns both have; `fail`; `append_new_columns`; `sync_all_columns`).
 * - `ephemeral`: never built (inlined into its children as a CTE by compile.ts).
 * - seeds: CSV → table with inferred types (seed.ts); an existing table of the same columns and types is
 *   truncated and reloaded in one transaction (dependent views stay), otherwise build-then-swap.
 * - tests: `select count(*) … from (<test sql>)`; 0 rows = `pass`, else `fail` (`warn` with severity warn).
 * Builders of the same relation are serialised with a transaction-level advisory lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { isTransientDbError } from '../db/errors';
import { compileNodeAsync } from './compile';
import { ModelExecutionError, ModelRunnerError, SelectionError } from './errors';
import { quoteIdent, quoteRelation } from './identifiers';
import { parseSeed } from './seed';
import type { Manifest, ManifestNode, NodeResult } from './types';

/** Options of {@link executeNode}. */
export interface ExecuteOptions {
  /** Label of the worker running the node, copied to `thread_id`. @default 'Thread-1' */
  threadId?: string;
  /** Write compiled SQL under `<target>/compiled/`. @default true */
  writeCompiled?: boolean;
  /** Rebuild incremental models from scratch (unless they set `full_refresh: false`). @default false */
  fullRefresh?: boolean;
  /** The run's `invocation_id` in templates (e.g. the pipeline's workflow run id). @default the manifest's */
  invocationId?: string;
}

/** Rows per INSERT statement when loading a seed (PostgreSQL allows 65,535 parameters). */
export const SEED_INSERT_PARAMS = 30_000;

type Queryable = Pick<pg.PoolClient, 'query'>;

const TMP_SUFFIX = '__dbt_tmp';
const BACKUP_SUFFIX = '__dbt_backup';
/** SQLSTATEs of CREATE OR REPLACE VIEW refusing a column change. */
const VIEW_REPLACE_REFUSED = new Set(['42P16', '42804', '0A000']);

async function relkind(db: Queryable, schema: string, name: string): Promise<string | undefined> {
  const r = await db.query<{ relkind: string }>(
    `SELECT c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return r.rows[0]?.relkind;
}

function relationKeyword(kind: string): string {
  switch (kind) {
    case 'r':
    case 'p':
      return 'TABLE';
    case 'v':
      return 'VIEW';
    case 'm':
      return 'MATERIALIZED VIEW';
    case 'f':
      return 'FOREIGN TABLE';
    default:
      throw new ModelRunnerError(`cannot replace a relation of kind '${kind}'`);
  }
}

async function dropIfExists(db: Queryable, schema: string, name: string): Promise<void> {
  const kind = await relkind(db, schema, name);
  if (kind) await db.query(`DROP ${relationKeyword(kind)} ${quoteRelation(schema, name)} CASCADE`);
}

/** Schemas known to exist, per pool (forgotten when PostgreSQL says a schema is missing). */
const ensuredSchemas = new WeakMap<pg.Pool, Set<string>>();

async function ensureSchema(pool: pg.Pool, schema: string): Promise<void> {
  let known = ensuredSchemas.get(pool);
  if (!known) ensuredSchemas.set(pool, (known = new Set()));
  if (known.has(schema)) return;
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (e) {
    // Two builders creating the same schema at once: one wins, the other sees a unique violation.
    if ((e as { code?: string }).code !== '23505' && (e as { code?: string }).code !== '42P06') throw e;
  }
  known.add(schema);
}

/** Builds `<schema>.<name>__dbt_tmp`, then swaps it in place of whatever is at `<schema>.<name>`. */
async function swapIn(
  db: Queryable,
  schema: string,
  name: string,
  createTmp: (tmp: string) => Promise<pg.QueryResult>,
): Promise<pg.QueryResult> {
  const tmp = name + TMP_SUFFIX;
  const backup = name + BACKUP_SUFFIX;
  await dropIfExists(db, schema, tmp);
  await dropIfExists(db, schema, backup);
  const result = await createTmp(quoteRelation(schema, tmp));
  const existing = await relkind(db, schema, name);
  if (existing) {
    await db.query(`ALTER ${relationKeyword(existing)} ${quoteRelation(schema, name)} RENAME TO ${quoteIdent(backup)}`);
  }
  const tmpKind = (await relkind(db, schema, tmp)) as string;
  await db.query(`ALTER ${relationKeyword(tmpKind)} ${quoteRelation(schema, tmp)} RENAME TO ${quoteIdent(name)}`);
  if (existing) await dropIfExists(db, schema, backup);
  return result;
}

/**
 * Maps a database error of node `uniqueId` to a {@link ModelExecutionError} (retryable for connection
 * loss, server shutdown, deadlocks, serialization failures; not for SQL errors).
 */
export function toExecutionError(uniqueId: string, e: unknown): ModelExecutionError {
  if (e instanceof ModelExecutionError) return e;
  const code = (e as { code?: unknown })?.code;
  const message = (e as { message?: unknown })?.message;
  return new ModelExecutionError(uniqueId, typeof code === 'string' ? code : undefined, String(message ?? e), isTransientDbError(e));
}

function tableResponse(r: pg.QueryResult | undefined, verb = 'SELECT'): NodeResult['adapter_response'] {
  const rows = typeof r?.rowCount === 'number' ? r.rowCount : -1;
  return { _message: `${verb} ${rows}`, code: verb, rows_affected: rows };
}

const VIEW_RESPONSE: NodeResult['adapter_response'] = { _message: 'CREATE VIEW', code: 'CREATE VIEW', rows_affected: -1 };

/** Runs `fn` in a transaction holding the node's advisory lock. */
async function inLockedTransaction<T>(pool: pg.Pool, node: ManifestNode, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  await ensureSchema(pool, node.config.schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`iot_pipelines.models:${node.relation_name}`]);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
  } finally {
    client.release();
  }
}

async function buildView(client: pg.PoolClient, node: ManifestNode, sql: string): Promise<void> {
  const { schema, alias } = node.config;
  const existing = await relkind(client, schema, alias);
  if (existing === 'v') {
    await client.query('SAVEPOINT replace_view');
    try {
      await client.query(`CREATE OR REPLACE VIEW ${node.relation_name} AS (\n${sql}\n)`);
      await client.query('RELEASE SAVEPOINT replace_view');
      return;
    } catch (e) {
      if (!VIEW_REPLACE_REFUSED.has((e as { code?: string }).code ?? '')) throw e;
      await client.query('ROLLBACK TO SAVEPOINT replace_view');
    }
  }
  await swapIn(client, schema, alias, (tmp) => client.query(`CREATE VIEW ${tmp} AS (\n${sql}\n)`));
}

/** Name of the unique index backing `merge` (random suffix: old and new tables coexist during a swap). */
function uniqueIndexName(alias: string): string {
  return `${alias.slice(0, 40)}__uk_${randomBytes(4).toString('hex')}`;
}

async function columnsOf(client: pg.PoolClient, schema: string, name: string, temp = false): Promise<{ name: string; type: string }[]> {
  const r = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE ${temp ? 'n.oid = pg_my_temp_schema() AND $1::text IS NULL' : 'n.nspname = $1'} AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [temp ? null : schema, name],
  );
  return r.rows;
}

/** True when a unique index or constraint covers exactly `keys`. */
async function hasUniqueIndex(client: pg.PoolClient, schema: string, name: string, keys: string[]): Promise<boolean> {
  const r = await client.query<{ cols: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
      WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
      GROUP BY i.indexrelid`,
    [schema, name],
  );
  const want = [...keys].sort().join('\u0000');
  return r.rows.some((row) => row.cols.join('\u0000') === want);
}

/**
 * dbt's `on_schema_change` for an incremental run whose model output (`model`) differs from the existing
 * table (`table`): nothing for `ignore` (only the shared columns are written), an error for `fail`,
 * `ALTER TABLE … ADD COLUMN` for `append_new_columns`, and also `DROP COLUMN` / `ALTER COLUMN … TYPE`
 * for `sync_all_columns`, in the run's transaction.
 * @throws ModelRunnerError for `fail` when columns were added, removed or changed type.
 */
async function applySchemaChange(
  client: pg.PoolClient,
  node: ManifestNode,
  model: { name: string; type: string }[],
  table: { name: string; type: string }[],
): Promise<void> {
  const mode = node.config.on_schema_change ?? 'ignore';
  if (mode === 'ignore') return;
  const existing = new Map(table.map((c) => [c.name, c.type]));
  const inModel = new Set(model.map((c) => c.name));
  const added = model.filter((c) => !existing.has(c.name));
  const removed = table.filter((c) => !inModel.has(c.name));
  const changed = model.filter((c) => existing.has(c.name) && existing.get(c.name) !== c.type);
  if (added.length + removed.length + changed.length === 0) return;
  const target = node.relation_name;
  if (mode === 'fail') {
    const parts = [
      added.length ? `new columns ${added.map((c) => `${c.name} ${c.type}`).join(', ')}` : '',
      removed.length ? `columns no longer in the model ${removed.map((c) => c.name).join(', ')}` : '',
      changed.length ? `changed types ${changed.map((c) => `${c.name} ${existing.get(c.name)} → ${c.type}`).join(', ')}` : '',
    ].filter(Boolean);
    throw new ModelRunnerError(
      `${node.unique_id}: the model's columns differ from ${target} (${parts.join('; ')}) and on_schema_change is 'fail': ` +
        `run it with --full-refresh, or set on_schema_change to append_new_columns or sync_all_columns`,
    );
  }
  for (const c of added) await client.query(`ALTER TABLE ${target} ADD COLUMN ${quoteIdent(c.name)} ${c.type}`);
  if (mode !== 'sync_all_columns') return;
  for (const c of removed) await client.query(`ALTER TABLE ${target} DROP COLUMN ${quoteIdent(c.name)}`);
  for (const c of changed) {
    await client.query(`ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${c.type} USING ${quoteIdent(c.name)}::${c.type}`);
  }
}

async function buildIncremental(
  client: pg.PoolClient,
  manifest: Manifest,
  node: ManifestNode,
  opts: ExecuteOptions,
): Promise<{ sql: string; response: NodeResult['adapter_response'] }> {
  const { schema, alias } = node.config;
  const keys = node.config.unique_key ?? [];
  const strategy = node.config.incremental_strategy ?? (keys.length > 0 ? 'delete+insert' : 'append');
  if ((strategy === 'merge' || strategy === 'delete+insert') && keys.length === 0) {
    throw new ModelRunnerError(`${node.unique_id}: incremental_strategy '${strategy}' needs a unique_key`);
  }
  const existing = await relkind(client, schema, alias);
  const fullRefresh = (opts.fullRefresh ?? false) && node.config.full_refresh !== false;
  if (existing !== 'r' || fullRefresh) {
    const { compiledCode } = await compileNodeAsync(manifest, node.unique_id, {
      write: opts.writeCompiled ?? true,
      isIncremental: false,
      invocationId: opts.invocationId,
    });
    const r = await swapIn(client, schema, alias, async (tmp) => {
      const res = await client.query(`CREATE TABLE ${tmp} AS (\n${compiledCode}\n)`);
      if (strategy === 'merge')
        await client.query(
          `CREATE UNIQUE INDEX ${quoteIdent(uniqueIndexName(alias))} ON ${tmp} (${keys.map((k) => quoteIdent(k)).join(', ')})`,
        );
      return res;
    });
    return { sql: compiledCode, response: tableResponse(r) };
  }
  const { compiledCode } = await compileNodeAsync(manifest, node.unique_id, {
    write: opts.writeCompiled ?? true,
    isIncremental: true,
    invocationId: opts.invocationId,
  });
  const tmpName = `${alias}__dbt_tmp`;
  const tmp = quoteIdent(tmpName);
  await client.query(`CREATE TEMPORARY TABLE ${tmp} ON COMMIT DROP AS (\n${compiledCode}\n)`);
  const target = node.relation_name;
  const modelCols = await columnsOf(client, '', tmpName, true);
  const newCols = new Set(modelCols.map((c) => c.name));
  await applySchemaChange(client, node, modelCols, await columnsOf(client, schema, alias));
  const cols = (await columnsOf(client, schema, alias)).map((c) => c.name).filter((c) => newCols.has(c));
  for (const k of keys)
    if (!newCols.has(k)) throw new ModelRunnerError(`${node.unique_id}: unique_key column ${k} is not in the model's output`);
  const colList = cols.map((c) => quoteIdent(c)).join(', ');
  let r: pg.QueryResult;
  if (strategy === 'merge') {
    if (!(await hasUniqueIndex(client, schema, alias, keys))) {
      await client.query(
        `CREATE UNIQUE INDEX ${quoteIdent(uniqueIndexName(alias))} ON ${target} (${keys.map((k) => quoteIdent(k)).join(', ')})`,
      );
    }
    const updates = cols.filter((c) => !keys.includes(c)).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    r = await client.query(
      `INSERT INTO ${target} (${colList})\nSELECT ${colList} FROM ${tmp}\nON CONFLICT (${keys.map((k) => quoteIdent(k)).join(', ')}) ` +
        (updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'),
    );
  } else {
    if (strategy === 'delete+insert') {
      const match = keys.map((k) => `${target}.${quoteIdent(k)} = ${tmp}.${quoteIdent(k)}`).join(' AND ');
      await client.query(`DELETE FROM ${target} USING ${tmp} WHERE ${match}`);
    }
    r = await client.query(`INSERT INTO ${target} (${colList})\nSELECT ${colList} FROM ${tmp}`);
  }
  return { sql: compiledCode, response: tableResponse(r, 'INSERT 0') };
}

async function loadSeed(client: pg.PoolClient, manifest: Manifest, node: ManifestNode): Promise<NodeResult['adapter_response']> {
  const file = path.join(manifest.project_root, node.original_file_path);
  const seed = parseSeed(node.original_file_path, fs.readFileSync(file, 'utf8'), node.config.column_types);
  const { schema, alias } = node.config;
  const columnsDdl = seed.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  const insertInto = async (relation: string) => {
    const perRow = Math.max(1, seed.columns.length);
    const chunk = Math.max(1, Math.floor(SEED_INSERT_PARAMS / perRow));
    const colList = seed.columns.map((c) => quoteIdent(c.name)).join(', ');
    for (let i = 0; i < seed.rows.length; i += chunk) {
      const rows = seed.rows.slice(i, i + chunk);
      const params: (string | null)[] = [];
      const tuples = rows.map((row) => {
        const ph = seed.columns.map((_, j) => {
          params.push(row[j] ?? null);
          return `$${params.length}`;
        });
        return `(${ph.join(', ')})`;
      });
      await client.query(`INSERT INTO ${relation} (${colList}) VALUES ${tuples.join(', ')}`, params);
    }
  };
  const existing = await relkind(client, schema, alias);
  if (existing === 'r') {
    const current = await columnsOf(client, schema, alias);
    // Same columns and types (compared through PostgreSQL's own spelling of the types).
    const wanted = await client.query<{ t: string }>(
      `SELECT format_type(to_regtype(t)::oid, NULL) AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i`,
      [seed.columns.map((c) => c.type)],
    );
    const same =
      current.length === seed.columns.length &&
      current.every(
        (c, i) =>
          c.name === seed.columns[i]?.name &&
          c.type.replace(/\(.*\)/, '') === (wanted.rows[i]?.t ?? '').replace(/\(.*\)/, '') &&
          !/\(/.test(seed.columns[i]?.type ?? ''),
      );
    if (same) {
      await client.query(`TRUNCATE ${node.relation_name}`);
      await insertInto(node.relation_name);
      return { _message: `INSERT ${seed.rows.length}`, code: 'INSERT', rows_affected: seed.rows.length };
    }
  }
  await swapIn(client, schema, alias, async (tmp) => {
    const r = await client.query(`CREATE TABLE ${tmp} (${columnsDdl})`);
    await insertInto(tmp);
    return r;
  });
  return { _message: `INSERT ${seed.rows.length}`, code: 'INSERT', rows_affected: seed.rows.length };
}

async function runTest(
  pool: pg.Pool,
  node: ManifestNode,
  sql: string,
): Promise<{ status: 'pass' | 'fail' | 'warn'; failures: number; message: string | null; response: NodeResult['adapter_response'] }> {
  const r = await pool.query<{ failures: string }>(`select count(*) as failures from (\n${sql}\n) dbt_internal_test`);
  const failures = Number(r.rows[0]?.failures ?? 0);
  const severity = node.config.severity ?? 'error';
  const status = failures === 0 ? 'pass' : severity === 'warn' ? 'warn' : 'fail';
  const message =
    failures === 0
      ? null
      : `Got ${failures} result${failures === 1 ? '' : 's'}, configured to ${severity === 'warn' ? 'warn' : 'fail'} if != 0`;
  return { status, failures, message, response: { _message: 'SELECT 1', code: 'SELECT', rows_affected: 1 } };
}

/**
 * Compiles and builds (or tests, or loads) one node.
 * @returns a {@link NodeResult}: `success` for models and seeds (`rows_affected`: rows of a table or
 *   seed, -1 for views, like dbt-postgres), `pass` / `fail` / `warn` with `failures` for tests.
 * @throws TemplateError / SelectionError / ProjectError when the node does not compile or the seed
 *   does not parse (not retryable).
 * @throws ModelExecutionError when the database refuses or fails (`retryable` set from the SQLSTATE).
 */
export async function executeNode(pool: pg.Pool, manifest: Manifest, uniqueId: string, opts: ExecuteOptions = {}): Promise<NodeResult> {
  const node = manifest.nodes[uniqueId];
  if (!node) throw new SelectionError(uniqueId, `${uniqueId} is not a node of project ${manifest.metadata.project_name}`);
  const compileStart = new Date();
  let compileEnd = compileStart;
  let sql: string | null = null;
  let response: NodeResult['adapter_response'];
  let status: NodeResult['status'] = 'success';
  let failures: number | null = null;
  let message: string | null;
  try {
    if (node.resource_type === 'test') {
      sql = (await compileNodeAsync(manifest, uniqueId, { write: opts.writeCompiled ?? true, invocationId: opts.invocationId }))
        .compiledCode;
      compileEnd = new Date();
      const t = await runTest(pool, node, sql);
      ({ status, failures, message, response } = t);
    } else if (node.resource_type === 'seed') {
      compileEnd = new Date();
      response = await inLockedTransaction(pool, node, (client) => loadSeed(client, manifest, node));
      message = response._message ?? null;
    } else if (node.config.materialized === 'ephemeral') {
      sql = (await compileNodeAsync(manifest, uniqueId, { write: opts.writeCompiled ?? true, invocationId: opts.invocationId }))
        .compiledCode;
      compileEnd = new Date();
      response = {};
      message = 'EPHEMERAL';
    } else if (node.config.materialized === 'incremental') {
      const out = await inLockedTransaction(pool, node, (client) => buildIncremental(client, manifest, node, opts));
      compileEnd = new Date(compileStart.getTime());
      sql = out.sql;
      response = out.response;
      message = response._message ?? null;
    } else {
      const compiled = (await compileNodeAsync(manifest, uniqueId, { write: opts.writeCompiled ?? true, invocationId: opts.invocationId }))
        .compiledCode;
      sql = compiled;
      compileEnd = new Date();
      if (node.config.materialized === 'table') {
        const r = await inLockedTransaction(pool, node, (client) =>
          swapIn(client, node.config.schema, node.config.alias, (tmp) => client.query(`CREATE TABLE ${tmp} AS (\n${compiled}\n)`)),
        );
        response = tableResponse(r);
      } else {
        await inLockedTransaction(pool, node, (client) => buildView(client, node, compiled));
        response = VIEW_RESPONSE;
      }
      message = response._message ?? null;
    }
  } catch (e) {
    if ((e as { code?: string }).code === '3F000') ensuredSchemas.get(pool)?.delete(node.config.schema);
    if (e instanceof ModelRunnerError) throw e;
    throw toExecutionError(uniqueId, e);
  }
  const executeEnd = new Date();
  return {
    unique_id: uniqueId,
    status,
    timing: [
      { name: 'compile', started_at: compileStart.toISOString(), completed_at: compileEnd.toISOString() },
      { name: 'execute', started_at: compileEnd.toISOString(), completed_at: executeEnd.toISOString() },
    ],
    thread_id: opts.threadId ?? 'Thread-1',
    execution_time: (executeEnd.getTime() - compileStart.getTime()) / 1000,
    message,
    adapter_response: response,
    compiled_code: sql,
    relation_name: node.resource_type === 'test' || node.config.materialized === 'ephemeral' ? null : node.relation_name,
    failures,
  };
}

export { failedResult } from './results';
