/**
 * Models benchmark: wall time of building bench/models/project (3 seeds, 6 models of which 5 are built
 * — view, ephemeral, table, incremental — and 20 data tests) three ways against the same PostgreSQL
 * database, in the same run:
 *
 * - `dbt build` of real dbt-core + dbt-postgres (installed by this bench into the git-ignored
 *   virtualenv bench/models/.venv with `pip install "dbt-core<1.12" dbt-postgres`), schema `dbt_bench`;
 * - the direct runner (`runModels({ which: 'build' })`, what `iot-pipelines models build` runs),
 *   schema `ours_direct`;
 * - the `buildModels` workflow (`which: 'build'`, one activity per node) on a worker this bench starts
 *   on its own task queue, schema `ours_workflow`.
 *
 * Each variant runs {@link RUNS} times (the first run creates everything, later ones rebuild and run
 * the incremental model incrementally); the median is reported. Afterwards every seed and model
 * relation of the three schemas is compared (column names, types and rows, EXCEPT ALL both ways).
 * Uses its own database (CREATE DATABASE on the shared server), dropped at the end.
 *
 * Run alone: `node --import tsx bench/models/main.ts`; `runModelsBench()` is exported for bench/run.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createModelActivities } from '../../src/activities/models';
import { databaseUrl, loadSettings, ROOT_DIR } from '../../src/config/env';
import { createPool, type Pool } from '../../src/db/pool';
import { runModels } from '../../src/modelrunner/index';
import type { buildModels, ModelRunSummary } from '../../src/workflows/model-graph';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The bench's dbt project (bench/models/project). */
export const PROJECT = path.join(HERE, 'project');
const VENV = path.join(HERE, '.venv');
/** The `dbt` executable of the bench's virtualenv (created by {@link ensureDbt}). */
export const DBT = path.join(VENV, 'bin', 'dbt');

/** Arguments of `dbt build` of the bench project with its profile, target and logs under `work`. */
export function dbtBuildArgs(work: string): string[] {
  return [
    'build',
    '--project-dir',
    PROJECT,
    '--profiles-dir',
    work,
    '--target-path',
    path.join(work, 'dbt-target'),
    '--log-path',
    path.join(work, 'dbt-logs'),
  ];
}

/** Builds per variant; the median is reported. @default 5 */
export const RUNS = 5;
/** Raw readings generated (40 devices × 6 days at 5-minute steps ≈ 69k rows). */
const DEVICES = 40;
const DAYS = 6;
/** Nodes run at once by every variant (dbt `threads`). */
export const THREADS = 4;

/** One variant's timings. */
export interface VariantResult {
  name: string;
  /** Wall seconds of each run. */
  runs: number[];
  medianSeconds: number;
  /** Nodes run and their outcome in the last run. */
  nodes: number;
  failures: number;
}

