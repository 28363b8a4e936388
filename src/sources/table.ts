/**
 * The typed table of a declared source, created and evolved like Kafka Connect's JDBC sink does with
 * `auto.create` / `auto.evolve`: a missing table is created, a new measurement adds a nullable column
 * (while the stream runs: `ADD COLUMN` without a default only touches the catalog), and a changed type
 * or a dropped measurement is refused with the statement that would migrate it. Every DDL statement is
 * recorded in `ops.schema_migrations` (name `source:<name>:<n>`, the statement, the source) in the
 * transaction that runs it. Names are validated identifiers (`declaration.ts`) and quoted again here; the
 * table is always in the `ingest` schema, and a table the project did not create for this source
 * (another source's, or one of the project's own) is never altered.
 *
 * Layout: `source`, `device_id`, `event_time`, `time_origin` (`payload` | `arrival`), `record_key`, one
 * column per measurement (comment: unit, range, description), `attributes jsonb`, `out_of_range text[]`,
 * `batch_id`, `received_at`; primary key (event_time, device_id, record_key), time first like the
 * telemetry table's; BRIN on `received_at`.
 */
import type { Pool, PoolClient } from '../db/pool';
import { quoteIdent } from '../modelrunner/identifiers';
import type { CompiledSource } from './compile';
import { RESERVED_COLUMNS, sourceKey, type MeasurementType } from './declaration';

/** PostgreSQL type of each measurement type (as `CREATE TABLE` writes it, and as `format_type` reports it). */
export const SQL_TYPES: Record<MeasurementType, { ddl: string; catalog: string }> = {
  double: { ddl: 'double precision', catalog: 'double precision' },
  bigint: { ddl: 'bigint', catalog: 'bigint' },
  boolean: { ddl: 'boolean', catalog: 'boolean' },
  text: { ddl: 'text', catalog: 'text' },
  timestamptz: { ddl: 'timestamptz', catalog: 'timestamp with time zone' },
  jsonb: { ddl: 'jsonb', catalog: 'jsonb' },
};

/** A table change that `sources apply` refuses, with how to migrate. */
export interface RefusedChange {
  column: string;
  reason: string;
  /** What the user can run or change. */
  migrate: string;
}

/** What applying a source does to its table. */
export interface TablePlan {
  table: string;
  action: 'create' | 'evolve' | 'unchanged' | 'refused';
  statements: string[];
  /** Measurements that add a column. */
  added: string[];
  refused: RefusedChange[];
}

/** `sources apply` refused a table change; `refused` lists each. */
export class SourceTableError extends Error {
  override readonly name = 'SourceTableError';
  constructor(
    readonly source: string,
    readonly table: string,
    readonly refused: RefusedChange[],
  ) {
    super(
      `${source}: ingest.${table} cannot follow the source file:\n` +
        refused.map((r) => `  - ${r.column}: ${r.reason}\n    to migrate: ${r.migrate}`).join('\n'),
    );
  }
}

const OWNER_PREFIX = 'iot-pipelines source ';
const LOCK_KEY = 4_242_002;

