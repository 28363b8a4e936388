/**
 * Schedules as config, against the real Temporal dev server: validation, plan/apply, update of one field,
 * foreign schedules left alone, prune. Every schedule of a run has a unique id prefix and is deleted at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { applyPlan, formatPlan, planSchedules, type Plan } from '../src/schedules/apply';
import { loadScheduleFiles, ScheduleValidationError } from '../src/schedules/schema';
import { MANAGED_BY } from '../src/schedules/to-temporal';

const RUN = randomUUID().slice(0, 8);
const PREFIX = `test-sched-${RUN}-`;
/** A managed schedule outside PREFIX: must never be a delete candidate of a plan scoped to PREFIX. */
const OUTSIDE_ID = `test-sched-other-${RUN}`;
const FOREIGN_ID = `${PREFIX}foreign`;
const TAKEN_ID = `${PREFIX}taken`;

let connection: Connection;
let client: Client;
let dir: string;

function writeFile(name: string, content: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dir, name), stringify(content));
}

/** Schedules are created paused on a task queue nobody polls: they never start anything. */
function base(id: string): Record<string, unknown> {
  return { id: `${PREFIX}${id}`, workflow: 'noSuchWorkflow', taskQueue: `test-sched-${RUN}`, paused: true };
}

function byId(plan: Plan): Record<string, string> {
  return Object.fromEntries(plan.items.map((i) => [i.id, i.action]));
}

