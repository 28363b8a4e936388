/**
 * The events API (seeded generator + HTTP server) and the events pipeline's watermark on the real stack:
 * a failed interval is processed by the next run (the schedule's last completion result), not skipped.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, loadSettings, ROOT_DIR } from '../src/config/env';
import { createPool, type Pool } from '../src/db/pool';
import { createEventsActivities } from '../src/activities/events';
import { createScheduleActivities } from '../src/activities/schedules';
import { EVENTS_PER_DAY, generateEvents, generateEventsForDay, USERS_PER_DAY, type WebEvent } from '../src/events/generator';
import { eventsHandler, startEventsApi, type EventsApi } from '../src/events/server';
import { backfillSchedule } from '../src/schedules/backfill';
import { applyPlan, planSchedules } from '../src/schedules/apply';
import type { EventsStatsResult } from '../src/workflows/events';
import { recordHistory, withWorker } from './support/temporal';

const RUN = randomUUID().slice(0, 8);
const TABLE = `analytics.event_stats_w${RUN}`;
let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi({ port: 0 });
});
afterAll(async () => {
  await api?.close();
});

async function get(pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${api.url}${pathAndQuery}`);
  return { status: res.status, body: await res.json() };
}

describe('events data set', () => {
  it('30 days ending 2023-01-31 (exclusive), 50–100 IPv4 users and 200–2,000 events per day, seeded by the date', () => {
    const events = generateEvents();
    const days = [...new Set(events.map((e) => e.date))];
    expect(days).toHaveLength(30);
    expect(days[0]).toBe('2023-01-01');
    expect(days.at(-1)).toBe('2023-01-30');
    for (const day of days) {
      const ofDay = events.filter((e) => e.date === day);
      const users = new Set(ofDay.map((e) => e.user));
      expect(ofDay.length).toBeGreaterThanOrEqual(EVENTS_PER_DAY.min);
      expect(ofDay.length).toBeLessThanOrEqual(EVENTS_PER_DAY.max);
      expect(users.size).toBeGreaterThanOrEqual(1);
      expect(users.size).toBeLessThanOrEqual(USERS_PER_DAY.max);
      for (const u of users) expect(u).toMatch(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
      // A day depends on its date only.
      expect(generateEventsForDay(day)).toEqual(ofDay);
    }
    // Reproducible across runs, machines and time zones: the data set's digest is pinned (it changes only
    // if the generator changes, which would change every published count).
    expect(createHash('sha256').update(JSON.stringify(events)).digest('hex')).toBe(
      '1686d8c8b3d58cfb95e1861c8b64e9a95ce13e67ccf7e561a4b2cd6f0e56863f',
    );
    expect(generateEventsForDay('2023-01-02')).not.toEqual(generateEventsForDay('2023-01-01'));
  });

  it('GET /events: start_date inclusive, end_date exclusive, dates or ISO date-times', async () => {
    const all = (await get('/events')).body as WebEvent[];
    expect(all).toEqual(api.events);
    const r = await get('/events?start_date=2023-01-05&end_date=2023-01-07');
    expect(r.status).toBe(200);
    const got = r.body as WebEvent[];
    expect([...new Set(got.map((e) => e.date))]).toEqual(['2023-01-05', '2023-01-06']);
    expect(got).toEqual(all.filter((e) => e.date >= '2023-01-05' && e.date < '2023-01-07'));
    const iso = await get('/events?start_date=2023-01-05T00:00:00Z&end_date=2023-01-06T00:00:00.000Z');
    expect(iso.body).toEqual(all.filter((e) => e.date === '2023-01-05'));
    expect((await get('/events?start_date=2023-01-30')).body).toEqual(all.filter((e) => e.date === '2023-01-30'));
    expect((await get('/events?start_date=2023-01-06&end_date=2023-01-06')).body).toEqual([]);
  });

  it('bad dates get a 400 with the reason; unknown paths 404', async () => {
    const bad = await get('/events?start_date=2023-13-01');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ parameter: 'start_date', value: '2023-13-01' });
    expect((bad.body as { error: string }).error).toMatch(/start_date "2023-13-01" is not a date: use YYYY-MM-DD/);
    const words = await get('/events?end_date=yesterday');
    expect(words.status).toBe(400);
    expect((words.body as { error: string }).error).toMatch(/^end_date "yesterday" is not a date/);
    const reversed = await get('/events?start_date=2023-01-10&end_date=2023-01-05');
    expect(reversed.status).toBe(400);
    expect((reversed.body as { error: string }).error).toBe('start_date 2023-01-10 is after end_date 2023-01-05');
    expect((await get('/nope')).status).toBe(404);
  });
});

describe('watermark: a failed run is retried by the next run', () => {
  let pool: Pool;
  let outputDir: string;
  let flaky: http.Server;
  let flakyUrl: string;
  /** Requests for these dates fail once with 400 (non-retryable: the run fails). */
  const failOnce = new Set(['2023-01-04']);

  beforeAll(async () => {
    pool = createPool(databaseUrl(loadSettings()), 4);
    await pool.query(`CREATE TABLE ${TABLE} (LIKE analytics.event_stats INCLUDING ALL)`);
    outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'events-wm-'));
    const inner = eventsHandler(api.events);
    flaky = http.createServer((req, res) => {
      const start = new URL(req.url ?? '/', 'http://x').searchParams.get('start_date') ?? '';
      if (failOnce.delete(start)) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'injected failure' }));
        return;
      }
      inner(req, res);
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await pool.end();
    await new Promise<void>((resolve) => flaky.close(() => resolve()));
    fs.rmSync(outputDir, { recursive: true, force: true });
  });

  it('runs in order; the day after a failure covers the failed day too, one CSV per day', async () => {
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'test/fixtures/workflows/events-index.ts'),
        activities: { ...createEventsActivities({ pool, outputDir, eventStatsTable: TABLE }), ...createScheduleActivities() },
      },
      async ({ client, taskQueue }) => {
        const id = `test-events-wm-${RUN}`;
        try {
          const plan = await planSchedules(
            client,
            [
              {
                file: 'test/events.test.ts',
                config: {
                  id,
                  workflow: 'eventsStats',
                  taskQueue,
                  preset: '@daily',
                  start: '2023-01-01',
                  end: '2023-01-31',
                  overlap: 'buffer_all',
                  args: { apiUrl: flakyUrl, incremental: true },
                },
              },
            ],
            { idPrefix: id },
          );
          await applyPlan(client, plan);
          const result = await backfillSchedule(client, id, { from: '2023-01-01', to: '2023-01-07', concurrency: 3 });
          expect(result.concurrency).toBe(1); // incremental schedules are backfilled in order
          expect(result.runs.map((r) => [r.dataIntervalStart.slice(0, 10), r.status])).toEqual([
            ['2023-01-01', 'completed'],
            ['2023-01-02', 'completed'],
            ['2023-01-03', 'completed'],
            ['2023-01-04', 'failed'],
            ['2023-01-05', 'completed'],
            ['2023-01-06', 'completed'],
          ]);
          expect(result.runs[3]!.error).toMatch(/HTTP 400/);
          const out = async (i: number) => (await client.workflow.getHandle(result.runs[i]!.workflowId).result()) as EventsStatsResult;
          const caughtUp = await out(4);
          expect(caughtUp).toMatchObject({
            dataIntervalStart: '2023-01-04T00:00:00.000Z',
            dataIntervalEnd: '2023-01-06T00:00:00.000Z',
            caughtUpFrom: '2023-01-05T00:00:00.000Z',
            watermark: '2023-01-06T00:00:00.000Z',
          });
          expect(caughtUp.intervals.map((i) => i.csv)).toEqual([
            'events/stats_2023-01-04_2023-01-05.csv',
            'events/stats_2023-01-05_2023-01-06.csv',
          ]);
          const next = await out(5);
          expect(next.dataIntervalStart).toBe('2023-01-06T00:00:00.000Z');
          expect(next.caughtUpFrom).toBeUndefined();
          // Nothing skipped: 6 days of CSVs and every day's rows in the table.
          expect(fs.readdirSync(path.join(outputDir, 'events')).filter((f) => f.endsWith('.csv'))).toHaveLength(6);
          const days = await pool.query<{ d: string; n: string }>(
            `SELECT to_char(event_date, 'YYYY-MM-DD') AS d, sum(event_count) AS n FROM ${TABLE} GROUP BY 1 ORDER BY 1`,
          );
          expect(days.rows.map((r) => [r.d, Number(r.n)])).toEqual(
            ['2023-01-01', '2023-01-02', '2023-01-03', '2023-01-04', '2023-01-05', '2023-01-06'].map((d) => [
              d,
              api.events.filter((e) => e.date === d).length,
            ]),
          );
          await recordHistory(client, result.runs[4]!.workflowId, 'eventsStats-watermark-catch-up');

          // A manual run takes an explicit interval (no schedule, no watermark) and writes one CSV for it.
          const manual = (await client.workflow.execute('eventsStats', {
            taskQueue,
            workflowId: `test-events-manual-${RUN}`,
            args: [{ apiUrl: flakyUrl, dataIntervalStart: '2023-01-10T00:00:00Z', dataIntervalEnd: '2023-01-12T00:00:00Z' }],
          })) as EventsStatsResult;
          expect(manual).toMatchObject({
            dataIntervalStart: '2023-01-10T00:00:00.000Z',
            dataIntervalEnd: '2023-01-12T00:00:00.000Z',
            events: api.events.filter((e) => e.date === '2023-01-10' || e.date === '2023-01-11').length,
          });
          expect(manual.intervals.map((i) => i.csv)).toEqual(['events/stats_2023-01-10_2023-01-12.csv']);
          // Lineage: the rows of the interval name the run that wrote them.
          const manualRun = (await client.workflow.getHandle(`test-events-manual-${RUN}`).describe()).runId;
          const runIds = await pool.query<{ workflow_run_id: string }>(
            `SELECT DISTINCT workflow_run_id FROM ${TABLE} WHERE event_date >= '2023-01-10' AND event_date < '2023-01-12'`,
          );
          expect(runIds.rows).toEqual([{ workflow_run_id: manualRun }]);
          await recordHistory(client, `test-events-manual-${RUN}`, 'eventsStats-manual-interval');
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
