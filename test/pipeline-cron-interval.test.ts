/**
 * A pipeline scheduled by cron (a `previous-fire` data interval) on the real Temporal dev server: the
 * lakeExport workflow, backfilled over two and a half hours of a `5 * * * *` schedule in the Europe/Berlin time
 * zone, gets for each run the interval between the schedule's previous fire and its own scheduled time,
 * read from Temporal (`scheduleIntervalAt`) — the same path sensorPipeline and qualityChecks take.
 * The schedule's start lies in the future, so nothing fires by itself during the test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createLakeActivities } from '../src/activities/lake-export';
import { createScheduleActivities } from '../src/activities/schedules';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { applyPlan, planSchedules } from '../src/schedules/apply';
import { backfillSchedule } from '../src/schedules/backfill';
import type { LakeExportResult } from '../src/workflows/lake-export';
import { testPool } from './support/db';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
const lakeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lake-cron-'));
const id = `test-cron-lake-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  await pool.end();
  fs.rmSync(lakeDir, { recursive: true, force: true });
  const connection = await Connection.connect({ address: loadSettings().temporalAddress });
  try {
    await new Client({ connection }).schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  } finally {
    await connection.close();
  }
});

describe('a cron-scheduled pipeline', () => {
  it('exports the hour between the previous fire and its own, as Temporal fires it', { timeout: 60_000 }, async () => {
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'src/workflows/lake-export.ts'),
        activities: { ...createLakeActivities({ pool, lakeDir }), ...createScheduleActivities() },
      },
      async ({ client, taskQueue }) => {
        const plan = await planSchedules(
          client,
          [
            {
              file: 'test/pipeline-cron-interval.test.ts',
              config: {
                id,
                workflow: 'lakeExport',
                taskQueue,
                cron: '5 * * * *',
                timezone: 'Europe/Berlin',
                start: '2030-06-01T00:00:00Z',
                overlap: 'allow_all',
                // Only this test's (non-existent) source: the runs export empty hours.
                args: { sources: [id] },
              },
            },
          ],
          { idPrefix: id },
        );
        await applyPlan(client, plan);
        const b = await backfillSchedule(client, id, { from: '2030-06-01T10:00:00Z', to: '2030-06-01T12:30:00Z', concurrency: 2 });
        expect(
          b.runs.map((r) => r.status),
          JSON.stringify(b.runs),
        ).toEqual(['completed', 'completed']);
        const results: LakeExportResult[] = [];
        for (const r of b.runs) results.push((await client.workflow.getHandle(r.workflowId).result()) as LakeExportResult);
        // Backfill runs the fires whose data interval lies in the range (like Airflow's): 11:05 with
        // [10:05, 11:05) and 12:05 with [11:05, 12:05); the workflow rounds both ends down to whole hours.
        expect(b.runs.map((r) => [r.fireTime, r.dataIntervalStart])).toEqual([
          ['2030-06-01T11:05:00.000Z', '2030-06-01T10:05:00.000Z'],
          ['2030-06-01T12:05:00.000Z', '2030-06-01T11:05:00.000Z'],
        ]);
        expect(results.map((r) => r.hours)).toEqual([['2030-06-01T10:00:00.000Z'], ['2030-06-01T11:00:00.000Z']]);
        await recordHistory(client, b.runs[0]!.workflowId, 'lakeExport-cron-previous-fire');
      },
    );
  });
});