async function exists(id: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** `list()` reads the visibility store (eventually consistent): wait until it shows `ids`. */
async function waitListed(ids: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const seen = new Set<string>();
    for await (const s of client.schedule.list()) seen.add(s.scheduleId);
    if (ids.every((id) => seen.has(id))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`schedules ${ids.join(', ')} never showed up in list()`);
}

beforeAll(async () => {
  const settings = loadSettings();
  connection = await Connection.connect({ address: settings.temporalAddress });
  client = new Client({ connection, namespace: settings.temporalNamespace });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schedules-'));
});

afterAll(async () => {
  const ids = new Set<string>([FOREIGN_ID, TAKEN_ID, OUTSIDE_ID]);
  for await (const s of client.schedule.list()) if (s.scheduleId.startsWith(PREFIX)) ids.add(s.scheduleId);
  for (const f of ['every', 'daily', 'cron', 'calendar', 'gone', 'once']) ids.add(`${PREFIX}${f}`);
  for (const id of ids)
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await connection?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('schedules as config', () => {
  it('the repo schedule files are valid', () => {
    const files = loadScheduleFiles(path.join(ROOT_DIR, 'schedules'));
    const sensor = files.find((f) => f.config.id === 'sensor-pipeline');
    expect(sensor?.file).toBe('schedules/sensor-pipeline.yaml');
    expect(sensor?.config).toMatchObject({
      workflow: 'sensorPipeline',
      taskQueue: 'iot-pipelines',
      every: '10m',
      overlap: 'buffer_one',
    });
  });

  it('apply creates; a second apply reports everything unchanged; the server state matches the files', async () => {
    writeFile('every.yaml', {
      ...base('every'),
      description: 'every 10 minutes',
      every: '10m',
      offset: '2m',
      overlap: 'buffer_one',
      catchupWindow: '1h',
      pauseOnFailure: true,
      note: 'created by test',
      memo: { owner: 'tests' },
      searchAttributes: { Source: 'mqtt' },
      args: { bucketMinutes: 5 },
    });
    writeFile('daily.yaml', {
      ...base('daily'),
      preset: '@daily',
      timezone: 'Europe/Paris',
      start: '2024-01-01',
      end: '2040-01-01T00:00:00Z',
    });
    writeFile('cron.yaml', { ...base('cron'), cron: '15 3 * * 1-5', overlap: 'skip' });
    writeFile('calendar.yml', { ...base('calendar'), calendar: { hour: [6, 18], dayOfWeek: 'MONDAY' }, jitter: '30s' });
    writeFile('gone.yaml', { ...base('gone'), preset: '@hourly' });
    writeFile('once.yaml', { ...base('once'), preset: '@once', start: '2035-06-01T12:00:00Z', paused: false });

    const files = loadScheduleFiles(dir);
    const plan = await planSchedules(client, files, { idPrefix: PREFIX });
    expect(Object.values(byId(plan))).toEqual(['create', 'create', 'create', 'create', 'create', 'create']);
    const result = await applyPlan(client, plan);
    expect(result.created).toHaveLength(6);

    const again = await planSchedules(client, loadScheduleFiles(dir), { idPrefix: PREFIX });
    expect(
      again.items.map((i) => i.action),
      formatPlan(again),
    ).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(formatPlan(again)).toContain('0 to create, 0 to update, 6 unchanged');

    const d = await client.schedule.getHandle(`${PREFIX}every`).describe();
    expect(d.memo).toMatchObject({ managedBy: MANAGED_BY });
    expect(d.spec.intervals).toEqual([{ every: 600_000, offset: 120_000 }]);
    expect(d.policies).toEqual({ overlap: 'BUFFER_ONE', catchupWindow: 3_600_000, pauseOnFailure: true });
    expect(d.state).toMatchObject({ paused: true, note: 'created by test' });
    expect(d.action).toMatchObject({
      workflowType: 'noSuchWorkflow',
      taskQueue: `test-sched-${RUN}`,
      workflowId: `${PREFIX}every`,
      args: [
        {
          bucketMinutes: 5,
          schedule: { id: `${PREFIX}every`, interval: { kind: 'fixed', everyMs: 600_000, offsetMs: 120_000 } },
        },
      ],
    });
    expect(d.action.memo).toMatchObject({ owner: 'tests', managedBy: MANAGED_BY, description: 'every 10 minutes' });
    const typed = d.action.typedSearchAttributes;
    const pairs = typed === undefined ? [] : Array.isArray(typed) ? typed : typed.getAll();
    const attrs = Object.fromEntries(pairs.map((p) => [p.key.name, p.value]));
    expect(attrs).toEqual({ PipelineName: `${PREFIX}every`, Source: 'mqtt' });

    const daily = await client.schedule.getHandle(`${PREFIX}daily`).describe();
    expect(daily.spec.timezone).toBe('Europe/Paris');
    expect(daily.spec.startAt?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(daily.spec.calendars).toHaveLength(1);
    // Next fire is local midnight in Paris (22:00 or 23:00 UTC).
    const next = daily.info.nextActionTimes[0];
    expect(next).toBeDefined();
    expect([22, 23]).toContain(next!.getUTCHours());
    const cron = await client.schedule.getHandle(`${PREFIX}cron`).describe();
    expect(cron.spec.calendars?.[0]).toMatchObject({ minute: [{ start: 15, end: 15 }], hour: [{ start: 3, end: 3 }] });
    const calendar = await client.schedule.getHandle(`${PREFIX}calendar`).describe();
    expect(calendar.spec.jitter).toBe(30_000);
    // @once fires exactly once, at start.
    const once = await client.schedule.getHandle(`${PREFIX}once`).describe();
    expect(once.info.nextActionTimes.map((t) => t.toISOString())).toEqual(['2035-06-01T12:00:00.000Z']);
  });

  it('editing a field updates only that schedule, with a readable diff', async () => {
    writeFile('every.yaml', {
      ...base('every'),
      description: 'every 10 minutes',
      every: '10m',
      offset: '2m',
      overlap: 'buffer_all',
      catchupWindow: '1h',
      pauseOnFailure: true,
      note: 'created by test',
      memo: { owner: 'tests' },
      searchAttributes: { Source: 'mqtt' },
      args: { bucketMinutes: 5 },
    });
    writeFile('cron.yaml', { ...base('cron'), cron: '45 3 * * 1-5', overlap: 'skip' });
    const plan = await planSchedules(client, loadScheduleFiles(dir), { idPrefix: PREFIX });
    expect(byId(plan)).toEqual({
      [`${PREFIX}calendar`]: 'unchanged',
      [`${PREFIX}cron`]: 'update',
      [`${PREFIX}daily`]: 'unchanged',
      [`${PREFIX}every`]: 'update',
      [`${PREFIX}gone`]: 'unchanged',
      [`${PREFIX}once`]: 'unchanged',
    });
    const every = plan.items.find((i) => i.id === `${PREFIX}every`);
    expect(every?.action === 'update' && every.changes).toEqual([{ field: 'overlap', from: 'BUFFER_ONE', to: 'BUFFER_ALL' }]);
    const text = formatPlan(plan);
    expect(text).toContain('overlap: BUFFER_ONE → BUFFER_ALL');
    expect(text).toContain('calendars: cron 15 3 * * 1-5 → cron 45 3 * * 1-5');

    const before = await client.schedule.getHandle(`${PREFIX}daily`).describe();
    const result = await applyPlan(client, plan);
    expect(result.updated.sort()).toEqual([`${PREFIX}cron`, `${PREFIX}every`]);
    expect((await client.schedule.getHandle(`${PREFIX}every`).describe()).policies.overlap).toBe('BUFFER_ALL');
    const cron = await client.schedule.getHandle(`${PREFIX}cron`).describe();
    expect(cron.spec.calendars?.[0]).toMatchObject({ minute: [{ start: 45, end: 45 }] });
    // The untouched schedule was not updated.
    const after = await client.schedule.getHandle(`${PREFIX}daily`).describe();
    expect(after.info.lastUpdatedAt?.getTime()).toBe(before.info.lastUpdatedAt?.getTime());

    const again = await planSchedules(client, loadScheduleFiles(dir), { idPrefix: PREFIX });
    expect(
      again.items.every((i) => i.action === 'unchanged'),
      formatPlan(again),
    ).toBe(true);
  });

  it('a change made outside the files (drift) is detected and reverted', async () => {
    const handle = client.schedule.getHandle(`${PREFIX}calendar`);
    await handle.update((prev) => ({ ...prev, policies: { ...prev.policies, catchupWindow: 120_000 } }));
    const plan = await planSchedules(client, loadScheduleFiles(dir), { idPrefix: PREFIX });
    const item = plan.items.find((i) => i.id === `${PREFIX}calendar`);
    expect(item?.action === 'update' && item.changes).toEqual([{ field: 'catchupWindow', from: '2m', to: '365d' }]);
    await applyPlan(client, plan);
    expect((await handle.describe()).policies.catchupWindow).toBe(365 * 24 * 3_600_000);
  });

  it('schedules created by others are never touched, also with prune; prune deletes only managed schedules that left the files', async () => {
    const foreignSpec = { intervals: [{ every: '1h' }] };
    const foreignAction = { type: 'startWorkflow' as const, workflowType: 'someoneElses', taskQueue: `test-sched-${RUN}` };
    await client.schedule.create({ scheduleId: FOREIGN_ID, spec: foreignSpec, action: foreignAction, state: { paused: true } });
    await client.schedule.create({ scheduleId: TAKEN_ID, spec: foreignSpec, action: foreignAction, state: { paused: true } });
    // A managed schedule outside the plan's prefix.
    const outside = await planSchedules(
      client,
      [{ file: 'outside.yaml', config: { id: OUTSIDE_ID, workflow: 'w', every: '1h', paused: true } }],
      {
        idPrefix: OUTSIDE_ID,
      },
    );
    await applyPlan(client, outside);

    // `gone` leaves the files; a file claims the foreign id `taken`.
    fs.rmSync(path.join(dir, 'gone.yaml'));
    writeFile('taken.yaml', { ...base('taken'), every: '5m' });
    await waitListed([`${PREFIX}gone`, FOREIGN_ID, OUTSIDE_ID]);

    const plan = await planSchedules(client, loadScheduleFiles(dir), { idPrefix: PREFIX });
    const actions = byId(plan);
    expect(actions[`${PREFIX}gone`]).toBe('delete-candidate');
    expect(actions[TAKEN_ID]).toBe('conflict');
    expect(actions[FOREIGN_ID]).toBeUndefined();
    expect(actions[OUTSIDE_ID]).toBeUndefined();
    expect(formatPlan(plan)).toMatch(/! test-sched-.*taken .*conflict: a schedule with this id exists and is not managed/);

    const kept = await applyPlan(client, plan); // no prune
    expect(kept.kept).toEqual([`${PREFIX}gone`]);
    expect(kept.conflicts).toEqual([TAKEN_ID]);
    expect(await exists(`${PREFIX}gone`)).toBe(true);

    const pruned = await applyPlan(client, plan, { prune: true });
    expect(pruned.deleted).toEqual([`${PREFIX}gone`]);
    expect(pruned.conflicts).toEqual([TAKEN_ID]);
    expect(await exists(`${PREFIX}gone`)).toBe(false);
    for (const id of [FOREIGN_ID, TAKEN_ID]) {
      const d = await client.schedule.getHandle(id).describe();
      expect(d.memo?.managedBy).toBeUndefined();
      expect(d.action.workflowType).toBe('someoneElses');
      expect(d.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
    }
    expect(await exists(OUTSIDE_ID)).toBe(true);
    for (const id of ['every', 'daily', 'cron', 'calendar']) expect(await exists(`${PREFIX}${id}`)).toBe(true);
  });
});

describe('invalid schedule files', () => {
  function problemsOf(files: Record<string, string>): string[] {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-schedules-'));
    try {
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(bad, name), text);
      loadScheduleFiles(bad);
    } catch (err) {
      expect(err).toBeInstanceOf(ScheduleValidationError);
      return (err as ScheduleValidationError).problems.map((p) => p.replace(/\S*bad-schedules-[^/]+\//g, ''));
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
    throw new Error('expected a validation error');
  }
  const ok = 'workflow: w\nevery: 10m\n';

  it('names the file, the field and the allowed values', () => {
    expect(problemsOf({ 'x.yaml': `id: x\n${ok}overlap: sometimes\n` })).toEqual([
      'x.yaml: overlap: "sometimes" is not one of skip, buffer_one, buffer_all, cancel_other, terminate_other, allow_all',
    ]);
    expect(problemsOf({ 'p.yaml': 'id: p\nworkflow: w\npreset: "@fortnightly"\n' })).toEqual([
      'p.yaml: preset: "@fortnightly" is not one of @once, @hourly, @daily, @weekly, @monthly, @yearly',
    ]);
  });

  it('reports missing and unknown fields, bad durations, zones, cron and dates', () => {
    expect(problemsOf({ 'a.yaml': 'id: a\nevery: 10m\n' })).toEqual(['a.yaml: workflow: is required (string)']);
    expect(problemsOf({ 'b.yaml': `id: b\n${ok}schedule_interval: 10m\n` })[0]).toMatch(
      /^b\.yaml: unknown field schedule_interval; allowed: id, description, workflow, /,
    );
    expect(problemsOf({ 'c.yaml': 'id: c\nworkflow: w\nevery: 10 minutes\n' })).toEqual([
      'c.yaml: every: "10 minutes" is not a duration: write e.g. 30s, 10m, 1h30m, 2d (units d, h, m, s, largest first)',
    ]);
    expect(problemsOf({ 'd.yaml': 'id: d\nworkflow: w\npreset: "@daily"\ntimezone: Mars/Olympus\n' })[0]).toMatch(
      /^d\.yaml: timezone: "Mars\/Olympus" is not an IANA time zone/,
    );
    expect(problemsOf({ 'e.yaml': 'id: e\nworkflow: w\ncron: "61 * * * *"\n' })[0]).toMatch(
      /^e\.yaml: cron: "61 \* \* \* \*" is not a 5-field cron/,
    );
    expect(problemsOf({ 'f.yaml': `id: f\n${ok}start: "2024-02-01"\nend: "2024-01-01"\n` })).toEqual([
      'f.yaml: end: must be after start (2024-02-01)',
    ]);
    expect(problemsOf({ 'g.yaml': 'id: g\nworkflow: w\npreset: "@once"\n' })).toEqual([
      'g.yaml: start: is required with preset @once (the run happens at start)',
    ]);
    expect(problemsOf({ 'h.yaml': `id: H_1\n${ok}` })[0]).toMatch(/^h\.yaml: id: "H_1" must be lowercase letters, digits and dashes/);
    expect(problemsOf({ 'i.yaml': `id: i\n${ok}searchAttributes: { Owner: me }\n` })[0]).toMatch(
      /^i\.yaml: searchAttributes\.Owner: is not a settable search attribute; allowed: Source/,
    );
  });

  it('requires exactly one of preset, cron, every, calendar', () => {
    expect(problemsOf({ 'none.yaml': 'id: n\nworkflow: w\n' })).toEqual([
      'none.yaml: (file): needs exactly one of preset, cron, every, calendar (none given)',
    ]);
    expect(problemsOf({ 'two.yaml': 'id: t\nworkflow: w\nevery: 1h\ncron: "0 * * * *"\n' })).toEqual([
      'two.yaml: every: needs exactly one of preset, cron, every, calendar (got cron and every)',
    ]);
    expect(problemsOf({ 'o.yaml': 'id: o\nworkflow: w\nevery: 10m\noffset: 10m\n' })).toEqual([
      'o.yaml: offset: must be shorter than every (10m)',
    ]);
  });

  it('rejects duplicate ids across files and broken YAML, reporting all files at once', () => {
    const problems = problemsOf({
      'one.yaml': `id: same\n${ok}`,
      'two.yaml': `id: same\n${ok}`,
      'three.yaml': 'id: [unclosed\n',
    });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^three\.yaml: YAML: /);
    expect(problems[1]).toBe('two.yaml: id: "same" is already used by one.yaml; ids must be unique');
  });
});