/** What {@link runModelsBench} measured. */
export interface ModelsBenchResult {
  project: { seeds: number; models: number; tests: number; rawRows: number };
  dbtVersion: string;
  variants: VariantResult[];
  /** `dbt build` median / variant median. */
  speedup: { direct: number; workflow: number };
  targets: { direct: number; workflow: number; met: boolean };
  /** Relations compared and the differences found (empty = identical). */
  identical: { relations: string[]; differences: string[] };
  markdown: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

/**
 * Creates bench/models/.venv with dbt-core and dbt-postgres when missing.
 * @returns the installed versions, e.g. `dbt-core 1.11.16, dbt-postgres 1.11.0`
 */
export function ensureDbt(): string {
  if (!fs.existsSync(DBT)) {
    console.log('installing dbt-core<1.12 + dbt-postgres into bench/models/.venv (once)…');
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(path.join(VENV, 'bin', 'pip'), ['install', '-q', 'dbt-core<1.12', 'dbt-postgres'], { stdio: 'inherit' });
  }
  const out = execFileSync(DBT, ['--version'], { encoding: 'utf8', env: dbtEnv() });
  const core = /installed:\s*([\w.]+)/.exec(out)?.[1] ?? '?';
  const pg = /postgres:\s*([\w.]+)/.exec(out)?.[1] ?? '?';
  return `dbt-core ${core}, dbt-postgres ${pg}`;
}

/** The environment `dbt` runs with: no usage statistics, no colours. */
export function dbtEnv(): NodeJS.ProcessEnv {
  return { ...process.env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false', DO_NOT_TRACK: '1', DBT_USE_COLORS: 'false' };
}

/** A database of the bench: its name, URL, a pool on it, and `drop()` (closes the pool, drops it). */
export interface BenchDatabase {
  name: string;
  url: string;
  pool: Pool;
  drop: () => Promise<void>;
}

/** Creates a fresh database `bench_models_<random>` on the stack's PostgreSQL. */
export async function createDatabase(): Promise<BenchDatabase> {
  const name = `bench_models_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const admin = createPool(databaseUrl(loadSettings()), 1);
  await admin.query(`CREATE DATABASE "${name}"`).finally(() => admin.end());
  const url = new URL(databaseUrl(loadSettings()));
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), THREADS + 4);
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const a = createPool(databaseUrl(loadSettings()), 1);
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => a.end());
    },
  };
}

/**
 * Loads deterministic synthetic readings (some out of range, so cleaning matters) into `bench_raw.readings`.
 * @returns the rows inserted
 */
export async function loadRaw(pool: Pool): Promise<number> {
  await pool.query(
    `CREATE SCHEMA bench_raw; CREATE TABLE bench_raw.readings (reading_id bigint, device_id text, ts timestamptz, temperature float8, humidity float8, co2 float8)`,
  );
  const r = await pool.query(
    `INSERT INTO bench_raw.readings
     SELECT row_number() OVER () AS reading_id,
            'dev-' || lpad(d::text, 3, '0'),
            timestamptz '2024-03-01 00:00:00+00' + (s * interval '5 minutes'),
            CASE WHEN (d * s) % 997 = 0 THEN -200 ELSE 18 + ((d * 7 + s) % 130) / 10.0 END,
            30 + ((d * 13 + s) % 500) / 10.0,
            CASE WHEN (d + s) % 1009 = 0 THEN 99999 ELSE 400 + ((d * 31 + s * 7) % 1000) END
       FROM generate_series(1, $1::int) AS d, generate_series(0, $2::int) AS s`,
    [DEVICES, DAYS * 24 * 12 - 1],
  );
  return r.rowCount ?? 0;
}

/** Writes `dir/profiles.yml` for dbt: the database at `url`, schema `dbt_bench`, {@link THREADS} threads. */
export function writeProfile(dir: string, url: string): void {
  const u = new URL(url);
  fs.writeFileSync(
    path.join(dir, 'profiles.yml'),
    [
      'bench_models:',
      '  target: bench',
      '  outputs:',
      '    bench:',
      '      type: postgres',
      `      host: ${u.hostname}`,
      `      port: ${u.port || 5432}`,
      `      user: ${decodeURIComponent(u.username)}`,
      `      password: "${decodeURIComponent(u.password)}"`,
      `      dbname: ${u.pathname.slice(1)}`,
      '      schema: dbt_bench',
      `      threads: ${THREADS}`,
      '',
    ].join('\n'),
  );
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [(performance.now() - t0) / 1000, out];
}

/** Relations built by the project (seeds and non-ephemeral models). */
const RELATIONS = ['sites', 'devices', 'thresholds', 'stg_readings', 'readings_hourly', 'readings_hourly_inc', 'site_daily', 'alerts'];

async function compareSchemas(pool: Pool, a: string, b: string): Promise<string[]> {
  const diffs: string[] = [];
  for (const rel of RELATIONS) {
    const cols = async (schema: string) =>
      (
        await pool.query<{ c: string }>(
          `SELECT column_name || ' ' || data_type AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
          [schema, rel],
        )
      ).rows.map((r) => r.c);
    const [ca, cb] = [await cols(a), await cols(b)];
    if (ca.length === 0) diffs.push(`${a}.${rel} is missing`);
    if (JSON.stringify(ca) !== JSON.stringify(cb)) {
      diffs.push(`${rel}: columns differ: ${a} [${ca.join(', ')}] vs ${b} [${cb.join(', ')}]`);
      continue;
    }
    const n = await pool.query<{ only_a: string; only_b: string; rows: string }>(
      `SELECT (SELECT count(*) FROM (SELECT * FROM "${a}"."${rel}" EXCEPT ALL SELECT * FROM "${b}"."${rel}") x) AS only_a,
              (SELECT count(*) FROM (SELECT * FROM "${b}"."${rel}" EXCEPT ALL SELECT * FROM "${a}"."${rel}") y) AS only_b,
              (SELECT count(*) FROM "${a}"."${rel}") AS rows`,
    );
    const row = n.rows[0];
    if (!row || row.only_a !== '0' || row.only_b !== '0')
      diffs.push(`${rel}: ${row?.only_a} rows only in ${a}, ${row?.only_b} only in ${b}`);
    if (row?.rows === '0') diffs.push(`${rel}: empty`);
  }
  return diffs;
}

