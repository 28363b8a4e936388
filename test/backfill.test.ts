/**
 * The events pipeline end to end on the real stack: the events API, `schedules/events-stats.yaml` applied
 * as a Temporal Schedule (idempotently), a 30-day backfill with bounded concurrency producing 30 CSV files
 * and table rows whose counts equal a groupby(date, user).size() computed here from the API's data,
 * contiguous data intervals, the overlap policy of a backfill, re-runs replacing output, and the
 * `temporal schedule describe` CLI showing the same state.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, loadSettings, ROOT_DIR } from '../src/config/env';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import { createPool, type Pool } from '../src/db/pool';
import { createEventsActivities } from '../src/activities/events';
import { createScheduleActivities } from '../src/activities/schedules';
import { startEventsApi, type EventsApi } from '../src/events/server';
import type { WebEvent } from '../src/events/generator';
import { backfillSchedule } from '../src/schedules/backfill';
import { loadScheduleFiles } from '../src/schedules/schema';
import { applySchedules } from '../src/cli/schedules';
import type { EventsStatsResult } from '../src/workflows/events';
import { recordHistory, withWorker } from './support/temporal';

const RUN = randomUUID().slice(0, 8);
let SCHEDULE_ID = `test-events-${RUN}`;
const TABLE = `analytics.event_stats_t${RUN}`;
// The stack's own lookup (TEMPORAL_CLI_PATH, PATH, the stack folder, Go's bin), as the global setup found it.
const TEMPORAL_CLI = await findOrBuildTemporalCli(loadSettings().stackDir);

let pool: Pool;
let api: EventsApi;
let outputDir: string;
let scheduleDir: string;

/** Independent groupby(date, user).size(): a plain object of "date|user" → count. */
function groupBySize(events: readonly WebEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[`${e.date}|${e.user}`] = (out[`${e.date}|${e.user}`] ?? 0) + 1;
  return out;
}

function readCsvCounts(file: string): Record<string, number> {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  expect(header).toBe('date,user,count');
  const out: Record<string, number> = {};
  for (const line of lines) {
    const [date, user, count] = line.split(',');
    out[`${date}|${user}`] = Number(count);
  }
  return out;
}

/** The repo's schedule file, re-targeted at this test's task queue, API and id. */
function writeScheduleFile(taskQueue: string, overrides: Record<string, unknown> = {}): void {
  const repo = parse(fs.readFileSync(path.join(ROOT_DIR, 'schedules/events-stats.yaml'), 'utf8')) as Record<string, unknown>;
  const args = { ...(repo.args as Record<string, unknown>), apiUrl: api.url, incremental: false };
  fs.writeFileSync(path.join(scheduleDir, 'events-stats.yaml'), stringify({ ...repo, id: SCHEDULE_ID, taskQueue, args, ...overrides }));
}

beforeAll(async () => {
  pool = createPool(databaseUrl(loadSettings()), 4);
  await pool.query(`CREATE TABLE ${TABLE} (LIKE analytics.event_stats INCLUDING ALL)`);
  api = await startEventsApi({ port: 0 });
  outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'events-out-'));
  scheduleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'events-sched-'));
});

afterAll(async () => {
  await pool.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await pool.end();
  await api?.close();
  fs.rmSync(outputDir, { recursive: true, force: true });
  fs.rmSync(scheduleDir, { recursive: true, force: true });
});

async function withEventsWorker<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  return withWorker(
    {
      workflowsPath: path.join(ROOT_DIR, 'test/fixtures/workflows/events-index.ts'),
      activities: { ...createEventsActivities({ pool, outputDir, eventStatsTable: TABLE }), ...createScheduleActivities() },
    },
    async ({ client, taskQueue }) => {
      try {
        return await fn(client, taskQueue);
      } finally {
        await client.schedule
          .getHandle(SCHEDULE_ID)
          .delete()
          .catch(() => undefined);
      }
    },
  );
}

