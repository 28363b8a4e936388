/**
 * `buildModels` running a whole dbt project (`which: 'build'`: seeds, models, tests; one activity per
 * node) on the real Temporal dev server and PostgreSQL: a connection error retried on the node, a SQL
 * error not retried and its downstream skipped while other branches and tests run, then a resume that
 * runs only the failed and skipped nodes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';
import { createPool } from '../src/db/pool';
import { createModelActivities, type RunModelNodeInput } from '../src/activities/models';
import type { NodeStatus, RunResults } from '../src/modelrunner/index';
import type { buildModels } from '../src/workflows/model-graph';
import { recordHistory, withWorker } from './support/temporal';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const WORKFLOWS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'model-graph.ts');
const FULL = path.join(ROOT_DIR, 'test', 'fixtures', 'dbt-full');

let db: TestDatabase;
let target: string;

beforeAll(async () => {
  db = await createTestDatabase('modelgraphbuild');
  await db.pool.query(
    `CREATE SCHEMA full_src; CREATE TABLE full_src.events (device text, ts timestamptz, value int); INSERT INTO full_src.events VALUES ('a', now(), 1)`,
  );
  target = fs.mkdtempSync(path.join(os.tmpdir(), 'model-graph-build-'));
});
afterAll(async () => {
  await db?.drop();
  if (target) fs.rmSync(target, { recursive: true, force: true });
});

describe('buildModels: build, retry, skip, resume', () => {
  it('retries a connection error, skips the downstream of a SQL error, then resumes only what failed', async () => {
    const online = createModelActivities({ pool: db.pool, projectDir: FULL, targetDir: target });
    // The first attempt of stg_orders meets a server that refuses connections (port 1): a real ECONNREFUSED.
    const deadPool = createPool('postgres://postgres:postgres@127.0.0.1:1/none', 1);
    const offline = createModelActivities({ pool: deadPool, projectDir: FULL, targetDir: target });
    let refused = 0;
    const activities = {
      ...online,
      runModelNode: (input: RunModelNodeInput) => {
        if (input.uniqueId === 'model.full.stg_orders' && refused === 0) {
          refused += 1;
          return offline.runModelNode(input);
        }
        return online.runModelNode(input);
      },
    };
    try {
      await withWorker({ workflowsPath: WORKFLOWS_PATH, activities }, async ({ client, taskQueue }) => {
        const workflowId = `buildModels-build-with-failure-${randomUUID()}`;
        const summary = await client.workflow.execute<typeof buildModels>('buildModels', {
          taskQueue,
          workflowId,
          args: [{ which: 'build', maxParallel: 3, vars: { since: '2024-01-01' } }],
        });
        const status = Object.fromEntries(summary.nodes.map((n) => [n.name, n.status]));
        expect(status.fragile).toBe('error');
        expect(status.fragile_child).toBe('skipped');
        expect(status.stg_orders).toBe('success'); // after the retry
        expect(status.countries).toBe('success');
        expect(status.unique_stg_orders_id).toBe('pass');
        expect(status.status_pivot).toBe('success');
        expect(summary.nodes.find((n) => n.name === 'orders')).toMatchObject({ rowsAffected: 5 });
        expect(summary.nodes.find((n) => n.name === 'unique_stg_orders_id')).toMatchObject({ failures: 0 });
        expect(summary).toMatchObject({ error: 1, skipped: 1, total: summary.nodes.length });
        expect(summary.success).toBe(summary.total - 2);
        expect(refused).toBe(1);

        // The history: one activity per node, stg_orders retried (attempt 2), fragile's SQL error not retried.
        const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
        const scheduled = new Map<string, string>();
        for (const e of events) {
          const a = e.activityTaskScheduledEventAttributes;
          if (a?.activityType?.name === 'runModelNode') scheduled.set(String(e.eventId), a.activityId ?? '');
        }
        expect(scheduled.size).toBe(summary.total - 1); // every node but the skipped one
        const attempts = events
          .filter((e) => e.activityTaskStartedEventAttributes)
          .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
        expect(Math.max(...attempts)).toBe(2);
        expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(1); // fragile only
        await recordHistory(client, workflowId, 'buildModels-build-with-failure');

        const rr = JSON.parse(fs.readFileSync(path.join(target, 'run_results.json'), 'utf8')) as RunResults;
        expect(rr.results.find((r) => r.unique_id === 'model.full.fragile')?.status).toBe('error');

        // Resume with the fix (divisor): only fragile and fragile_child run; statuses from the summary.
        const previousResults = Object.fromEntries(summary.nodes.map((n) => [n.uniqueId, n.status])) as Record<string, NodeStatus>;
        const resumeId = `buildModels-resume-${randomUUID()}`;
        const resumed = await client.workflow.execute<typeof buildModels>('buildModels', {
          taskQueue,
          workflowId: resumeId,
          args: [{ which: 'build', resume: true, previousResults, vars: { divisor: 2, since: '2024-01-01' } }],
        });
        expect(resumed.nodes.map((n) => [n.name, n.status])).toEqual([
          ['fragile', 'success'],
          ['fragile_child', 'success'],
        ]);
        expect((await db.pool.query('SELECT y FROM analytics.fragile_child')).rows).toEqual([{ y: 10 }]);
        await recordHistory(client, resumeId, 'buildModels-resume-failed-and-skipped');

        // Resume again from the worker's run_results.json: nothing left.
        const nothing = await client.workflow.execute<typeof buildModels>('buildModels', {
          taskQueue,
          workflowId: `buildModels-resume-empty-${randomUUID()}`,
          args: [{ which: 'build', resume: true }],
        });
        expect(nothing.total).toBe(0);
      });
    } finally {
      await deadPool.end();
    }
  });
});