function comment(m: CompiledSource['measurements'][number]): string | undefined {
  const d = m.declaration;
  const parts = [d.description, d.unit && `unit: ${d.unit}`, d.range && `range: [${d.range[0] ?? ''}, ${d.range[1] ?? ''}]`];
  const text = parts.filter(Boolean).join('; ');
  return text || undefined;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The statements that create the table of `s`. */
export function createStatements(s: Pick<CompiledSource, 'name' | 'table' | 'measurements' | 'declaration'>): string[] {
  const t = `ingest.${quoteIdent(s.table)}`;
  const cols = s.measurements.map((m) => `  ${quoteIdent(m.name)} ${SQL_TYPES[m.type].ddl}`);
  const out = [
    `CREATE TABLE ${t} (
  source text NOT NULL,
  device_id text NOT NULL,
  event_time timestamptz NOT NULL,
  time_origin text NOT NULL CHECK (time_origin IN ('payload', 'arrival')),
  record_key text NOT NULL DEFAULT '',
${cols.join(',\n')},
  attributes jsonb,
  out_of_range text[],
  batch_id bigint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (${sourceKey(s.declaration)
    .map((c) => quoteIdent(c))
    .join(', ')})
)`,
    `CREATE INDEX ${quoteIdent(`${s.table}_received_brin`.slice(0, 63))} ON ${t} USING brin (received_at)`,
    `COMMENT ON TABLE ${t} IS ${literal(`${OWNER_PREFIX}${s.name}`)}`,
  ];
  for (const m of s.measurements) {
    const c = comment(m);
    if (c) out.push(`COMMENT ON COLUMN ${t}.${quoteIdent(m.name)} IS ${literal(c)}`);
  }
  return out;
}

/**
 * Compares the table of `s` with its declaration.
 * @returns what applying would do (nothing is changed)
 */
export async function planTable(
  db: Pool | PoolClient,
  s: Pick<CompiledSource, 'name' | 'table' | 'measurements' | 'declaration'>,
): Promise<TablePlan> {
  const t = `ingest.${quoteIdent(s.table)}`;
  const base = { table: s.table, added: [] as string[], refused: [] as RefusedChange[] };
  const owner = await db.query<{ comment: string | null }>(
    `SELECT obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'ingest' AND c.relname = $1`,
    [s.table],
  );
  if (!owner.rows.length) return { ...base, action: 'create', statements: createStatements(s) };
  const by = owner.rows[0]!.comment;
  if (by !== `${OWNER_PREFIX}${s.name}`) {
    return {
      ...base,
      action: 'refused',
      statements: [],
      refused: [
        {
          column: '(table)',
          reason: `ingest.${s.table} exists but was not created for source ${s.name} (${by ?? 'no iot-pipelines comment'})`,
          migrate: `choose another table: in the source file, or rename the existing table`,
        },
      ],
    };
  }
  const { rows } = await db.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [`ingest.${quoteIdent(s.table)}`],
  );
  const existing = new Map(rows.map((r) => [r.name, r.type]));
  // `ON CONFLICT (key)` needs a unique index on exactly the declared key: the primary key.
  const pk = await db.query<{ cols: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY k.i) AS cols
       FROM pg_index x
       CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
       JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
      WHERE x.indrelid = $1::regclass AND x.indisprimary`,
    [`ingest.${quoteIdent(s.table)}`],
  );
  const have = pk.rows[0]?.cols ?? [];
  const want = sourceKey(s.declaration);
  if ([...have].sort().join(',') !== [...want].sort().join(',')) {
    base.refused.push({
      column: '(key)',
      reason: `ingest.${s.table} has the primary key (${have.join(', ') || 'none'}), the source file declares key: [${want.join(', ')}]`,
      migrate: `declare key: [${have.join(', ')}] in the source file, or change the table's primary key yourself (ALTER TABLE ${t} DROP CONSTRAINT …, ADD PRIMARY KEY (${want.join(', ')})); then run sources apply again`,
    });
  }
  const declared = new Set(s.measurements.map((m) => m.name));
  const statements: string[] = [];
  for (const m of s.measurements) {
    const have = existing.get(m.name);
    const want = SQL_TYPES[m.type];
    if (have === undefined) {
      statements.push(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(m.name)} ${want.ddl}`);
      const c = comment(m);
      if (c) statements.push(`COMMENT ON COLUMN ${t}.${quoteIdent(m.name)} IS ${literal(c)}`);
      base.added.push(m.name);
    } else if (have !== want.catalog) {
      base.refused.push({
        column: m.name,
        reason: `is ${have} in ingest.${s.table}, declared ${m.type}; stored rows would have to be converted`,
        migrate: `declare a new measurement (e.g. ${m.name}_v2: { field: ${m.declaration.field ?? m.name}, type: ${m.type} }) and keep ${m.name} as ${have}, or convert it yourself: ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(m.name)} TYPE ${want.ddl} USING ${quoteIdent(m.name)}::${want.ddl}; then run sources apply again`,
      });
    }
  }
  for (const name of existing.keys()) {
    if ((RESERVED_COLUMNS as readonly string[]).includes(name) || declared.has(name)) continue;
    base.refused.push({
      column: name,
      reason: `is a column of ingest.${s.table} but no longer a measurement in the source file; dropping it would delete its stored values`,
      migrate: `keep the measurement declared (stop sending it: it stays NULL), or drop the column yourself: ALTER TABLE ${t} DROP COLUMN ${quoteIdent(name)}; then run sources apply again`,
    });
  }
  if (base.refused.length) return { ...base, action: 'refused', statements: [] };
  return { ...base, action: statements.length ? 'evolve' : 'unchanged', statements };
}

/**
 * Creates or evolves the table of `s` in one transaction (serialised with other appliers), recording
 * each statement in `ops.schema_migrations`.
 * @returns the plan that was carried out
 * @throws SourceTableError when the table cannot follow the declaration (nothing is changed)
 */
export async function applyTable(
  pool: Pool,
  s: Pick<CompiledSource, 'name' | 'table' | 'measurements' | 'declaration'>,
): Promise<TablePlan> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    const plan = await planTable(client, s);
    if (plan.action === 'refused') throw new SourceTableError(s.name, s.table, plan.refused);
    if (plan.statements.length) {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM ops.schema_migrations WHERE source = $1', [s.name]);
      let n = Number(rows[0]?.n ?? 0);
      for (const st of plan.statements) {
        await client.query(st);
        await client.query('INSERT INTO ops.schema_migrations (name, statement, source) VALUES ($1, $2, $3)', [
          `source:${s.name}:${String(++n).padStart(4, '0')}`,
          st,
          s.name,
        ]);
      }
    }
    await client.query('COMMIT');
    return plan;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