describe('events pipeline: apply, 30-day backfill, re-run', () => {
  it('backfills 30 days into 30 CSVs and table rows equal to groupby(date, user).size() of the API data', async () => {
    await withEventsWorker(async (client, taskQueue) => {
      writeScheduleFile(taskQueue, { overlap: 'allow_all' });
      const lines: string[] = [];
      const first = await applySchedules(client, { dir: scheduleDir, log: (l) => lines.push(l) });
      expect(first?.created).toEqual([SCHEDULE_ID]);
      const second = await applySchedules(client, { dir: scheduleDir, log: (l) => lines.push(l) });
      expect(second?.unchanged).toEqual([SCHEDULE_ID]);
      expect([second?.created, second?.updated]).toEqual([[], []]);
      expect(lines.at(-1)).toContain('0 to create, 0 to update, 1 unchanged');

      // The schedule's own fire times: 2023-01-02 … 2023-01-31 (start + 1 day … end).
      const log: string[] = [];
      const result = await backfillSchedule(client, SCHEDULE_ID, {
        from: '2023-01-01',
        to: '2023-01-31',
        concurrency: 5,
        overlap: 'allow_all',
        log: (l) => log.push(l),
      });
      expect(result.runs).toHaveLength(30);
      expect(
        result.runs.every((r) => r.status === 'completed'),
        log.join('\n'),
      ).toBe(true);

      // Workflow results: exactly contiguous intervals, no gap, no overlap, each one day.
      const results: EventsStatsResult[] = [];
      for (const r of result.runs) results.push((await client.workflow.getHandle(r.workflowId).result()) as EventsStatsResult);
      expect(results[0]!.dataIntervalStart).toBe('2023-01-01T00:00:00.000Z');
      expect(results.at(-1)!.dataIntervalEnd).toBe('2023-01-31T00:00:00.000Z');
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        expect(r.dataIntervalStart).toBe(result.runs[i]!.dataIntervalStart);
        expect(r.dataIntervalEnd).toBe(result.runs[i]!.fireTime);
        expect(Date.parse(r.dataIntervalEnd) - Date.parse(r.dataIntervalStart)).toBe(86_400_000);
        if (i > 0) expect(r.dataIntervalStart).toBe(results[i - 1]!.dataIntervalEnd);
        expect(r.intervals).toHaveLength(1);
      }

      // Bounded concurrency: never more than 5 runs open at the same time.
      const spans: Array<[number, number]> = [];
      for (const r of result.runs) {
        const d = await client.workflow.getHandle(r.workflowId).describe();
        spans.push([d.startTime.getTime(), d.closeTime!.getTime()]);
      }
      const maxOpen = Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));
      expect(maxOpen).toBeLessThanOrEqual(5);
      expect(maxOpen).toBeGreaterThan(1);

      // 30 CSV files whose counts equal the groupby computed here from the API's own response.
      const files = fs
        .readdirSync(path.join(outputDir, 'events'))
        .filter((f) => f.endsWith('.csv'))
        .sort();
      expect(files).toHaveLength(30);
      expect(files[0]).toBe('stats_2023-01-01_2023-01-02.csv');
      const served = (await (await fetch(`${api.url}/events?start_date=2023-01-01&end_date=2023-01-31`)).json()) as WebEvent[];
      expect(served.length).toBeGreaterThan(30 * 200);
      const expected = groupBySize(served);
      const fromCsv: Record<string, number> = {};
      for (const f of files) Object.assign(fromCsv, readCsvCounts(path.join(outputDir, 'events', f)));
      expect(fromCsv).toEqual(expected);
      const { rows } = await pool.query<{ d: string; u: string; c: number }>(
        `SELECT to_char(event_date, 'YYYY-MM-DD') AS d, user_ip AS u, event_count AS c FROM ${TABLE}`,
      );
      expect(Object.fromEntries(rows.map((r) => [`${r.d}|${r.u}`, r.c]))).toEqual(expected);
      expect(results.reduce((n, r) => n + r.events, 0)).toBe(served.length);
      await recordHistory(client, result.runs[0]!.workflowId, 'eventsStats-backfill-2023-01-01');

      // Re-running an interval replaces its output (no duplicates).
      const rerun = await backfillSchedule(client, SCHEDULE_ID, {
        from: '2023-01-05',
        to: '2023-01-06',
        overlap: 'allow_all',
      });
      expect(rerun.runs.map((r) => [r.dataIntervalStart, r.status])).toEqual([['2023-01-05T00:00:00.000Z', 'completed']]);
      const after = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`);
      expect(Number(after.rows[0]!.n)).toBe(Object.keys(expected).length);
      expect(readCsvCounts(path.join(outputDir, 'events/stats_2023-01-05_2023-01-06.csv'))).toEqual(
        groupBySize(served.filter((e) => e.date === '2023-01-05')),
      );

      // The temporal CLI shows the same state.
      const cli = JSON.parse(
        execFileSync(
          TEMPORAL_CLI,
          ['schedule', 'describe', '--schedule-id', SCHEDULE_ID, '--address', loadSettings().temporalAddress, '-o', 'json'],
          {
            encoding: 'utf8',
          },
        ),
      ) as {
        schedule: { policies: { overlapPolicy: string }; spec: { startTime: string; endTime: string }; state?: { paused?: boolean } };
        info: { actionCount: string | number };
      };
      const d = await client.schedule.getHandle(SCHEDULE_ID).describe();
      expect(cli.schedule.policies.overlapPolicy).toMatch(/ALLOW_ALL/);
      expect(d.policies.overlap).toBe('ALLOW_ALL');
      expect(new Date(cli.schedule.spec.startTime).toISOString()).toBe(d.spec.startAt?.toISOString());
      expect(new Date(cli.schedule.spec.startTime).toISOString()).toBe('2023-01-02T00:00:00.000Z');
      expect(new Date(cli.schedule.spec.endTime).toISOString()).toBe('2023-01-31T00:00:00.000Z');
      expect(Boolean(cli.schedule.state?.paused)).toBe(d.state.paused);
      expect(Number(cli.info.actionCount)).toBe(d.info.numActionsTaken);
      expect(d.info.numActionsTaken).toBe(31);
    });
  });

  it('a backfill with overlap buffer_all runs its intervals one after another', async () => {
    SCHEDULE_ID = `test-events-${RUN}-buffer`;
    await withEventsWorker(async (client, taskQueue) => {
      writeScheduleFile(taskQueue, { overlap: 'allow_all' });
      await applySchedules(client, { dir: scheduleDir, log: () => undefined });
      const result = await backfillSchedule(client, SCHEDULE_ID, {
        from: '2023-01-10',
        to: '2023-01-14',
        concurrency: 4,
        overlap: 'buffer_all',
      });
      expect(result.runs.map((r) => r.dataIntervalStart.slice(0, 10))).toEqual(['2023-01-10', '2023-01-11', '2023-01-12', '2023-01-13']);
      expect(result.runs.every((r) => r.status === 'completed')).toBe(true);
      const spans: Array<[number, number]> = [];
      for (const r of result.runs) {
        const d = await client.workflow.getHandle(r.workflowId).describe();
        spans.push([d.startTime.getTime(), d.closeTime!.getTime()]);
      }
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    });
  });

  it('the repo file is valid and covers exactly the 30 days the API serves', () => {
    const file = loadScheduleFiles(path.join(ROOT_DIR, 'schedules')).find((f) => f.config.id === 'events-stats');
    expect(file?.config).toMatchObject({ workflow: 'eventsStats', preset: '@daily', start: '2023-01-01', end: '2023-01-31' });
    const dates = [...new Set(api.events.map((e) => e.date))].sort();
    expect(dates).toHaveLength(30);
    expect([dates[0], dates.at(-1)]).toEqual(['2023-01-01', '2023-01-30']);
  });
});
