/**
 * The complete dbt-style project (test/fixtures/dbt-full) on the real PostgreSQL, in a fresh database:
 * nested folder configs, seeds (inferred types, override, ref() to a seed), templating (set/for/if
 * pivot with whitespace control, loop.last, comments, docs blocks), every materialization (view,
 * table, ephemeral, incremental merge / delete+insert / append run twice on overlapping input), every
 * test type passing and failing (severity warn too), selection, resume, artifacts and identifier
 * safety.
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
  loadProject,
  parseSeed,
  planRun,
  ProjectError,
  runModels,
  selectNodes,
  TemplateError,
  type Manifest,
  type NodeResult,
  type RunResults,
} from '../src/modelrunner/index';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const FULL = path.join(ROOT_DIR, 'test', 'fixtures', 'dbt-full');

let db: TestDatabase;
const tmpDirs: string[] = [];
function tmpDir(prefix = 'models-project-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
function writeProject(files: Record<string, string>): string {
  const dir = tmpDir('models-project-src-');
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
const manifestOf = (vars: Record<string, unknown> = {}) => buildManifest(loadProject(FULL), { vars, targetDir: tmpDir() });
const byName = (r: RunResults) =>
  Object.fromEntries(r.results.map((x) => [x.unique_id.split('.').slice(0, 3).join('.'), x])) as Record<string, NodeResult>;
const statusOf = (r: RunResults): Record<string, string> =>
  Object.fromEntries(r.results.map((x) => [x.unique_id.split('.')[2] ?? x.unique_id, x.status]));

beforeAll(async () => {
  db = await createTestDatabase('modelsproject');
  await db.pool.query(`CREATE SCHEMA full_src; CREATE TABLE full_src.events (device text, ts timestamptz, value int)`);
});
afterAll(async () => {
  await db?.drop();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('parse: layout, configs, docs, tests', () => {
  it('resolves nested folder configs, seeds in folders, docs blocks and dbt test names', () => {
    const m = manifestOf();
    expect(m.nodes['model.full.paid_orders']?.config.materialized).toBe('ephemeral'); // staging/base: +materialized
    expect(m.nodes['model.full.stg_orders']?.config).toMatchObject({ materialized: 'view', tags: ['staging'] });
    expect(m.nodes['model.full.revenue_by_country']?.config.tags.sort()).toEqual(['finance', 'marts', 'revenue']);
    expect(m.nodes['model.full.events_merge']?.config).toMatchObject({
      materialized: 'incremental',
      unique_key: ['device', 'ts'],
      incremental_strategy: 'merge',
    });
    expect(m.nodes['model.full.events_delins']?.config.unique_key).toEqual(['device', 'ts']);
    expect(m.nodes['seed.full.customers']).toMatchObject({ resource_type: 'seed', fqn: ['full', 'lookups', 'customers'], tags: ['seed'] });
    expect(m.nodes['seed.full.countries']?.config.column_types).toEqual({ code: 'varchar(2)' });
    expect(m.nodes['model.full.stg_orders']?.description).toBe('One row per order, from the **orders** seed.');
    expect(m.nodes['seed.full.countries']?.description).toBe('Countries, "ISO 3166 codes."');
    expect(m.docs['doc.full.orders_doc']?.block_contents).toContain('orders');
    // ref() to a seed is a dependency; ref() through ephemerals too.
    expect(m.nodes['model.full.stg_orders']?.depends_on.nodes).toEqual(['seed.full.orders']);
    expect(m.nodes['model.full.revenue_by_country']?.depends_on.nodes.sort()).toEqual([
      'model.full.paid_fr',
      'model.full.paid_orders',
      'seed.full.countries',
    ]);
    const tests = Object.values(m.nodes).filter((n) => n.resource_type === 'test');
    const names = tests
      .map((t) => t.name)
      .filter((n) => !/^relationships_[0-9a-f]{32}$/.test(n))
      .sort();
    // ≥ 64 characters: hashed like dbt
    expect(tests.filter((t) => /^relationships_[0-9a-f]{32}$/.test(t.name))).toHaveLength(1);
    expect(names).toEqual(
      [
        'accepted_values_stg_orders_status__placed__shipped__returned',
        'assert_no_negative_amounts',
        'not_null_countries_code',
        'not_null_customers_customer_id',
        'not_null_stg_orders_id',
        'relationships_revenue_by_country_code__code__ref_countries_',
        'source_not_null_raw_events_device',
        'status_known_warn',
        'unique_countries_code',
        'unique_customers_customer_id',
        'unique_stg_orders_id',
      ].sort(),
    );
    const rel = tests.find((t) => t.test_metadata?.name === 'relationships' && t.attached_node === 'model.full.stg_orders');
    expect(rel?.depends_on.nodes.sort()).toEqual(['model.full.stg_orders', 'seed.full.customers']);
    expect(tests.find((t) => t.name === 'status_known_warn')?.config.severity).toBe('warn');
    expect(tests.find((t) => t.name === 'unique_stg_orders_id')?.config.severity).toBe('error');
  });

  it('renders a {% for %} pivot over a {% set %} list with whitespace control, comments and loop.last', () => {
    const c = compileNode(manifestOf(), 'model.full.status_pivot', { write: false });
    expect(c.compiledCode).toBe(
      [
        'select',
        '    country,',
        "    count(*) filter (where status = 'placed') as n_placed,",
        `    coalesce(sum(amount) filter (where status = 'placed'), 0) as "amount_placed",`,
        "    count(*) filter (where status = 'shipped') as n_shipped,",
        `    coalesce(sum(amount) filter (where status = 'shipped'), 0) as "amount_shipped",`,
        "    count(*) filter (where status = 'returned') as n_returned,",
        `    coalesce(sum(amount) filter (where status = 'returned'), 0) as "amount_returned"`,
        'from "analytics"."stg_orders"',
        'group by country',
      ].join('\n'),
    );
  });

  it('inlines ephemeral models as CTEs, nested ones first, merged into an existing with', () => {
    const c = compileNode(manifestOf(), 'model.full.revenue_by_country', { write: false });
    expect(c.compiledCode.startsWith('with "__dbt__cte__paid_orders" as (')).toBe(true);
    expect(c.compiledCode.indexOf('"__dbt__cte__paid_orders" as (')).toBeLessThan(c.compiledCode.indexOf('"__dbt__cte__paid_fr" as ('));
    expect(c.compiledCode).toContain('),\npaid as (');
    expect(c.compiledCode).toContain('join "analytics"."countries" c');
    expect(c.compiledCode.match(/\bwith\b/gi)?.length).toBe(2); // the outer one, and paid_fr's own inside its CTE
  });

  it('fails on unknown functions with file, line and name, also in singular tests', () => {
    const dir = writeProject({
      'dbt_project.yml': 'name: p\n',
      'models/m.sql': 'select 1 as x',
      'tests/nested/t.sql': "select *\nfrom {{ ref('m') }}\nwhere {{ dbt_utils_star('x') }}",
    });
    let err: unknown;
    try {
      buildManifest(loadProject(dir));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateError);
    expect(err).toMatchObject({ file: 'tests/nested/t.sql', line: 3, symbol: 'dbt_utils_star' });
  });

  it('rejects unsafe identifiers and types from config, and malformed tests', () => {
    const project = (files: Record<string, string>) => () =>
      buildManifest(loadProject(writeProject({ 'dbt_project.yml': 'name: p\n', ...files })));
    expect(project({ 'models/m.sql': `{{ config(alias='${'x'.repeat(60)}') }}select 1` })).toThrow(/longer than/);
    expect(project({ 'models/m.sql': "{{ config(materialized='incremental', unique_key='a\u0000b') }}select 1" })).toThrow(/NUL/);
    expect(
      project({
        'seeds/s.csv': 'a\n1\n',
        'seeds/p.yml': 'version: 2\nseeds:\n  - name: s\n    config:\n      column_types: { a: "int; drop table x" }\n',
      }),
    ).toThrow(ProjectError);
    expect(
      project({
        'models/m.sql': 'select 1 as a',
        'models/p.yml': 'version: 2\nmodels:\n  - name: m\n    columns:\n      - name: a\n        data_tests: [dbt_utils_weird]\n',
      }),
    ).toThrow(/unknown generic test 'dbt_utils_weird'/);
    expect(project({ 'models/m.sql': "{{ config(materialized='snapshot') }}select 1" })).toThrow(/not supported/);
  });

  it('infers seed column types like dbt and honours overrides', () => {
    const s = parseSeed(
      'x.csv',
      'i,f,d,ts,b,t,e\n1,1.5,2024-01-01,2024-01-01 10:00:00,true,x,\n-2,3,2024-02-29,2024-01-01T10:00:00Z,False,7,null\n',
      { t: 'text' },
    );
    expect(s.columns).toEqual([
      { name: 'i', type: 'integer' },
      { name: 'f', type: 'float8' },
      { name: 'd', type: 'date' },
      { name: 'ts', type: 'timestamp without time zone' },
      { name: 'b', type: 'boolean' },
      { name: 't', type: 'text' },
      { name: 'e', type: 'integer' },
    ]);
    expect(s.rows[0]?.[6]).toBeNull();
    expect(s.rows[1]?.[6]).toBeNull();
    expect(() => parseSeed('x.csv', 'a,a\n1,2\n')).toThrow(/appears twice/);
  });
});

describe('selection', () => {
  const g = () => buildGraph(manifestOf());
  const names = (ids: string[]) => ids.map((id) => id.split('.')[2]).sort();

  it('supports n+name, name+n, config.materialized:, intersections, unions, exclude and resource types', () => {
    const graph = g();
    const models = { resourceTypes: ['model' as const] };
    expect(names(selectNodes(graph, ['1+revenue_by_country'], models))).toEqual(['paid_fr', 'paid_orders', 'revenue_by_country']);
    expect(names(selectNodes(graph, ['+revenue_by_country'], { resourceTypes: ['model', 'seed'] }))).toEqual([
      'countries',
      'orders',
      'paid_fr',
      'paid_orders',
      'revenue_by_country',
      'stg_orders',
    ]);
    expect(names(selectNodes(graph, ['stg_orders+1'], models))).toEqual(['paid_orders', 'status_pivot', 'stg_orders']);
    expect(names(selectNodes(graph, ['config.materialized:incremental'], models))).toEqual([
      'events_append',
      'events_delins',
      'events_merge',
    ]);
    expect(names(selectNodes(graph, ['tag:marts,config.materialized:table'], models))).toEqual([
      'fragile',
      'fragile_child',
      'revenue_by_country',
      'status_pivot',
    ]);
    expect(names(selectNodes(graph, ['tag:marts', 'tag:incremental'], { ...models, exclude: ['fragile+', 'events_append'] }))).toEqual([
      'events_delins',
      'events_merge',
      'revenue_by_country',
      'status_pivot',
    ]);
    expect(names(selectNodes(graph, ['path:models/staging/base'], models))).toEqual(['paid_fr', 'paid_orders']);
    expect(names(selectNodes(graph, ['countries'], { resourceTypes: ['seed'] }))).toEqual(['countries']);
    // Tests of selected nodes come along (eager), and go with --exclude.
    expect(
      names(selectNodes(graph, ['customers'], { resourceTypes: ['test'] })).map((n) => n?.replace(/^relationships_.*/, 'relationships')),
    ).toEqual(['not_null_customers_customer_id', 'relationships', 'unique_customers_customer_id']);
    expect(names(selectNodes(graph, ['seed.full.customers'], { resourceTypes: ['test'], exclude: ['test_name:unique'] }))).toHaveLength(2);
    expect(() => selectNodes(graph, ['nope'])).toThrow(/matches no model/);
  });

  it('selects result:error+ and result:skipped from the previous run', () => {
    const previous = { 'model.full.fragile': 'error', 'model.full.fragile_child': 'skipped', 'model.full.stg_orders': 'success' } as const;
    expect(names(selectNodes(g(), ['result:error+'], { previousResults: previous }))).toEqual(['fragile', 'fragile_child']);
    expect(names(selectNodes(g(), ['result:skipped'], { previousResults: previous }))).toEqual(['fragile_child']);
    expect(() => selectNodes(g(), ['result:error'])).toThrow(/previous run/);
  });

  it('plans build so that a node waits for its parents and for their tests', () => {
    const { plan } = planRun(manifestOf(), { which: 'build' });
    const pivot = plan.find((p) => p.name === 'status_pivot');
    expect(pivot?.dependsOn).toEqual(expect.arrayContaining(['model.full.stg_orders']));
    expect(pivot?.dependsOn.some((d) => d.startsWith('test.full.unique_stg_orders_id'))).toBe(true);
    expect(plan.some((p) => p.name === 'paid_orders')).toBe(false); // ephemeral: never run
    // revenue_by_country reaches stg_orders through the ephemeral paid_orders.
    expect(plan.find((p) => p.name === 'revenue_by_country')?.dependsOn).toEqual(
      expect.arrayContaining(['model.full.stg_orders', 'seed.full.countries']),
    );
  });
});