/**
 * Runs the benchmark (see the module doc).
 * @throws Error when dbt cannot be installed or a variant fails to build (a node error or test failure).
 */
export async function runModelsBench(): Promise<ModelsBenchResult> {
  const dbtVersion = ensureDbt();
  const db = await createDatabase();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-models-'));
  const settings = loadSettings();
  try {
    const rawRows = await loadRaw(db.pool);
    writeProfile(work, db.url);
    const variants: VariantResult[] = [];

    // 1. dbt build (a fresh Python process per run, as users run it).
    const dbtRuns: number[] = [];
    let dbtNodes = 0;
    for (let i = 0; i < RUNS; i++) {
      const [s, res] = await time(() =>
        Promise.resolve(
          spawnSync(DBT, dbtBuildArgs(work), {
            encoding: 'utf8',
            env: dbtEnv(),
          }),
        ),
      );
      if (res.status !== 0)
        throw new Error(`dbt build failed (exit ${res.status}):\n${res.stdout.slice(-3000)}\n${res.stderr.slice(-2000)}`);
      const rr = JSON.parse(fs.readFileSync(path.join(work, 'dbt-target', 'run_results.json'), 'utf8')) as { results: unknown[] };
      dbtNodes = rr.results.length;
      dbtRuns.push(s);
    }
    variants.push({
      name: 'dbt build (dbt-core + dbt-postgres)',
      runs: dbtRuns,
      medianSeconds: median(dbtRuns),
      nodes: dbtNodes,
      failures: 0,
    });

    // 2. Direct runner, in process.
    const directRuns: number[] = [];
    let directNodes = 0;
    for (let i = 0; i < RUNS; i++) {
      const [s, r] = await time(() =>
        runModels({
          pool: db.pool,
          projectDir: PROJECT,
          which: 'build',
          threads: THREADS,
          defaultSchema: 'ours_direct',
          targetDir: path.join(work, 'direct-target'),
        }),
      );
      const bad = r.results.filter((x) => x.status !== 'success' && x.status !== 'pass');
      if (bad.length > 0) throw new Error(`direct build: ${bad.map((x) => `${x.unique_id} ${x.status} ${x.message ?? ''}`).join('; ')}`);
      directNodes = r.results.length;
      directRuns.push(s);
    }
    variants.push({
      name: 'direct (`models build`)',
      runs: directRuns,
      medianSeconds: median(directRuns),
      nodes: directNodes,
      failures: 0,
    });

    // 3. The buildModels workflow on a worker of this bench.
    const taskQueue = `bench-models-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address: settings.temporalAddress });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: settings.temporalNamespace,
      taskQueue,
      workflowsPath: path.join(ROOT_DIR, 'src', 'workflows', 'model-graph.ts'),
      activities: createModelActivities({
        pool: db.pool,
        projectDir: PROJECT,
        defaultSchema: 'ours_workflow',
        targetDir: path.join(work, 'workflow-target'),
      }),
      maxConcurrentActivityTaskExecutions: THREADS * 2,
    });
    const connection = await Connection.connect({ address: settings.temporalAddress });
    const client = new Client({ connection, namespace: settings.temporalNamespace });
    const wfRuns: number[] = [];
    let wfNodes = 0;
    try {
      await worker.runUntil(async () => {
        for (let i = 0; i < RUNS; i++) {
          const [s, summary] = await time<ModelRunSummary>(() =>
            client.workflow.execute<typeof buildModels>('buildModels', {
              taskQueue,
              workflowId: `bench-buildModels-${randomUUID()}`,
              args: [{ which: 'build', maxParallel: Number(process.env.BENCH_WF_PARALLEL ?? THREADS) }],
            }),
          );
          if (summary.error > 0 || summary.skipped > 0)
            throw new Error(
              `workflow build: ${JSON.stringify(summary.nodes.filter((n) => n.status !== 'success' && n.status !== 'pass'))}`,
            );
          wfNodes = summary.total;
          wfRuns.push(s);
        }
      });
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
    variants.push({
      name: 'workflow (`buildModels`, one activity per node)',
      runs: wfRuns,
      medianSeconds: median(wfRuns),
      nodes: wfNodes,
      failures: 0,
    });

    // Identical tables.
    const differences = [
      ...(await compareSchemas(db.pool, 'dbt_bench', 'ours_direct')),
      ...(await compareSchemas(db.pool, 'dbt_bench', 'ours_workflow')),
    ];

    const dbtMedian = variants[0]!.medianSeconds;
    const speedup = { direct: dbtMedian / variants[1]!.medianSeconds, workflow: dbtMedian / variants[2]!.medianSeconds };
    const targets = { direct: 10, workflow: 3, met: speedup.direct >= 10 && speedup.workflow >= 3 };
    const project = { seeds: 3, models: 6, tests: 20, rawRows };
    const fmt = (x: number) => x.toFixed(3);
    const markdown = [
      `### Models: \`build\` of bench/models/project (${project.seeds} seeds, ${project.models} models, ${project.tests} tests, ${rawRows.toLocaleString('en-US')} raw rows)`,
      '',
      `${dbtVersion}; median of ${RUNS} builds each, ${THREADS} threads, same PostgreSQL database.`,
      '',
      '| variant | median wall (s) | runs (s) | nodes | speed-up vs dbt |',
      '|---|---:|---|---:|---:|',
      ...variants.map(
        (v) =>
          `| ${v.name} | ${fmt(v.medianSeconds)} | ${v.runs.map(fmt).join(', ')} | ${v.nodes} | ${(dbtMedian / v.medianSeconds).toFixed(1)}× |`,
      ),
      '',
      `Targets: direct ≥ ${targets.direct}× (${speedup.direct.toFixed(1)}×), workflow ≥ ${targets.workflow}× (${speedup.workflow.toFixed(1)}×): ${targets.met ? 'met' : 'NOT met'}.`,
      `Identical tables (${RELATIONS.length} relations, columns + rows, dbt vs direct and dbt vs workflow): ${differences.length === 0 ? 'yes' : `NO: ${differences.join('; ')}`}.`,
      '',
    ].join('\n');
    return { project, dbtVersion, variants, speedup, targets, identical: { relations: RELATIONS, differences }, markdown };
  } finally {
    await db.drop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runModelsBench()
    .then((r) => {
      console.log(r.markdown);
      const out = path.join(HERE, 'results');
      fs.mkdirSync(out, { recursive: true });
      const { markdown, ...json } = r;
      fs.writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
      fs.writeFileSync(path.join(out, 'latest.md'), markdown);
      process.exit(r.identical.differences.length === 0 ? 0 : 1);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
