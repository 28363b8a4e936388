/**
 * Data interval math (Airflow 2 semantics) and one real scheduled run on the Temporal dev server.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';
import { applyPlan, planSchedules } from '../src/schedules/apply';
import { intervalDefinition } from '../src/schedules/to-temporal';
import type { LoadedSchedule, ScheduleFile } from '../src/schedules/schema';
import { alignDown, DataIntervalError, resolveDataInterval, type DataIntervalInput } from '../src/workflows/data-interval';
import { withWorker } from './support/temporal';
import type { ProbeResult } from './fixtures/workflows/data-interval-probe';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function input(file: Partial<ScheduleFile>): DataIntervalInput {
  const f: ScheduleFile = { id: 'x', workflow: 'w', ...file };
  return { schedule: { id: f.id, interval: intervalDefinition(f) } };
}

describe('resolveDataInterval', () => {
  it('every 10m: the run at T covers [T-10m, T), logical date = start', () => {
    const r = resolveDataInterval(input({ every: '10m' }), '2024-03-05T12:30:00Z');
    expect(r).toEqual({
      dataIntervalStart: '2024-03-05T12:20:00.000Z',
      dataIntervalEnd: '2024-03-05T12:30:00.000Z',
      logicalDate: '2024-03-05T12:20:00.000Z',
    });
  });

  it('every with offset aligns on epoch + n*every + offset; off-grid times (jitter, triggers) get the latest complete interval', () => {
    const def = input({ every: '1h', offset: '15m' });
    expect(resolveDataInterval(def, '2024-03-05T12:15:00Z').dataIntervalStart).toBe('2024-03-05T11:15:00.000Z');
    const jittered = resolveDataInterval(def, '2024-03-05T12:15:42.123Z');
    expect(jittered.dataIntervalStart).toBe('2024-03-05T11:15:00.000Z');
    expect(jittered.dataIntervalEnd).toBe('2024-03-05T12:15:00.000Z');
    expect(resolveDataInterval(def, '2024-03-05T12:14:59Z').dataIntervalEnd).toBe('2024-03-05T11:15:00.000Z');
  });

  it('alignDown handles instants before 1970', () => {
    expect(alignDown(-1, 1000)).toBe(-1000);
    expect(alignDown(-1000, 1000)).toBe(-1000);
    expect(alignDown(1999, 1000, 500)).toBe(1500);
  });

  it('@hourly/@daily/@weekly in UTC are fixed grids (weekly ends on Sunday 00:00Z)', () => {
    expect(resolveDataInterval(input({ preset: '@hourly' }), '2024-03-05T13:00:00Z').dataIntervalStart).toBe('2024-03-05T12:00:00.000Z');
    const daily = resolveDataInterval(input({ preset: '@daily' }), '2024-03-05T00:00:00Z');
    expect(daily.dataIntervalStart).toBe('2024-03-04T00:00:00.000Z');
    expect(Date.parse(daily.dataIntervalEnd) - Date.parse(daily.dataIntervalStart)).toBe(DAY);
    // 2024-03-10 is a Sunday.
    const weekly = resolveDataInterval(input({ preset: '@weekly' }), '2024-03-10T00:00:00Z');
    expect(weekly).toMatchObject({
      dataIntervalStart: '2024-03-03T00:00:00.000Z',
      dataIntervalEnd: '2024-03-10T00:00:00.000Z',
    });
    expect(new Date(weekly.dataIntervalStart).getUTCDay()).toBe(0);
  });

  it('@monthly and @yearly use calendar months (not fixed length)', () => {
    expect(resolveDataInterval(input({ preset: '@monthly' }), '2024-03-01T00:00:00Z')).toMatchObject({
      dataIntervalStart: '2024-02-01T00:00:00.000Z', // 29 days in 2024
      dataIntervalEnd: '2024-03-01T00:00:00.000Z',
    });
    expect(resolveDataInterval(input({ preset: '@monthly' }), '2024-01-01T00:00:00Z').dataIntervalStart).toBe('2023-12-01T00:00:00.000Z');
    expect(resolveDataInterval(input({ preset: '@yearly' }), '2024-01-01T00:00:00Z')).toMatchObject({
      dataIntervalStart: '2023-01-01T00:00:00.000Z',
      dataIntervalEnd: '2024-01-01T00:00:00.000Z',
    });
  });

  it('@once covers the empty interval at its time', () => {
    const r = resolveDataInterval(input({ preset: '@once', start: '2024-05-01T00:00:00Z' }), '2024-05-01T00:00:00Z');
    expect(r.dataIntervalStart).toBe(r.dataIntervalEnd);
  });

  it('explicit interval in the input wins (manual runs); a half-given interval is an error', () => {
    const r = resolveDataInterval(
      {
        ...input({ every: '10m' }),
        dataIntervalStart: '2024-01-01T00:00:00Z',
        dataIntervalEnd: '2024-01-02T00:00:00Z',
      },
      '2024-03-05T12:30:00Z',
    );
    expect(r).toEqual({
      dataIntervalStart: '2024-01-01T00:00:00.000Z',
      dataIntervalEnd: '2024-01-02T00:00:00.000Z',
      logicalDate: '2024-01-01T00:00:00.000Z',
    });
    expect(() => resolveDataInterval({ dataIntervalStart: '2024-01-01T00:00:00Z' })).toThrow(DataIntervalError);
    expect(() => resolveDataInterval({})).toThrow(/neither dataIntervalStart/);
  });

  it('manual runs without a scheduled time get the latest complete interval before now', () => {
    const r = resolveDataInterval(input({ every: '10m' }), undefined, {
      now: new Date('2024-03-05T12:34:56Z'),
    });
    expect(r.dataIntervalStart).toBe('2024-03-05T12:20:00.000Z');
    expect(r.dataIntervalEnd).toBe('2024-03-05T12:30:00.000Z');
  });

  it('cron and non-UTC presets need the previous fire time from outside the workflow', () => {
    const cron = input({ cron: '15 3 * * 1-5' });
    expect(cron.schedule?.interval).toEqual({
      kind: 'previous-fire',
      cron: '15 3 * * 1-5',
      timezone: 'UTC',
    });
    expect(() => resolveDataInterval(cron, '2024-03-05T03:15:00Z')).toThrow(/previousFireTime/);
    expect(
      resolveDataInterval(cron, '2024-03-05T03:15:00Z', {
        previousFireTime: '2024-03-04T03:15:00Z',
      }),
    ).toMatchObject({
      dataIntervalStart: '2024-03-04T03:15:00.000Z',
      dataIntervalEnd: '2024-03-05T03:15:00.000Z',
    });
    expect(input({ preset: '@daily', timezone: 'Europe/Paris' }).schedule?.interval).toEqual({
      kind: 'previous-fire',
      cron: '0 0 * * *',
      timezone: 'Europe/Paris',
    });
  });
});

describe('a real scheduled run', () => {
  it('receives the interval that ends exactly at its scheduled time', async () => {
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'test/fixtures/workflows/data-interval-probe.ts'),
        activities: {},
      },
      async ({ client, taskQueue }) => {
        const id = `test-di-${randomUUID().slice(0, 8)}`;
        try {
          await checkScheduledRun(client, taskQueue, id);
        } finally {
          await client.schedule
            .getHandle(id)
            .delete()
            .catch(() => undefined);
        }
      },
    );
  });
});

async function checkScheduledRun(client: Client, taskQueue: string, id: string): Promise<void> {
  const file: LoadedSchedule = {
    file: 'test/data-interval.test.ts',
    config: {
      id,
      workflow: 'dataIntervalProbe',
      taskQueue,
      every: '2s',
      overlap: 'allow_all',
      catchupWindow: '10s',
    },
  };
  const plan = await planSchedules(client, [file], { idPrefix: id });
  const applied = await applyPlan(client, plan);
  expect(applied.created).toEqual([id]);
  const handle = client.schedule.getHandle(id);

  // Wait for the first scheduled (not triggered) action.
  let action: { scheduledAt: Date; workflowId: string } | undefined;
  for (let i = 0; i < 100 && !action; i++) {
    const d = await handle.describe();
    const first = d.info.recentActions[0];
    if (first)
      action = {
        scheduledAt: first.scheduledAt,
        workflowId: first.action.workflow.workflowId,
      };
    else await new Promise((r) => setTimeout(r, 200));
  }
  expect(action, 'the schedule took no action within 20 s').toBeDefined();
  await handle.pause('test done');
  const result = (await client.workflow.getHandle(action!.workflowId).result()) as ProbeResult;

  // Temporal appends the scheduled time to the workflow ID: `<id>-<RFC 3339 time>`.
  const fromId = action!.workflowId.slice(id.length + 1);
  expect(action!.workflowId.startsWith(`${id}-`)).toBe(true);
  const scheduled = Date.parse(fromId);
  expect(Number.isFinite(scheduled)).toBe(true);
  expect(result.scheduledStart).toBe(new Date(scheduled).toISOString());
  expect(scheduled % 2000).toBe(0);
  expect(result.interval).toEqual({
    dataIntervalStart: new Date(scheduled - 2000).toISOString(),
    dataIntervalEnd: new Date(scheduled).toISOString(),
    logicalDate: new Date(scheduled - 2000).toISOString(),
  });
  // SDK 1.24: the typed search attributes carry TemporalScheduledStartTime (no fallback needed).
  expect(result.typedHasScheduledStart).toBe(true);

  // A manual trigger fires off the grid: the run gets the latest complete interval before its time.
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  let triggered: string | undefined;
  for (let i = 0; i < 100 && !triggered; i++) {
    const recent = (await handle.describe()).info.recentActions;
    if (recent.length > before) triggered = recent[recent.length - 1]!.action.workflow.workflowId;
    else await new Promise((r) => setTimeout(r, 200));
  }
  expect(triggered, 'trigger() started no run within 20 s').toBeDefined();
  const t = (await client.workflow.getHandle(triggered!).result()) as ProbeResult;
  expect(t.scheduledStart).not.toBeNull();
  const tMs = Date.parse(t.scheduledStart!);
  const end = Math.floor(tMs / 2000) * 2000;
  expect(t.interval.dataIntervalEnd).toBe(new Date(end).toISOString());
  expect(t.interval.dataIntervalStart).toBe(new Date(end - 2000).toISOString());
}
