/**
 * Stage 5 (execute): builds one model's relation in PostgreSQL.
 *
 * Materializations (after dbt-postgres, https://docs.getdbt.com/docs/build/materializations):
 * - `table`: in ONE transaction, `CREATE TABLE <name>__dbt_tmp AS (<sql>)`, rename the existing relation
 *   to `<name>__dbt_backup`, rename the temp one to `<name>`, drop the backup (CASCADE, like dbt: views
 *   on the old table go with it). Readers see the old table until the commit, then the new one; never a
 *   half-built or missing table. A failed build rolls back and leaves the old table untouched.
 * - `view`: an existing view is replaced in place with `CREATE OR REPLACE VIEW` (dependent views stay);
 *   when that is impossible (columns removed or retyped) or a table stands there, the same swap as
 *   above is used.
 * Builders of the same relation are serialised with a transaction-level advisory lock.
 */
import type pg from 'pg';
import { isTransientDbError } from '../db/errors';
import { compileNode } from './compile';
import { ModelExecutionError, ModelRunnerError, SelectionError } from './errors';
import { quoteIdent, quoteRelation } from './identifiers';
import type { Manifest, NodeResult } from './types';

/** Options of {@link executeNode}. */
export interface ExecuteOptions {
  /** Label of the worker running the node, copied to `thread_id`. @default 'Thread-1' */
  threadId?: string;
  /** Write compiled SQL under `<target>/compiled/`. @default true */
  writeCompiled?: boolean;
}

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

async function ensureSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (e) {
    // Two builders creating the same schema at once: one wins, the other sees a unique violation.
    if ((e as { code?: string }).code !== '23505' && (e as { code?: string }).code !== '42P06') throw e;
  }
}

/** Builds `<schema>.<name>__dbt_tmp`, then swaps it in place of whatever is at `<schema>.<name>`. */
async function swapIn(db: Queryable, schema: string, name: string, createTmp: (tmp: string) => Promise<pg.QueryResult>): Promise<pg.QueryResult> {
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

function adapterResponse(r: pg.QueryResult, materialized: string): NodeResult['adapter_response'] {
  // Like dbt-postgres: row count for tables, -1 for views.
  if (materialized !== 'table') return { _message: 'CREATE VIEW', code: 'CREATE VIEW', rows_affected: -1 };
  const rows = typeof r.rowCount === 'number' ? r.rowCount : -1;
  return { _message: `SELECT ${rows}`, code: 'SELECT', rows_affected: rows };
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

/**
 * Compiles and builds one model.
 * @returns a `success` {@link NodeResult}; `adapter_response.rows_affected` is the row count of a table
 *   (-1 for views, like dbt-postgres).
 * @throws TemplateError / SelectionError when the node does not compile (not retryable).
 * @throws ModelExecutionError when the database refuses or fails (`retryable` set from the SQLSTATE).
 */
export async function executeNode(pool: pg.Pool, manifest: Manifest, uniqueId: string, opts: ExecuteOptions = {}): Promise<NodeResult> {
  const node = manifest.nodes[uniqueId];
  if (!node) throw new SelectionError(uniqueId, `${uniqueId} is not a model of project ${manifest.metadata.project_name}`);
  const compileStart = new Date();
  const compiled = compileNode(manifest, uniqueId, { write: opts.writeCompiled ?? true });
  const compileEnd = new Date();
  const { schema, alias, materialized } = node.config;
  const sql = compiled.compiledCode;
  let result: pg.QueryResult;
  let client: pg.PoolClient | undefined;
  try {
    await ensureSchema(pool, schema);
    client = await pool.connect();
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`iot_pipelines.models:${node.relation_name}`]);
      if (materialized === 'table') {
        result = await swapIn(client, schema, alias, (tmp) => client!.query(`CREATE TABLE ${tmp} AS (\n${sql}\n)`));
      } else {
        const existing = await relkind(client, schema, alias);
        let replaced: pg.QueryResult | undefined;
        if (existing === 'v') {
          await client.query('SAVEPOINT replace_view');
          try {
            replaced = await client.query(`CREATE OR REPLACE VIEW ${node.relation_name} AS (\n${sql}\n)`);
            await client.query('RELEASE SAVEPOINT replace_view');
          } catch (e) {
            if (!VIEW_REPLACE_REFUSED.has((e as { code?: string }).code ?? '')) throw e;
            await client.query('ROLLBACK TO SAVEPOINT replace_view');
          }
        }
        result = replaced ?? (await swapIn(client, schema, alias, (tmp) => client!.query(`CREATE VIEW ${tmp} AS (\n${sql}\n)`)));
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
  } catch (e) {
    if (e instanceof ModelRunnerError) throw e;
    throw toExecutionError(uniqueId, e);
  } finally {
    client?.release();
  }
  const executeEnd = new Date();
  const response = adapterResponse(result, materialized);
  return {
    unique_id: uniqueId,
    status: 'success',
    timing: [
      { name: 'compile', started_at: compileStart.toISOString(), completed_at: compileEnd.toISOString() },
      { name: 'execute', started_at: compileEnd.toISOString(), completed_at: executeEnd.toISOString() },
    ],
    thread_id: opts.threadId ?? 'Thread-1',
    execution_time: (executeEnd.getTime() - compileStart.getTime()) / 1000,
    message: response._message ?? null,
    adapter_response: response,
    compiled_code: sql,
    relation_name: node.relation_name,
    failures: null,
  };
}

export { failedResult } from './results';
