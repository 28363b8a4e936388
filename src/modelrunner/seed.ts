/**
 * Seeds: CSV files → rows and PostgreSQL column types, inferred like dbt (dbt-common's agate type
 * tester with dbt-postgres' type names): a column is the first of these that reads every non-null
 * value (null = empty or `null`, any case):
 * number (`integer` when no value has decimals, else `float8`; `bigint` beyond int4, where dbt fails), date `YYYY-MM-DD` (`date`),
 * `YYYY-MM-DD HH:MM:SS` or ISO 8601 date-time (`timestamp without time zone`), `true`/`false`
 * (`boolean`), else `text`. A column with no values at all is `integer`, as in dbt.
 * `column_types` overrides per column.
 */
import { parse } from 'csv-parse/sync';
import { ProjectError } from './errors';

/** A parsed seed. */
export interface SeedTable {
  columns: { name: string; type: string }[];
  /** Values as text, null for null values; one array per row. */
  rows: (string | null)[][];
}

const NULLS = new Set(['', 'null']);
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/;
const BOOLEAN = /^(true|false)$/i;

function validDate(v: string): boolean {
  return (
    !Number.isNaN(Date.parse(`${v.slice(0, 10)}T00:00:00Z`)) &&
    new Date(`${v.slice(0, 10)}T00:00:00Z`).toISOString().slice(0, 10) === v.slice(0, 10)
  );
}

/** The PostgreSQL type dbt-postgres would give a column with these (non-null) values. */
export function inferColumnType(values: string[]): string {
  if (values.length === 0) return 'integer';
  if (values.every((v) => NUMBER.test(v))) {
    // agate's MaxPrecision > 0 (a digit after the decimal point, or an exponent) → float8.
    if (values.some((v) => /\.\d|[eE]/.test(v))) return 'float8';
    // dbt says integer; values beyond int4 would fail to load there, bigint loads them.
    return values.every((v) => Math.abs(Number(v)) <= 2147483647) ? 'integer' : 'bigint';
  }
  if (values.every((v) => DATE.test(v) && validDate(v))) return 'date';
  if (values.every((v) => (DATETIME.test(v) || ISO_DATETIME.test(v)) && validDate(v))) return 'timestamp without time zone';
  if (values.every((v) => BOOLEAN.test(v))) return 'boolean';
  return 'text';
}

/**
 * Parses a seed CSV (header row first, RFC 4180 quoting, UTF-8 BOM allowed).
 * @param file path reported in errors.
 * @param columnTypes overrides by column name.
 * @throws ProjectError on malformed CSV, an empty file, duplicate or empty column names, or an
 *   override naming no column.
 */
export function parseSeed(file: string, csv: string, columnTypes: Record<string, string> = {}): SeedTable {
  let records: string[][];
  try {
    const rowsOut: unknown = parse(csv, { bom: true, skip_empty_lines: true, relax_column_count: false });
    records = rowsOut as string[][];
  } catch (e) {
    throw new ProjectError(file, `invalid CSV: ${(e as Error).message}`);
  }
  const header = records[0];
  if (!header || header.length === 0) throw new ProjectError(file, 'the seed has no header row');
  const names = header.map((h) => h.trim());
  const dup = names.find((n, i) => n === '' || names.indexOf(n) !== i);
  if (dup !== undefined) throw new ProjectError(file, dup === '' ? 'a column has no name' : `column ${dup} appears twice`);
  for (const c of Object.keys(columnTypes)) {
    if (!names.includes(c)) throw new ProjectError(file, `column_types names ${c}, which is not a column of the seed`);
  }
  const rows = records.slice(1).map((r) => r.map((v) => (NULLS.has(v.trim().toLowerCase()) ? null : v)));
  const columns = names.map((name, i) => ({
    name,
    type:
      columnTypes[name] ??
      inferColumnType(
        rows
          .map((r) => r[i])
          .filter((v): v is string => v !== null && v !== undefined)
          .map((v) => v.trim()),
      ),
  }));
  return { columns, rows };
}
