/**
 * The dbt-style model runner on the real PostgreSQL, in a fresh database per file: dependency order,
 * cycles, template errors, the table swap, artifacts, and the sensor pipeline's real models.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';
import {
  buildGraph,
  buildManifest,
  compileNode,
  CycleError,
  loadProject,
  quoteIdent,
  runModels,
  selectNodes,
  TemplateError,
  UnsafeIdentifierError,
  type Manifest,
  type RunResults,
} from '../src/modelrunner/index';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const FIXTURES = path.join(ROOT_DIR, 'test', 'fixtures');
const BASIC = path.join(FIXTURES, 'dbt-basic');

let db: TestDatabase;
const tmpDirs: string[] = [];
function tmpTarget(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrunner-'));
  tmpDirs.push(d);
  return d;
}

async function relkind(schema: string, name: string): Promise<string | undefined> {
  const r = await db.pool.query<{ relkind: string }>(
    `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return r.rows[0]?.relkind;
}

function writeProject(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrunner-project-'));
  tmpDirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

beforeAll(async () => {
  db = await createTestDatabase('modelrunner');
  await db.pool.query(`CREATE SCHEMA fixture_src; CREATE TABLE fixture_src.numbers (n int)`);
  await db.pool.query(`INSERT INTO fixture_src.numbers VALUES (1), (2), (3), (4), (NULL), (6)`);
});

afterAll(async () => {
  await db?.drop();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('parse, graph, compile (no database)', () => {
  it('builds the manifest of nested folders with folder configs, schema.yml and config() overrides', () => {
    const m = buildManifest(loadProject(BASIC), { targetDir: tmpTarget() });
    const totals = m.nodes['model.basic.totals'];
    expect(totals).toMatchObject({
      name: 'totals',
      original_file_path: 'models/marts/finance/totals.sql',
      path: 'marts/finance/totals.sql',
      fqn: ['basic', 'marts', 'finance', 'totals'],
      relation_name: '"analytics"."totals"',
      description: 'Count and sum of the even numbers.',
      depends_on: { nodes: ['model.basic.stg_evens'], macros: [] },
    });
    expect(totals!.config).toMatchObject({ materialized: 'table', schema: 'analytics', tags: ['finance'] });
    expect(totals!.raw_code).toBe(fs.readFileSync(path.join(BASIC, 'models/marts/finance/totals.sql'), 'utf8'));
    // config() in the file beats the marts folder's +materialized: table
    expect(m.nodes['model.basic.doubled']?.config.materialized).toBe('view');
    expect(m.nodes['model.basic.base_numbers']?.depends_on.nodes).toEqual(['source.basic.raw.numbers']);
    expect(m.sources['source.basic.raw.numbers']?.relation_name).toBe('"fixture_src"."numbers"');
    expect(m.child_map['model.basic.base_numbers']?.sort()).toEqual(['model.basic.doubled', 'model.basic.stg_evens']);
  });

  it('orders by ref() and selects name, +name and name+', () => {
    const g = buildGraph(buildManifest(loadProject(BASIC), { targetDir: tmpTarget() }));
    const pos = (n: string) => g.order.indexOf(`model.basic.${n}`);
    expect(pos('base_numbers')).toBeLessThan(pos('stg_evens'));
    expect(pos('stg_evens')).toBeLessThan(pos('totals'));
    expect(pos('base_numbers')).toBeLessThan(pos('doubled'));
    expect(selectNodes(g, ['+totals'])).toEqual(['model.basic.base_numbers', 'model.basic.stg_evens', 'model.basic.totals']);
    expect(selectNodes(g, ['stg_evens+'])).toEqual(['model.basic.stg_evens', 'model.basic.totals']);
    expect(selectNodes(g, ['totals'])).toEqual(['model.basic.totals']);
    expect(selectNodes(g, ['tag:finance', 'doubled']).sort()).toEqual(['model.basic.doubled', 'model.basic.totals']);
    expect(() => selectNodes(g, ['nope'])).toThrow(/matches no model/);
  });

  it('rejects a ref() cycle and names it', () => {
    const m = buildManifest(loadProject(path.join(FIXTURES, 'dbt-cycle')), { targetDir: tmpTarget() });
    let err: unknown;
    try {
      buildGraph(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CycleError);
    expect((err as CycleError).cycle).toEqual(['model.cycle.a', 'model.cycle.b', 'model.cycle.a']);
    expect((err as CycleError).message).toContain('a -> b -> a');
  });

  it('fails on an unknown template function with file, line and name', () => {
    let err: unknown;
    try {
      buildManifest(loadProject(path.join(FIXTURES, 'dbt-unknown-fn')), { targetDir: tmpTarget() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateError);
    expect(err).toMatchObject({ file: 'models/staging/bad.sql', line: 4, symbol: 'not_a_macro' });
    expect((err as Error).message).toBe('models/staging/bad.sql:4: unknown function not_a_macro()');
  });

  it('reports unknown refs, undeclared sources, unset vars and syntax errors with their line', () => {
    const project = (sql: string) =>
      writeProject({ 'dbt_project.yml': 'name: p\n', 'models/x/m.sql': sql, 'models/other.sql': 'select 1 as one' });
    const fail = (sql: string) => {
      try {
        buildManifest(loadProject(project(sql)));
      } catch (e) {
        return e as TemplateError;
      }
      throw new Error('expected a TemplateError');
    };
    expect(fail("select 1\nfrom {{ ref('missing') }}")).toMatchObject({ file: 'models/x/m.sql', line: 2, symbol: 'missing' });
    expect(fail("select 1\n\nfrom {{ source('nope', 't') }}")).toMatchObject({ line: 3, symbol: 'nope.t' });
    expect(fail("select\n{{ var('unset_var') }}")).toMatchObject({ line: 2, symbol: 'unset_var' });
    expect(fail('select 1\n{% if %}')).toMatchObject({ file: 'models/x/m.sql', line: 2 });
    expect(fail("select {{ ref('other') }}.{{ undefined_value }}")).toBeInstanceOf(TemplateError);
  });

  it('quotes identifiers or rejects them', () => {
    expect(quoteIdent('we"ird name')).toBe('"we""ird name"');
    expect(() => quoteIdent('')).toThrow(UnsafeIdentifierError);
    expect(() => quoteIdent('a\0b')).toThrow(UnsafeIdentifierError);
    expect(() => quoteIdent('x'.repeat(64))).toThrow(UnsafeIdentifierError);
  });

  it('compiles ref() and source() to quoted relations and writes target/compiled/<project>/<path>', () => {
    const target = tmpTarget();
    const m = buildManifest(loadProject(BASIC), { targetDir: target, vars: { factor: 5 } });
    const c = compileNode(m, 'model.basic.doubled');
    expect(c.compiledCode).toBe('select n * 5 as d from "analytics"."base_numbers"');
    expect(c.compiledPath).toBe(path.join(target, 'compiled', 'basic', 'models', 'marts', 'doubled.sql'));
    expect(fs.readFileSync(c.compiledPath as string, 'utf8').trim()).toBe(c.compiledCode);
    expect(compileNode(m, 'model.basic.stg_evens', { write: false }).compiledCode).toBe(
      '-- "analytics"."stg_evens" keeps the even numbers\nselect n from "analytics"."base_numbers" where n % 2 = 0',
    );
  });
});

describe('runModels on PostgreSQL', () => {
  let target: string;
  let run: RunResults;

  beforeAll(async () => {
    target = tmpTarget();
    run = await runModels({ pool: db.pool, projectDir: BASIC, targetDir: target, threads: 3 });
  });

  it('builds every model in dependency order with the right relation kinds and contents', async () => {
    expect(run.results.map((r) => [r.unique_id, r.status]).sort()).toEqual(
      ['base_numbers', 'doubled', 'stg_evens', 'swap_target', 'totals'].map((n) => [`model.basic.${n}`, 'success']),
    );
    expect(await relkind('analytics', 'base_numbers')).toBe('v');
    expect(await relkind('analytics', 'stg_evens')).toBe('v');
    expect(await relkind('analytics', 'doubled')).toBe('v');
    expect(await relkind('analytics', 'totals')).toBe('r');
    expect((await db.pool.query('SELECT cnt, total FROM analytics.totals')).rows).toEqual([{ cnt: 3, total: 12 }]);
    expect((await db.pool.query<{ d: number }>('SELECT d FROM analytics.doubled ORDER BY d')).rows.map((r) => r.d)).toEqual([
      2, 4, 6, 8, 12,
    ]);

    // Each model started executing after its parents completed.
    const byId = new Map(run.results.map((r) => [r.unique_id, r]));
    const m = JSON.parse(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8')) as Manifest;
    for (const r of run.results) {
      const start = Date.parse(r.timing.find((t) => t.name === 'execute')?.started_at ?? '');
      for (const p of m.nodes[r.unique_id]?.depends_on.nodes ?? []) {
        const parent = byId.get(p);
        if (!parent) continue; // sources
        expect(Date.parse(parent.timing.find((t) => t.name === 'execute')?.completed_at ?? '')).toBeLessThanOrEqual(start);
      }
    }
  });

  it('writes manifest.json and run_results.json with dbt field names', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.metadata.project_name).toBe('basic');
    expect(manifest.nodes['model.basic.totals']).toMatchObject({
      unique_id: 'model.basic.totals',
      resource_type: 'model',
      original_file_path: 'models/marts/finance/totals.sql',
      depends_on: { nodes: ['model.basic.stg_evens'] },
      config: { materialized: 'table' },
    });
    expect(typeof manifest.nodes['model.basic.totals']!.raw_code).toBe('string');
    expect(manifest.sources['source.basic.raw.numbers']!.schema).toBe('fixture_src');

    const results = JSON.parse(fs.readFileSync(path.join(target, 'run_results.json'), 'utf8')) as RunResults;
    expect(results.metadata.invocation_id).toBe(manifest.metadata.invocation_id);
    expect(typeof results.elapsed_time).toBe('number');
    expect(results.results).toHaveLength(5);
    for (const r of results.results) {
      expect(r).toMatchObject({ status: 'success', failures: null });
      expect(r.timing.map((t) => t.name)).toEqual(['compile', 'execute']);
      expect(r.execution_time).toBeGreaterThanOrEqual(0);
      expect(typeof r.message).toBe('string');
      expect(typeof r.adapter_response.rows_affected).toBe('number');
    }
    const totals = results.results.find((r) => r.unique_id === 'model.basic.totals');
    expect(totals!.adapter_response).toMatchObject({ code: 'SELECT', rows_affected: 1 });
    expect(totals!.message).toBe('SELECT 1');
    expect(totals!.compiled_code).toContain('"analytics"."stg_evens"');
    const view = results.results.find((r) => r.unique_id === 'model.basic.doubled');
    expect(view!.adapter_response.rows_affected).toBe(-1);
    const compiled = fs.readFileSync(path.join(target, 'compiled', 'basic', 'models', 'marts', 'finance', 'totals.sql'), 'utf8');
    expect(compiled).toContain('from "analytics"."stg_evens"');
  });

  it('runs only the selection and rebuilds views in place', async () => {
    const r = await runModels({ pool: db.pool, projectDir: BASIC, targetDir: tmpTarget(), select: ['+doubled'], vars: { factor: 3 } });
    expect(r.results.map((x) => x.unique_id)).toEqual(['model.basic.base_numbers', 'model.basic.doubled']);
    expect((await db.pool.query<{ m: number }>('SELECT max(d) AS m FROM analytics.doubled')).rows[0]!.m).toBe(18);
  });

  it('swaps tables atomically: readers see the old table during a build, a failed build keeps it', async () => {
    const count = async () => Number((await db.pool.query<{ c: string }>('SELECT count(*) AS c FROM analytics.swap_target')).rows[0]!.c);
    const oid = async () => (await db.pool.query<{ o: number }>(`SELECT 'analytics.swap_target'::regclass::oid AS o`)).rows[0]!.o;
    expect(await count()).toBe(3);
    const oldOid = await oid();

    // A slow rebuild (2 s in the SELECT) to 7 rows: meanwhile readers keep seeing the complete old table.
    const building = runModels({
      pool: db.pool,
      projectDir: BASIC,
      targetDir: tmpTarget(),
      select: ['swap_target'],
      vars: { swap_rows: 7, swap_sleep: 2 },
    });
    const seen: number[] = [];
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      seen.push(await count());
      await new Promise((r) => setTimeout(r, 100));
    }
    const rebuilt = await building;
    expect(rebuilt.results[0]?.status).toBe('success');
    expect(rebuilt.results[0]?.adapter_response.rows_affected).toBe(7);
    expect(seen.length).toBeGreaterThan(3);
    expect(new Set(seen)).toEqual(new Set([3]));
    expect(await count()).toBe(7);
    expect(await oid()).not.toBe(oldOid); // a new relation was swapped in

    // A build failing on its last row (division by zero) leaves the 7-row table as it was.
    const failed = await runModels({
      pool: db.pool,
      projectDir: BASIC,
      targetDir: tmpTarget(),
      select: ['swap_target'],
      vars: { swap_rows: 9, swap_fail: true },
    });
    expect(failed.results[0]).toMatchObject({ status: 'error' });
    expect(failed.results[0]?.message).toMatch(/division by zero/);
    expect(await count()).toBe(7);
    const leftovers = await db.pool.query(`SELECT relname FROM pg_class WHERE relname LIKE 'swap_target__dbt%'`);
    expect(leftovers.rows).toEqual([]);
  });

  it('replaces a view by a table and back when the materialization changes', async () => {
    const dir = writeProject({
      'dbt_project.yml': 'name: flip\n',
      'models/flip.sql': "{{ config(materialized=var('mat')) }}\nselect {{ var('v') }} as v",
    });
    const build = async (mat: string, v: string) => {
      const r = await runModels({ pool: db.pool, projectDir: dir, vars: { mat, v } });
      expect(r.results[0]?.status, r.results[0]?.message ?? '').toBe('success');
      return (await db.pool.query<{ v: unknown }>('SELECT v FROM analytics.flip')).rows[0]!.v;
    };
    expect(await build('view', '1')).toBe(1);
    expect(await relkind('analytics', 'flip')).toBe('v');
    expect(await build('table', '2')).toBe(2);
    expect(await relkind('analytics', 'flip')).toBe('r');
    expect(await build('view', "'x'")).toBe('x'); // view replacing a table: swap
    expect(await relkind('analytics', 'flip')).toBe('v');
    expect(await build('view', '3')).toBe(3); // text -> int: CREATE OR REPLACE VIEW refuses, swap instead
    expect(await build('view', '4')).toBe(4); // same shape: replaced in place
    const leftovers = await db.pool.query(`SELECT relname FROM pg_class WHERE relname LIKE 'flip__dbt%'`);
    expect(leftovers.rows).toEqual([]);
  });

  it('marks downstream models skipped after a failure and keeps building independent ones', async () => {
    const dir = writeProject({
      'dbt_project.yml': 'name: fail\n',
      'models/bad.sql': 'select * from no_such_table_anywhere',
      'models/bad_child.sql': "select * from {{ ref('bad') }}",
      'models/good.sql': 'select 1 as one',
    });
    const r = await runModels({ pool: db.pool, projectDir: dir });
    const status = Object.fromEntries(r.results.map((x) => [x.unique_id, x.status]));
    expect(status).toEqual({ 'model.fail.bad': 'error', 'model.fail.bad_child': 'skipped', 'model.fail.good': 'success' });
    expect(r.results.find((x) => x.unique_id === 'model.fail.bad')?.message).toMatch(/no_such_table_anywhere/);
  });
});

describe('incremental models whose columns change (on_schema_change)', () => {
  const project = (mode: string | undefined, select: string, alias = 'g0') =>
    writeProject({
      'dbt_project.yml': `name: osc\nversion: '1'\nmodel-paths: [models]\n`,
      'models/grow.sql':
        `{{ config(materialized='incremental', unique_key='n', incremental_strategy='merge', schema='osc', alias='${alias}'` +
        `${mode ? `, on_schema_change='${mode}'` : ''}) }}\nselect ${select} from fixture_src.numbers where n is not null`,
    });
  const columns = async (table: string) =>
    (
      await db.pool.query<{ c: string }>(
        `SELECT column_name || ' ' || data_type AS c FROM information_schema.columns WHERE table_schema = 'osc' AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      )
    ).rows.map((r) => r.c);
  const build = (mode: string | undefined, select: string, alias: string) =>
    runModels({ pool: db.pool, projectDir: project(mode, select, alias), targetDir: tmpTarget() });

  beforeAll(async () => {
    await db.pool.query('CREATE SCHEMA IF NOT EXISTS osc');
  });

  it('ignore (the default) writes the shared columns; append_new_columns adds the new one, old rows NULL', async () => {
    await build(undefined, 'n, n * 2 as twice', 'g1');
    let r = await build(undefined, 'n, n * 2 as twice, n * 3 as thrice', 'g1');
    expect(r.results[0]?.status).toBe('success');
    expect(await columns('g1')).toEqual(['n integer', 'twice integer']);

    await db.pool.query('INSERT INTO osc.g1 VALUES (100, 200)');
    r = await build('append_new_columns', 'n, n * 2 as twice, n * 3 as thrice', 'g1');
    expect(r.results[0]?.status).toBe('success');
    expect(await columns('g1')).toEqual(['n integer', 'twice integer', 'thrice integer']);
    expect((await db.pool.query('SELECT n, thrice FROM osc.g1 ORDER BY n')).rows).toEqual([
      { n: 1, thrice: 3 },
      { n: 2, thrice: 6 },
      { n: 3, thrice: 9 },
      { n: 4, thrice: 12 },
      { n: 6, thrice: 18 },
      { n: 100, thrice: null },
    ]);
  });

  it('fail names the difference and what to do; sync_all_columns drops, adds and retypes', async () => {
    await build(undefined, 'n, n * 2 as twice, n::int as same', 'g2');
    const failed = await build('fail', 'n, n::bigint as same, n * 3 as thrice', 'g2');
    expect(failed.results[0]?.status).toBe('error');
    expect(failed.results[0]?.message).toBe(
      `model.osc.grow: the model's columns differ from "osc"."g2" (new columns thrice integer; columns no longer in the model twice; ` +
        `changed types same integer → bigint) and on_schema_change is 'fail': run it with --full-refresh, or set on_schema_change to append_new_columns or sync_all_columns`,
    );
    expect(await columns('g2')).toEqual(['n integer', 'twice integer', 'same integer']);

    const synced = await build('sync_all_columns', 'n, n::bigint as same, n * 3 as thrice', 'g2');
    expect(synced.results[0]?.status).toBe('success');
    expect(await columns('g2')).toEqual(['n integer', 'same bigint', 'thrice integer']);
    expect((await db.pool.query('SELECT count(*)::int AS c FROM osc.g2 WHERE thrice = n * 3')).rows).toEqual([{ c: 5 }]);
  });

  it('rejects an unknown on_schema_change with the file and the allowed values', () => {
    const dir = project('append', 'n');
    expect(() => buildManifest(loadProject(dir), {})).toThrow(
      'config on_schema_change must be one of ignore, fail, append_new_columns, sync_all_columns',
    );
  });
});

describe('the sensor pipeline models (models/ at the repo root)', () => {
  type Row = [string, string, string, number | null, number | null, number | null, number | null, number | null];
  const rows: Row[] = [
    // source, device, time, temperature, humidity, light, co2, humidity_ratio
    ['test-src', 'd1', '2024-01-01T10:00:00Z', 20, 40, 100, 500, 0.005],
    ['test-src', 'd1', '2024-01-01T10:05:00Z', 22, -200, 300, 700, 0.006], // humidity fault code
    ['test-src', 'd1', '2024-01-01T10:09:59.999Z', 100, 50, 200000, 20000, 0.5], // only humidity usable
    ['test-src', 'd1', '2024-01-01T10:10:00Z', -200, -200, -200, -200, -200], // all faults: dropped
    ['test-src', 'd1', '2024-01-01T10:12:00Z', Number.NaN, 101, -1, -1, null], // nothing usable: dropped
    ['test-src', 'd1', '2024-01-01T10:15:00Z', -40, 0, 0, 10000, 0.1], // range boundaries are kept
    ['test-src', 'd2', '2024-01-01T10:03:00Z', 25, null, null, null, null],
    ['other-src', 'd1', '2024-01-01T10:01:00Z', 30, null, null, null, null],
  ];

  async function insert(schema: string, data: Row[]): Promise<void> {
    for (const r of data) {
      await db.pool.query(
        `INSERT INTO ${quoteIdent(schema)}.sensor_readings (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        r.map((v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN' : v)),
      );
    }
  }

  it('cleans readings and aggregates 10-minute windows with the contract columns', async () => {
    await insert('ingest', rows);
    const r = await runModels({ pool: db.pool, projectDir: ROOT_DIR, targetDir: tmpTarget() });
    expect(r.results.map((x) => [x.unique_id, x.status])).toEqual([
      // The mart over the declared sources (sources/*.yaml), whose tables the migrations created.
      ['model.iot_pipelines.declared_sensors_10min', 'success'],
      ['model.iot_pipelines.stg_sensor_readings', 'success'],
      ['model.iot_pipelines.sensor_readings_10min', 'success'],
    ]);
    expect(await relkind('analytics', 'declared_sensors_10min')).toBe('v');
    expect(await relkind('analytics', 'stg_sensor_readings')).toBe('v');
    expect(await relkind('analytics', 'sensor_readings_10min')).toBe('r');

    const stg = await db.pool.query(
      `SELECT source, device_id, to_char(event_time AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') AS t, temperature, humidity, light, co2, humidity_ratio
         FROM analytics.stg_sensor_readings ORDER BY source DESC, device_id, event_time`,
    );
    expect(stg.rows).toEqual([
      {
        source: 'test-src',
        device_id: 'd1',
        t: '10:00:00.000',
        temperature: 20,
        humidity: 40,
        light: 100,
        co2: 500,
        humidity_ratio: 0.005,
      },
      {
        source: 'test-src',
        device_id: 'd1',
        t: '10:05:00.000',
        temperature: 22,
        humidity: null,
        light: 300,
        co2: 700,
        humidity_ratio: 0.006,
      },
      {
        source: 'test-src',
        device_id: 'd1',
        t: '10:09:59.999',
        temperature: null,
        humidity: 50,
        light: null,
        co2: null,
        humidity_ratio: null,
      },
      { source: 'test-src', device_id: 'd1', t: '10:15:00.000', temperature: -40, humidity: 0, light: 0, co2: 10000, humidity_ratio: 0.1 },
      {
        source: 'test-src',
        device_id: 'd2',
        t: '10:03:00.000',
        temperature: 25,
        humidity: null,
        light: null,
        co2: null,
        humidity_ratio: null,
      },
      {
        source: 'other-src',
        device_id: 'd1',
        t: '10:01:00.000',
        temperature: 30,
        humidity: null,
        light: null,
        co2: null,
        humidity_ratio: null,
      },
    ]);

    const mart = await db.pool.query(
      `SELECT source, device_id, window_start = $1::timestamptz AS first_window, avg_temperature, avg_humidity, avg_light, avg_co2, reading_count
         FROM analytics.sensor_readings_10min ORDER BY source DESC, device_id, window_start`,
      ['2024-01-01T10:00:00Z'],
    );
    expect(mart.rows).toEqual([
      {
        source: 'test-src',
        device_id: 'd1',
        first_window: true,
        avg_temperature: 21,
        avg_humidity: 45,
        avg_light: 200,
        avg_co2: 600,
        reading_count: '3',
      },
      {
        source: 'test-src',
        device_id: 'd1',
        first_window: false,
        avg_temperature: -40,
        avg_humidity: 0,
        avg_light: 0,
        avg_co2: 10000,
        reading_count: '1',
      },
      {
        source: 'test-src',
        device_id: 'd2',
        first_window: true,
        avg_temperature: 25,
        avg_humidity: null,
        avg_light: null,
        avg_co2: null,
        reading_count: '1',
      },
      {
        source: 'other-src',
        device_id: 'd1',
        first_window: true,
        avg_temperature: 30,
        avg_humidity: null,
        avg_light: null,
        avg_co2: null,
        reading_count: '1',
      },
    ]);
    const second = await db.pool.query(
      `SELECT window_start = '2024-01-01T10:10:00Z'::timestamptz AS ok FROM analytics.sensor_readings_10min WHERE avg_temperature = -40`,
    );
    expect(second.rows).toEqual([{ ok: true }]);

    const cols = await db.pool.query(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'analytics' AND table_name = 'sensor_readings_10min' ORDER BY ordinal_position`,
    );
    expect(cols.rows).toEqual([
      { column_name: 'source', data_type: 'text' },
      { column_name: 'device_id', data_type: 'text' },
      { column_name: 'window_start', data_type: 'timestamp with time zone' },
      { column_name: 'avg_temperature', data_type: 'double precision' },
      { column_name: 'avg_humidity', data_type: 'double precision' },
      { column_name: 'avg_light', data_type: 'double precision' },
      { column_name: 'avg_co2', data_type: 'double precision' },
      { column_name: 'reading_count', data_type: 'bigint' },
      { column_name: 'ingest_batch_ids', data_type: 'ARRAY' },
      { column_name: 'workflow_run_id', data_type: 'text' },
    ]);
  });

  it('carries lineage: each window lists the ingest batches of its readings and the run that built it', async () => {
    const at = (m: number) => new Date(Date.UTC(2024, 1, 1, 8, m)).toISOString();
    const batched: [string, number, number][] = [
      // device, minute, batch_id: d1's first window is fed by batches 11 and 12, its second by 13;
      // a batch whose only reading the staging model drops (all fault codes) is not in the lineage.
      ['d1', 1, 12],
      ['d1', 2, 11],
      ['d1', 3, 12],
      ['d1', 14, 13],
      ['d2', 5, 14],
    ];
    for (const [device, minute, batch] of batched) {
      await db.pool.query(
        `INSERT INTO ingest.sensor_readings (source, device_id, event_time, temperature, batch_id) VALUES ('lineage-src', $1, $2, 21, $3)`,
        [device, at(minute), batch],
      );
    }
    await db.pool.query(
      `INSERT INTO ingest.sensor_readings (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio, batch_id)
       VALUES ('lineage-src', 'd1', $1, -200, -200, -200, -200, -200, 15)`,
      [at(4)],
    );
    const r = await runModels({
      pool: db.pool,
      projectDir: ROOT_DIR,
      targetDir: tmpTarget(),
      select: ['sensor_readings_10min'],
      vars: { data_interval_start: at(0), data_interval_end: at(20) },
    });
    expect(r.results.map((x) => x.status)).toEqual(['success']);
    const mart = await db.pool.query<{ device_id: string; m: number; ingest_batch_ids: string[]; workflow_run_id: string }>(
      `SELECT device_id, extract(minute FROM window_start)::int AS m, ingest_batch_ids, workflow_run_id
         FROM analytics.sensor_readings_10min WHERE source = 'lineage-src' ORDER BY device_id, window_start`,
    );
    expect(mart.rows).toEqual([
      { device_id: 'd1', m: 0, ingest_batch_ids: ['11', '12'], workflow_run_id: r.metadata.invocation_id },
      { device_id: 'd1', m: 10, ingest_batch_ids: ['13'], workflow_run_id: r.metadata.invocation_id },
      { device_id: 'd2', m: 0, ingest_batch_ids: ['14'], workflow_run_id: r.metadata.invocation_id },
    ]);
    // The compiled SQL has the run's own id: a second run re-stamps the windows it rebuilds.
    const again = await runModels({
      pool: db.pool,
      projectDir: ROOT_DIR,
      targetDir: tmpTarget(),
      select: ['sensor_readings_10min'],
      vars: { data_interval_start: at(10), data_interval_end: at(20) },
    });
    expect(again.metadata.invocation_id).not.toBe(r.metadata.invocation_id);
    const ids = await db.pool.query<{ m: number; workflow_run_id: string }>(
      `SELECT extract(minute FROM window_start)::int AS m, workflow_run_id FROM analytics.sensor_readings_10min
        WHERE source = 'lineage-src' AND device_id = 'd1' ORDER BY window_start`,
    );
    expect(ids.rows).toEqual([
      { m: 0, workflow_run_id: r.metadata.invocation_id },
      { m: 10, workflow_run_id: again.metadata.invocation_id },
    ]);
  });

  it('reads the source from the schema named by the ingest_schema var', async () => {
    await db.pool.query(`CREATE SCHEMA ingest_copy; CREATE TABLE ingest_copy.sensor_readings (LIKE ingest.sensor_readings INCLUDING ALL)`);
    await insert('ingest_copy', [['copy-src', 'dx', '2024-03-01T00:04:00Z', 18.5, 30, 10, 450, 0.004]]);
    // A full refresh: the incremental mart is rebuilt from the copy only (an incremental run would keep the other windows).
    const r = await runModels({
      pool: db.pool,
      projectDir: ROOT_DIR,
      targetDir: tmpTarget(),
      vars: { ingest_schema: 'ingest_copy' },
      fullRefresh: true,
    });
    expect(r.results.every((x) => x.status === 'success')).toBe(true);
    expect(r.results.find((x) => x.unique_id === 'model.iot_pipelines.stg_sensor_readings')?.compiled_code).toContain(
      'from "ingest_copy"."sensor_readings"',
    );
    const mart = await db.pool.query('SELECT source, avg_temperature, reading_count FROM analytics.sensor_readings_10min');
    expect(mart.rows).toEqual([{ source: 'copy-src', avg_temperature: 18.5, reading_count: '1' }]);
  });
});
