/**
 * The `schedules` and `events-api` command modules (registered on a fresh commander program), against the
 * real Temporal dev server, checked against the `temporal` CLI: pause/unpause with notes, `paused`/`note`
 * applied at creation only (a later apply keeps the live state), trigger, list, describe, backfill --dry-run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import { registerScheduleCommands } from '../src/cli/schedule-commands';

const RUN = randomUUID().slice(0, 8);
const ID = `test-cli-${RUN}`;
// The stack's own lookup (TEMPORAL_CLI_PATH, PATH, the stack folder, Go's bin), as the global setup found it.
const TEMPORAL_CLI = await findOrBuildTemporalCli(loadSettings().stackDir);
let connection: Connection;
let client: Client;
let dir: string;

async function cli(...args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerScheduleCommands(program);
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
  try {
    await program.parseAsync(['node', 'iot-pipelines', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out.join('\n');
}

function temporalDescribe(id: string): {
  schedule: { state?: { paused?: boolean; notes?: string } };
  info: { actionCount?: string | number };
} {
  return JSON.parse(
    execFileSync(TEMPORAL_CLI, ['schedule', 'describe', '--schedule-id', id, '--address', loadSettings().temporalAddress, '-o', 'json'], {
      encoding: 'utf8',
    }),
  ) as { schedule: { state?: { paused?: boolean; notes?: string } }; info: { actionCount?: string | number } };
}

beforeAll(async () => {
  connection = await Connection.connect({ address: loadSettings().temporalAddress });
  client = new Client({ connection, namespace: loadSettings().temporalNamespace });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sched-cli-'));
  fs.writeFileSync(
    path.join(dir, 'cli.yaml'),
    stringify({
      id: ID,
      workflow: 'noSuchWorkflow',
      taskQueue: `test-cli-${RUN}`,
      preset: '@daily',
      start: '2023-01-01',
      end: '2023-01-31',
      paused: true,
      note: 'created paused',
    }),
  );
});

afterAll(async () => {
  await client.schedule
    .getHandle(ID)
    .delete()
    .catch(() => undefined);
  await connection.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('schedules commands', () => {
  it('apply, pause/unpause with notes kept by a later apply, trigger, list, describe — same state as the temporal CLI', async () => {
    expect(await cli('schedules', 'apply', '--dir', dir)).toMatch(/\+ test-cli-.*: create[\s\S]*Applied: 1 created/);
    expect(temporalDescribe(ID).schedule.state).toMatchObject({ paused: true, notes: 'created paused' });

    await cli('schedules', 'unpause', ID, '--note', 'go');
    let t = temporalDescribe(ID);
    expect(Boolean(t.schedule.state?.paused)).toBe(false);
    expect(t.schedule.state?.notes).toBe('go');
    // The file still says paused: true, but paused/note apply at creation only: nothing to update.
    expect(await cli('schedules', 'apply', '--dir', dir)).toContain('0 to create, 0 to update, 1 unchanged');
    expect((await client.schedule.getHandle(ID).describe()).state.paused).toBe(false);

    await cli('schedules', 'pause', ID, '--note', 'maintenance');
    t = temporalDescribe(ID);
    expect(t.schedule.state).toMatchObject({ paused: true, notes: 'maintenance' });

    // A changed field updates the schedule but keeps the live state.
    const file = path.join(dir, 'cli.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('paused: true', 'paused: false\noverlap: buffer_one'));
    expect(await cli('schedules', 'apply', '--dir', dir)).toMatch(/overlap: SKIP → BUFFER_ONE[\s\S]*1 updated/);
    const d = await client.schedule.getHandle(ID).describe();
    expect(d.state).toMatchObject({ paused: true, note: 'maintenance' });
    expect(d.policies.overlap).toBe('BUFFER_ONE');

    await cli('schedules', 'trigger', ID);
    for (let i = 0; i < 50 && (await client.schedule.getHandle(ID).describe()).info.numActionsTaken < 1; i++)
      await new Promise((r) => setTimeout(r, 200));
    expect(Number(temporalDescribe(ID).info.actionCount)).toBe(1);

    const described = await cli('schedules', 'describe', ID);
    expect(described).toContain(`Schedule ${ID} (managed`);
    expect(described).toContain('state         paused — maintenance');
    expect(described).toContain('overlap BUFFER_ONE');
    expect(described).toContain('start / end   2023-01-02T00:00:00.000Z / 2023-01-31T00:00:00.000Z');
    expect(described).toContain('1 taken');

    // list reads the visibility store: wait until it shows the schedule.
    let listed = '';
    for (let i = 0; i < 50 && !listed.includes(ID); i++) {
      listed = await cli('schedules', 'list', '--prefix', ID);
      if (!listed.includes(ID)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(listed).toMatch(new RegExp(`\\* ${ID}\\s+noSuchWorkflow\\s+paused`));

    const plan = await cli('schedules', 'backfill', ID, '--from', '2023-01-01', '--to', '2023-01-04', '--dry-run');
    expect(plan).toContain('3 run(s) for [2023-01-01T00:00:00.000Z, 2023-01-04T00:00:00.000Z)');
    expect(plan).toContain(`2023-01-03T00:00:00.000Z → 2023-01-04T00:00:00.000Z  ${ID}-2023-01-04T00:00:00Z`);
  });

  it('events-api serves the data set and answers 400 for a bad date', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/cli/events.ts').then(async (m) => { const { Command } = await import('commander'); const p = new Command(); m.registerEventsCommands(p); await p.parseAsync(['node', 'x', 'events-api', '--port', '0']); })",
      ],
      { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf);
        });
        child.once('exit', (code) => reject(new Error(`events-api exited with ${code}: ${buf}`)));
      });
      expect(line).toMatch(/Events API on http:\/\/127\.0\.0\.1:\d+\/events: \d+ events, 2023-01-01 … 2023-01-30/);
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!;
      const ok = await fetch(`${url}/events?start_date=2023-01-01&end_date=2023-01-02`);
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as unknown[]).length).toBeGreaterThanOrEqual(200);
      const bad = await fetch(`${url}/events?start_date=01/02/2023`);
      expect(bad.status).toBe(400);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