describe('build on PostgreSQL', () => {
  let target: string;
  let first: RunResults;

  beforeAll(async () => {
    await db.pool.query(`INSERT INTO full_src.events VALUES ('a', '2024-01-01T00:00Z', 1), ('b', '2024-01-01T01:00Z', 2)`);
    target = tmpDir();
    first = await runModels({
      pool: db.pool,
      projectDir: FULL,
      which: 'build',
      targetDir: target,
      threads: 4,
      vars: { since: '2024-01-01T00:00Z' },
    });
  });

  it('loads seeds with inferred and overridden types and builds every materialization', async () => {
    const s = statusOf(first);
    expect(s.fragile).toBe('error');
    expect(s.fragile_child).toBe('skipped');
    const others = first.results.filter((r) => !r.unique_id.includes('fragile'));
    expect(others.every((r) => r.status === 'success' || r.status === 'pass')).toBe(true);
    const types = await db.pool.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'analytics' AND table_name IN ('orders', 'countries') ORDER BY table_name, ordinal_position`,
    );
    expect(types.rows.map((r) => `${r.table_name}.${r.column_name}:${r.data_type}`)).toEqual([
      'countries.code:character varying',
      'countries.name:text',
      'countries.population:integer',
      'orders.id:integer',
      'orders.customer_id:integer',
      'orders.country:text',
      'orders.amount:double precision',
      'orders.ordered_at:date',
      'orders.status:text',
      'orders.paid:boolean',
      'orders.created_at:timestamp without time zone',
    ]);
    expect((await db.pool.query(`SELECT name FROM analytics.countries WHERE code = 'IT'`)).rows).toEqual([{ name: 'Italy, the "boot"' }]);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM analytics.orders WHERE paid IS NULL OR created_at IS NULL`)).rows).toEqual([
      { n: 2 },
    ]);
    expect((await db.pool.query(`SELECT code, revenue, paid_fr_orders FROM analytics.revenue_by_country ORDER BY code`)).rows).toEqual([
      { code: 'FR', revenue: 19.75, paid_fr_orders: '2' },
      { code: 'IT', revenue: 100, paid_fr_orders: '2' },
    ]);
    expect(
      (await db.pool.query(`SELECT country, n_placed, n_shipped, n_returned FROM analytics.status_pivot ORDER BY country`)).rows,
    ).toEqual([
      { country: 'DE', n_placed: '1', n_shipped: '1', n_returned: '0' },
      { country: 'FR', n_placed: '1', n_shipped: '1', n_returned: '0' },
      { country: 'IT', n_placed: '0', n_shipped: '0', n_returned: '1' },
    ]);
    const kinds = await db.pool.query<{ relname: string; relkind: string }>(
      `SELECT relname, relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'analytics' AND relkind IN ('r', 'v') AND relname = ANY ($1) ORDER BY relname`,
      [
        [
          'countries',
          'customers',
          'events_append',
          'events_delins',
          'events_merge',
          'orders',
          'revenue_by_country',
          'status_pivot',
          'stg_orders',
          'paid_orders',
          'paid_fr',
          'fragile',
          'fragile_child',
        ],
      ],
    );
    expect(Object.fromEntries(kinds.rows.map((r) => [r.relname, r.relkind]))).toEqual({
      countries: 'r',
      customers: 'r',
      events_append: 'r',
      events_delins: 'r',
      events_merge: 'r',
      orders: 'r',
      revenue_by_country: 'r',
      status_pivot: 'r',
      stg_orders: 'v',
    }); // no paid_orders / paid_fr (ephemeral), no fragile
  });

  it('writes dbt artifacts: statuses, timing, failures, rows affected, compiled SQL', () => {
    const rr = JSON.parse(fs.readFileSync(path.join(target, 'run_results.json'), 'utf8')) as RunResults;
    const m = JSON.parse(fs.readFileSync(path.join(target, 'manifest.json'), 'utf8')) as Manifest;
    expect(rr.metadata.invocation_id).toBe(m.metadata.invocation_id);
    expect(rr.args).toMatchObject({ which: 'build' });
    const r = byName(rr);
    expect(r['seed.full.orders']).toMatchObject({
      status: 'success',
      message: 'INSERT 5',
      adapter_response: { rows_affected: 5 },
      failures: null,
    });
    expect(r['test.full.unique_stg_orders_id']).toMatchObject({ status: 'pass', failures: 0 });
    expect(r['model.full.fragile']).toMatchObject({ status: 'error', failures: null });
    expect(r['model.full.fragile']?.message).toMatch(/division by zero/);
    expect(r['model.full.status_pivot']?.timing.map((t) => t.name)).toEqual(['compile', 'execute']);
    expect(m.nodes['test.full.assert_no_negative_amounts'.toString()]).toMatchObject({
      resource_type: 'test',
      depends_on: { nodes: ['model.full.stg_orders'] },
    });
    expect(fs.readFileSync(path.join(target, 'compiled', 'full', 'models', 'marts', 'status_pivot.sql'), 'utf8')).toContain(
      'as n_returned',
    );
    expect(fs.readFileSync(path.join(target, 'compiled', 'full', 'tests', 'assert_no_negative_amounts.sql'), 'utf8')).toContain(
      '"analytics"."stg_orders"',
    );
  });

  it('resumes from run_results.json: only the failed model and its skipped child run', async () => {
    const resumed = await runModels({
      pool: db.pool,
      projectDir: FULL,
      which: 'build',
      targetDir: target,
      resume: true,
      vars: { divisor: 5, since: '2024-01-01' },
    });
    expect(resumed.results.map((r) => [r.unique_id, r.status])).toEqual([
      ['model.full.fragile', 'success'],
      ['model.full.fragile_child', 'success'],
    ]);
    expect((await db.pool.query('SELECT y FROM analytics.fragile_child')).rows).toEqual([{ y: 4 }]);
    // Nothing left to resume.
    const again = await runModels({ pool: db.pool, projectDir: FULL, which: 'build', targetDir: target, resume: true });
    expect(again.results).toEqual([]);
  });

  it('fails every test type on bad rows, warns on severity warn, and skips the downstream', async () => {
    const r = await runModels({
      pool: db.pool,
      projectDir: FULL,
      which: 'build',
      targetDir: tmpDir(),
      vars: { break_quality: true, divisor: 1, since: '2024-01-01' },
    });
    const res = byName(r);
    expect(res['test.full.unique_stg_orders_id']).toMatchObject({
      status: 'fail',
      failures: 1,
      message: 'Got 1 result, configured to fail if != 0',
    });
    expect(res['test.full.not_null_stg_orders_id']).toMatchObject({ status: 'fail', failures: 1 });
    expect(res['test.full.accepted_values_stg_orders_status__placed__shipped__returned']).toMatchObject({ status: 'fail', failures: 1 });
    expect(res['test.full.status_known_warn']).toMatchObject({
      status: 'warn',
      failures: 1,
      message: 'Got 1 result, configured to warn if != 0',
    });
    const rel = r.results.find(
      (x) => x.unique_id.startsWith('test.full.relationships_') && x.compiled_code?.includes('"analytics"."customers"'),
    );
    expect(rel).toMatchObject({ status: 'fail', failures: 1 });
    expect(res['test.full.assert_no_negative_amounts']).toMatchObject({ status: 'fail', failures: 1 });
    // Children of stg_orders wait for its tests in build, and are skipped when one fails.
    expect(res['model.full.status_pivot']?.status).toBe('skipped');
    expect(res['model.full.revenue_by_country']?.status).toBe('skipped');
    expect(res['model.full.fragile']?.status).toBe('success'); // independent branch
    // The same tests pass again on good data (`models test` alone).
    const ok = await runModels({ pool: db.pool, projectDir: FULL, which: 'run', select: ['stg_orders'], targetDir: tmpDir() });
    expect(ok.results[0]?.status).toBe('success');
    const tests = await runModels({ pool: db.pool, projectDir: FULL, which: 'test', select: ['stg_orders'], targetDir: tmpDir() });
    expect(tests.results.length).toBe(6);
    expect(tests.results.every((t) => t.status === 'pass')).toBe(true);
  });

  it('runs incremental models twice on overlapping input without duplicates (merge, delete+insert, append)', async () => {
    // New rows, one overlapping an existing key with a changed value.
    await db.pool.query(`UPDATE full_src.events SET value = 20 WHERE device = 'b'`);
    await db.pool.query(`INSERT INTO full_src.events VALUES ('c', '2024-01-01T02:00Z', 3)`);
    const r = await runModels({
      pool: db.pool,
      projectDir: FULL,
      select: ['config.materialized:incremental'],
      targetDir: tmpDir(),
      vars: { since: '2024-01-01T01:00Z', batch: 'b1' },
    });
    expect(r.results.map((x) => x.status)).toEqual(['success', 'success', 'success']);
    const rows = async (t: string) =>
      (await db.pool.query<{ device: string; value: number }>(`SELECT device, value FROM analytics.${t} ORDER BY device, ts`)).rows;
    expect(await rows('events_merge')).toEqual([
      { device: 'a', value: 1 },
      { device: 'b', value: 20 },
      { device: 'c', value: 3 },
    ]);
    expect(
      (await db.pool.query(`SELECT device, batch FROM analytics.events_merge ORDER BY device`)).rows.map((x: { batch: string }) => x.batch),
    ).toEqual(['b0', 'b1', 'b1']);
    expect(await rows('events_delins')).toEqual([
      { device: 'a', value: 1 },
      { device: 'b', value: 20 },
      { device: 'c', value: 3 },
    ]);
    expect(await rows('events_append')).toEqual([
      { device: 'a', value: 1 },
      { device: 'b', value: 2 }, // append never rewrites
      { device: 'c', value: 3 },
    ]);
    const merge = r.results.find((x) => x.unique_id === 'model.full.events_merge');
    expect(merge?.adapter_response.rows_affected).toBe(2); // b updated, c inserted
    expect(merge?.compiled_code).toContain(`where ts >= '2024-01-01T01:00Z'::timestamptz`);
    // A unique index backs the merge key.
    const idx = await db.pool.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'analytics' AND tablename = 'events_merge'`);
    expect(idx.rows.map((x: { indexdef: string }) => x.indexdef).join()).toMatch(/UNIQUE INDEX .* \(device, ts\)/);

    // Same input again: still no duplicates. A full refresh rebuilds from scratch.
    await runModels({
      pool: db.pool,
      projectDir: FULL,
      select: ['config.materialized:incremental'],
      targetDir: tmpDir(),
      vars: { since: '2024-01-01' },
    });
    for (const t of ['events_merge', 'events_delins', 'events_append']) {
      expect((await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT (device, ts))::int AS d FROM analytics.${t}`)).rows).toEqual([
        { n: 3, d: 3 },
      ]);
    }
    const full = await runModels({ pool: db.pool, projectDir: FULL, select: ['events_append'], targetDir: tmpDir(), fullRefresh: true });
    expect(full.results[0]?.compiled_code).not.toContain('max(ts)');
    expect(await rows('events_append')).toEqual([
      { device: 'a', value: 1 },
      { device: 'b', value: 20 },
      { device: 'c', value: 3 },
    ]);
  });

  it('quotes identifiers from configs and file names', async () => {
    const dir = writeProject({
      'dbt_project.yml': "name: q\nmodels:\n  q:\n    +schema: 'we\"ird schema'\n",
      'models/Mixed Case.sql': `select 1 as "col""x"`,
      'seeds/Se ed.csv': 'a b,"c""d"\n1,2\n',
    });
    const r = await runModels({ pool: db.pool, projectDir: dir, which: 'build', targetDir: tmpDir() });
    expect(r.results.map((x) => x.status)).toEqual(['success', 'success']);
    expect((await db.pool.query(`SELECT * FROM "we""ird schema"."Mixed Case"`)).rows).toEqual([{ 'col"x': 1 }]);
    expect((await db.pool.query(`SELECT * FROM "analytics"."Se ed"`)).rows).toEqual([{ 'a b': 1, 'c"d': 2 }]);
  });
});
