/**
 * The compiled, lazily loaded CLI (issue 15), checked without timing anything:
 * - `iot-pipelines --help` lists every command of src/cli/commands.ts, each with the summary that is
 *   the `.description()` its module registers, and loads no command's module;
 * - every file of dist/ (built by the global setup) imports in a fresh `node` (an extensionless deep
 *   import such as `@temporalio/common/lib/time`, refused by Node's ESM loader, fails here);
 * - `models ls` and `models build` through bin/iot-pipelines.mjs never load the Temporal SDK, kafkajs,
 *   ONNX Runtime or DuckDB (every module they load is logged by test/fixtures/load-log/register.mjs).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/commands';
import { ROOT_DIR } from '../src/config/env';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const run = promisify(execFile);
const BIN = path.join(ROOT_DIR, 'bin', 'iot-pipelines.mjs');
const DIST = path.join(ROOT_DIR, 'dist');
const LOAD_LOG_HOOK = path.join(ROOT_DIR, 'test', 'fixtures', 'load-log', 'register.mjs');
const BENCH_PROJECT = path.join(ROOT_DIR, 'bench', 'models', 'project');
/** Packages the light commands must not load. */
const HEAVY = /node_modules\/(@temporalio\/|kafkajs\/|onnxruntime-node\/|@duckdb\/)/;

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-startup-'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** Runs `node [--import load-log] argv…`, returning its output and the modules it loaded. */
async function node(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; loaded: string[] }> {
  const log = path.join(work, `load-${Math.random().toString(36).slice(2)}.log`);
  const { stdout } = await run(process.execPath, ['--import', LOAD_LOG_HOOK, ...argv], {
    cwd: ROOT_DIR,
    env: { ...process.env, ...env, LOAD_LOG: log },
    maxBuffer: 16 * 2 ** 20,
  });
  return { stdout, loaded: fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

describe('--help', () => {
  it("lists every command with its module's own description, loading none of them", async () => {
    const { stdout, loaded } = await node([BIN, '--help']);
    const text = squash(stdout);
    for (const [name, entry] of Object.entries(COMMANDS)) {
      expect(stdout, name).toMatch(new RegExp(`^ {2}${name.replace(/[-]/g, '\\-')}\\b`, 'm'));
      expect(text, name).toContain(squash(entry.summary));
      const program = new Command();
      (await entry.load())(program);
      const registered = program.commands.find((c) => c.name() === name);
      expect(registered, `${name} is registered by its module`).toBeDefined();
      expect(entry.summary, name).toBe(registered?.description());
    }
    const fromDist = loaded.filter((u) => u.includes('/dist/')).map((u) => path.basename(u));
    expect(fromDist.length).toBeGreaterThan(0);
    expect(fromDist.filter((f) => f !== 'cli.js' && !f.startsWith('chunk-'))).toEqual([]);
  });
});

describe('dist/', () => {
  it('every chunk imports in a fresh node', async () => {
    // The workflow bundles (plain and traced) run in the worker's sandbox, not as modules.
    const files = fs.readdirSync(DIST).filter((f) => f.endsWith('.js') && f !== 'encoder-thread.js' && !f.startsWith('workflow-bundle'));
    expect(files).toContain('cli.js');
    // cli.js runs the CLI when imported: `--help` imports it and exits 0.
    await node([path.join(DIST, 'cli.js'), '--help']);
    const chunks = files.filter((f) => f !== 'cli.js');
    expect(chunks.length).toBeGreaterThan(5);
    const script = [
      `const failed = [];`,
      `for (const f of ${JSON.stringify(chunks)}) {`,
      `  try { await import(${JSON.stringify(`${DIST}/`)} + f); } catch (e) { failed.push(f + ': ' + (e?.message ?? e)); }`,
      `}`,
      `console.log(JSON.stringify(failed));`,
      `process.exit(0);`,
    ].join('\n');
    const { stdout } = await node(['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]')).toEqual([]);
  });
});

describe('models commands load no heavy package', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('clistartup');
    // The bench project's one source, empty: every model builds and every test passes.
    await db.pool.query(
      `CREATE SCHEMA bench_raw; CREATE TABLE bench_raw.readings (reading_id bigint, device_id text, ts timestamptz, temperature float8, humidity float8, co2 float8)`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('the load log sees a CommonJS package imported from ES modules (control)', async () => {
    const { loaded } = await node(['--input-type=module', '-e', `await import('kafkajs');`]);
    expect(loaded.some((u) => HEAVY.test(u))).toBe(true);
  });

  it('models ls', async () => {
    const { stdout, loaded } = await node([BIN, 'models', 'ls', '--project-dir', BENCH_PROJECT]);
    expect(stdout).toContain('bench_models.staging.stg_readings');
    expect(loaded.some((u) => /\/dist\/models-[^/]+\.js$/.test(u))).toBe(true);
    expect(loaded.filter((u) => HEAVY.test(u))).toEqual([]);
  });

  it('models build', async () => {
    const { stdout, loaded } = await node(
      [BIN, 'models', 'build', '--project-dir', BENCH_PROJECT, '--target-path', path.join(work, 'target')],
      { DATABASE_URL: db.url },
    );
    expect(stdout).toMatch(/Done: 28 nodes \(success=8 pass=20\)/);
    expect(fs.existsSync(path.join(work, 'target', 'run_results.json'))).toBe(true);
    expect(loaded.filter((u) => HEAVY.test(u))).toEqual([]);
  });
});
