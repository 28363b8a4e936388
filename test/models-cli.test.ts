/**
 * `iot-pipelines models …` (src/cli/models.ts) in-process on a fresh database (DATABASE_URL points at
 * it for the duration): ls with selectors, compile, build with a failure (exit code 1), --resume.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { ROOT_DIR } from '../src/config/env';
import { registerModelCommands } from '../src/cli/models';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const FULL = path.join(ROOT_DIR, 'test', 'fixtures', 'dbt-full');
let db: TestDatabase;
let target: string;
const savedUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  db = await createTestDatabase('modelscli');
  await db.pool.query(`CREATE SCHEMA full_src; CREATE TABLE full_src.events (device text, ts timestamptz, value int)`);
  process.env.DATABASE_URL = db.url;
  target = fs.mkdtempSync(path.join(os.tmpdir(), 'models-cli-'));
});
afterAll(async () => {
  if (savedUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = savedUrl;
  await db?.drop();
  fs.rmSync(target, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ out: string[]; exitCode: number | undefined }> {
  const program = new Command().exitOverride();
  registerModelCommands(program);
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'cli', 'models', ...args, '--project-dir', FULL, '--target-path', target]);
    return { out, exitCode: process.exitCode as number | undefined };
  } finally {
    spy.mockRestore();
    process.exitCode = before;
  }
}

describe('models CLI', () => {
  it('lists nodes by selector and resource type', async () => {
    const { out } = await cli(
      'ls',
      '-s',
      'tag:marts,config.materialized:table',
      '--exclude',
      'fragile_child',
      '--output',
      'name',
      '--resource-type',
      'model',
    );
    expect(out.sort()).toEqual(['fragile', 'revenue_by_country', 'status_pivot']);
    const json = await cli('ls', '-s', 'resource_type:seed', '--resource-type', 'seed', '--output', 'json');
    expect(json.out.map((l) => (JSON.parse(l) as { unique_id: string }).unique_id).sort()).toEqual([
      'seed.full.countries',
      'seed.full.customers',
      'seed.full.orders',
    ]);
  });

  it('compiles to target/compiled with --vars', async () => {
    const { out } = await cli('compile', '-s', 'fragile', '--vars', '{divisor: 7}', '--print');
    expect(out.join('\n')).toContain('select 10 / 7 as x');
    expect(fs.readFileSync(path.join(target, 'compiled', 'full', 'models', 'marts', 'fragile.sql'), 'utf8')).toContain('10 / 7');
  });

  it('builds, exits 1 on a failure, and --resume runs only what failed', async () => {
    const first = await cli('build', '--threads', '3', '--vars', '{"since": "2024-01-01"}');
    expect(first.exitCode).toBe(1);
    expect(first.out.find((l) => l.includes('model.full.fragile ') && l.startsWith('error'))).toBeTruthy();
    expect(first.out.find((l) => l.includes('model.full.fragile_child') && l.startsWith('skipped'))).toBeTruthy();
    expect(first.out.at(-1)).toMatch(/error=1 skipped=1/);
    const resumed = await cli('build', '--resume', '--vars', '{"divisor": 1}');
    expect(resumed.exitCode).toBeUndefined();
    expect(resumed.out.filter((l) => l.startsWith('success')).map((l) => l.split(/\s+/)[1])).toEqual([
      'model.full.fragile',
      'model.full.fragile_child',
    ]);
  });
});
