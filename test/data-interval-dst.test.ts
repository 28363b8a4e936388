/**
 * Data intervals of time-zone schedules across DST, on the real Temporal dev server. What Temporal fires is
 * read from the schedule itself (describe().info.nextActionTimes, ListScheduleMatchingTimes), and real runs
 * (backfilled, far in the future so nothing fires by itself) resolve their interval with
 * `resolveRunInterval` (activity `scheduleIntervalAt`). Documented in src/workflows/data-interval.ts and
 * schedules/README.md:
 * - 02:30 daily on a spring-forward day: no run that day (02:30 does not exist); the next run covers 47 h.
 * - 01:30 daily in America/New_York on the fall-back day: two runs (01:30 EDT, then 01:30 EST = 1 h later).
 * - 02:30 daily in Europe/Berlin on the fall-back day: one run, at the later instant (CET); its interval is 25 h.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { createScheduleActivities } from '../src/activities/schedules';
import { applyPlan, planSchedules } from '../src/schedules/apply';
import { backfillSchedule, matchingTimes } from '../src/schedules/backfill';
import type { ScheduleFile } from '../src/schedules/schema';
import { withWorker } from './support/temporal';
import type { RunIntervalProbeResult } from './fixtures/workflows/run-interval-probe';

const RUN = randomUUID().slice(0, 8);
const HOUR = 3_600_000;
const created: string[] = [];

afterAll(async () => {
  // The worker's client is closed by now: delete the test's schedules with a connection of our own.
  const connection = await Connection.connect({ address: loadSettings().temporalAddress });
  const client = new Client({ connection });
  try {
    for (const id of created) await client.schedule.getHandle(id).delete();
  } finally {
    await connection.close();
  }
});

async function apply(client: Client, name: string, file: Omit<ScheduleFile, 'id'>): Promise<string> {
  const id = `test-dst-${RUN}-${name}`;
  created.push(id);
  const plan = await planSchedules(client, [{ file: `${name}.yaml`, config: { id, ...file } }], { idPrefix: id });
  await applyPlan(client, plan);
  return id;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('DST', () => {
  it('fire times and data intervals of 02:30 / 01:30 daily schedules on DST days', async () => {
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'test/fixtures/workflows/events-index.ts'),
        activities: createScheduleActivities(),
      },
      async ({ client, taskQueue }) => {
        const base = { workflow: 'runIntervalProbe', taskQueue, overlap: 'allow_all' as const };
        // America/New_York: DST starts 2027-03-14 (02:00 EST → 03:00 EDT), ends 2027-11-07 (02:00 EDT → 01:00 EST).
        const nySpring = await apply(client, 'ny-spring', {
          ...base,
          cron: '30 2 * * *',
          timezone: 'America/New_York',
          start: '2027-03-12T00:00:00Z',
          end: '2027-03-17T00:00:00Z',
        });
        const nyFall = await apply(client, 'ny-fall', {
          ...base,
          calendar: { hour: 1, minute: 30 },
          timezone: 'America/New_York',
          start: '2027-11-05T00:00:00Z',
          end: '2027-11-10T00:00:00Z',
        });
        // Europe/Berlin: DST starts 2027-03-28 (02:00 CET → 03:00 CEST), ends 2027-10-31 (03:00 CEST → 02:00 CET).
        const berlinSpring = await apply(client, 'be-spring', {
          ...base,
          cron: '30 2 * * *',
          timezone: 'Europe/Berlin',
          start: '2027-03-26T00:00:00Z',
          end: '2027-03-31T00:00:00Z',
        });
        const berlinFall = await apply(client, 'be-fall', {
          ...base,
          cron: '30 2 * * *',
          timezone: 'Europe/Berlin',
          start: '2027-10-29T00:00:00Z',
          end: '2027-11-03T00:00:00Z',
        });

        const next = async (id: string) =>
          (await client.schedule.getHandle(id).describe()).info.nextActionTimes.map((t) => t.toISOString());
        // Spring forward: no fire on the DST day.
        expect(await next(nySpring)).toEqual([
          '2027-03-12T07:30:00.000Z',
          '2027-03-13T07:30:00.000Z',
          '2027-03-15T06:30:00.000Z',
          '2027-03-16T06:30:00.000Z',
        ]);
        expect(await next(berlinSpring)).toEqual([
          '2027-03-26T01:30:00.000Z',
          '2027-03-27T01:30:00.000Z',
          '2027-03-29T00:30:00.000Z',
          '2027-03-30T00:30:00.000Z',
        ]);
        // Fall back: New York fires at both 01:30s; Berlin once, at the second 02:30 (CET, 01:30Z).
        expect(await next(nyFall)).toEqual([
          '2027-11-05T05:30:00.000Z',
          '2027-11-06T05:30:00.000Z',
          '2027-11-07T05:30:00.000Z',
          '2027-11-07T06:30:00.000Z',
          '2027-11-08T06:30:00.000Z',
          '2027-11-09T06:30:00.000Z',
        ]);
        expect(await next(berlinFall)).toEqual([
          '2027-10-29T00:30:00.000Z',
          '2027-10-30T00:30:00.000Z',
          '2027-10-31T01:30:00.000Z',
          '2027-11-01T01:30:00.000Z',
          '2027-11-02T01:30:00.000Z',
        ]);
        // The matching-times API (what backfill and the interval activity read) agrees with describe().
        expect(
          (await matchingTimes(client, nyFall, Date.parse('2027-11-05T00:00:00Z'), Date.parse('2027-11-10T00:00:00Z'))).map(iso),
        ).toEqual(await next(nyFall));

        // The first fire only opens the first interval.
        const acts = createScheduleActivities({ client });
        expect(await acts.scheduleIntervalAt({ scheduleId: nySpring, at: '2027-03-12T07:30:00Z' })).toEqual({
          end: '2027-03-12T07:30:00.000Z',
          start: null,
        });
        // A time between fires maps to the latest complete interval.
        expect(await acts.scheduleIntervalAt({ scheduleId: nySpring, at: '2027-03-14T12:00:00Z' })).toEqual({
          start: '2027-03-12T07:30:00.000Z',
          end: '2027-03-13T07:30:00.000Z',
        });

        // Real runs: every run's interval is [previous fire, its fire), contiguous across the DST change.
        const cases: Array<[string, string, string, number[]]> = [
          [nySpring, '2027-03-12T07:30:00Z', '2027-03-16T06:30:00Z', [24, 47, 24]],
          [nyFall, '2027-11-05T05:30:00Z', '2027-11-09T06:30:00Z', [24, 24, 1, 24, 24]],
          [berlinFall, '2027-10-29T00:30:00Z', '2027-11-02T01:30:00Z', [24, 25, 24, 24]],
        ];
        for (const [id, from, to, hours] of cases) {
          const b = await backfillSchedule(client, id, { from, to, concurrency: 5 });
          expect(
            b.runs.every((r) => r.status === 'completed'),
            JSON.stringify(b.runs),
          ).toBe(true);
          const results: RunIntervalProbeResult[] = [];
          for (const r of b.runs) results.push((await client.workflow.getHandle(r.workflowId).result()) as RunIntervalProbeResult);
          expect(results.map((r) => (Date.parse(r.interval.dataIntervalEnd) - Date.parse(r.interval.dataIntervalStart)) / HOUR)).toEqual(
            hours,
          );
          expect(results[0]!.interval.dataIntervalStart).toBe(new Date(from).toISOString());
          for (let i = 0; i < results.length; i++) {
            expect(results[i]!.interval.dataIntervalEnd).toBe(results[i]!.scheduledStart);
            expect(results[i]!.interval).toEqual({
              dataIntervalStart: b.runs[i]!.dataIntervalStart,
              dataIntervalEnd: b.runs[i]!.dataIntervalEnd,
              logicalDate: b.runs[i]!.dataIntervalStart,
            });
            if (i > 0) expect(results[i]!.interval.dataIntervalStart).toBe(results[i - 1]!.interval.dataIntervalEnd);
          }
        }
      },
    );
  });
});
