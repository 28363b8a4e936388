/**
 * The `buildModels` workflow on the real Temporal dev server and PostgreSQL (a fresh database per file):
 * one activity per model, a failing model's downstream skipped, an independent branch built, bounded
 * parallelism, SQL errors not retried, connection errors retryable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { ROOT_DIR } from '../src/config/env';
import { createPool } from '../src/db/pool';
import { createModelActivities, MODEL_FAILURE_TYPES } from '../src/activities/models';
import type { RunResults } from '../src/modelrunner/index';
import type { buildModels } from '../src/workflows/model-graph';
import { recordHistory, withWorker } from './support/temporal';
import { createTestDatabase, type TestDatabase } from './fixtures/dbt-support/database';

const WORKFLOWS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'model-graph.ts');
const FIXTURE = path.join(ROOT_DIR, 'test', 'fixtures', 'dbt-graph');

let db: TestDatabase;
let target: string;

beforeAll(async () => {
  db = await createTestDatabase('modelgraph');
  target = fs.mkdtempSync(path.join(os.tmpdir(), 'model-graph-'));
});
afterAll(async () => {
  await db?.drop();
  if (target) fs.rmSync(target, { recursive: true, force: true });
});

async function exists(name: string): Promise<boolean> {
  const r = await db.pool.query<{ r: string | null }>(`SELECT to_regclass($1) AS r`, [`analytics.${name}`]);
  return r.rows[0]!.r !== null;
}

describe('buildModels workflow', () => {
  it('skips the downstream of a failed model while an independent branch succeeds', async () => {
    const activities = createModelActivities({ pool: db.pool, projectDir: FIXTURE, targetDir: target });
    await withWorker({ workflowsPath: WORKFLOWS_PATH, activities }, async ({ client, taskQueue }) => {
      const workflowId = `buildModels-failure-skips-downstream-${randomUUID()}`;
      const summary = await client.workflow.execute<typeof buildModels>('buildModels', {
        taskQueue,
        workflowId,
        args: [{ maxParallel: 2 }],
      });

      expect({ total: summary.total, success: summary.success, error: summary.error, skipped: summary.skipped }).toEqual({
        total: 5,
        success: 3,
        error: 1,
        skipped: 1,
      });
      const byName = Object.fromEntries(summary.nodes.map((n) => [n.name, n]));
      expect(byName.base?.status).toBe('success');
      expect(byName.independent).toMatchObject({ status: 'success', rowsAffected: 1 });
      expect(byName.independent_child?.status).toBe('success');
      expect(byName.broken?.status).toBe('error');
      expect(byName.broken?.message).toMatch(/model\.graph\.broken/);
      expect(byName.broken?.message).toMatch(/no_such_schema/);
      expect(byName.after_broken).toMatchObject({ status: 'skipped' });
      expect(byName.after_broken?.message).toMatch(/broken/);

      // The database: the independent branch is built, the failed model and its child are not.
      expect((await db.pool.query('SELECT total FROM analytics.independent')).rows).toEqual([{ total: 15 }]);
      expect((await db.pool.query('SELECT doubled FROM analytics.independent_child')).rows).toEqual([{ doubled: 30 }]);
      expect(await exists('broken')).toBe(false);
      expect(await exists('after_broken')).toBe(false);

      // The history: one activity per built model, the SQL error not retried, at most 2 models at once.
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const events = history.events ?? [];
      const nodeActivities = new Map<string, string>(); // scheduled event id -> uniqueId
      let inFlight = 0;
      let maxInFlight = 0;
      let failedAttempts = 0;
      for (const e of events) {
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (scheduled && scheduled.activityType?.name === 'runModelNode') {
          nodeActivities.set(String(e.eventId), 'node');
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
        }
        const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
        if (closed && nodeActivities.has(String(closed.scheduledEventId))) inFlight -= 1;
        if (e.activityTaskFailedEventAttributes) failedAttempts += 1;
        if (e.activityTaskStartedEventAttributes) expect(e.activityTaskStartedEventAttributes.attempt).toBe(1);
      }
      expect(nodeActivities.size).toBe(4); // base, broken, independent, independent_child; not after_broken
      expect(failedAttempts).toBe(1);
      expect(maxInFlight).toBe(2);

      // run_results.json written by the workflow's last activity.
      const runResults = JSON.parse(fs.readFileSync(path.join(target, 'run_results.json'), 'utf8')) as RunResults;
      const status = Object.fromEntries(runResults.results.map((r) => [r.unique_id, r.status]));
      expect(status).toEqual({
        'model.graph.base': 'success',
        'model.graph.broken': 'error',
        'model.graph.after_broken': 'skipped',
        'model.graph.independent': 'success',
        'model.graph.independent_child': 'success',
      });
      expect(runResults.metadata.invocation_id).toBeTruthy();
      expect(fs.existsSync(path.join(target, 'manifest.json'))).toBe(true);

      await recordHistory(client, workflowId, 'buildModels-failure-skips-downstream');
    });
  });

  it('maps SQL errors to non-retryable and connection errors to retryable failures', async () => {
    const activities = createModelActivities({ pool: db.pool, projectDir: FIXTURE, targetDir: target });
    const sqlFailure = await activities.runModelNode({ uniqueId: 'model.graph.broken' }).catch((e: unknown) => e);
    expect(sqlFailure).toBeInstanceOf(ApplicationFailure);
    expect(sqlFailure).toMatchObject({ type: MODEL_FAILURE_TYPES.sql, nonRetryable: true });
    expect((sqlFailure as ApplicationFailure).details?.[0]).toEqual({ uniqueId: 'model.graph.broken', code: '42P01' });

    const unknown = await activities.runModelNode({ uniqueId: 'model.graph.nope' }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ type: MODEL_FAILURE_TYPES.project, nonRetryable: true });

    // Nothing listens on port 1 of loopback: ECONNREFUSED.
    const deadPool = createPool('postgres://postgres:postgres@127.0.0.1:1/none', 1);
    try {
      const offline = createModelActivities({ pool: deadPool, projectDir: FIXTURE, targetDir: target });
      const connFailure = await offline.runModelNode({ uniqueId: 'model.graph.base' }).catch((e: unknown) => e);
      expect(connFailure).toMatchObject({ type: MODEL_FAILURE_TYPES.transient, nonRetryable: false });
    } finally {
      await deadPool.end();
    }
  });
});
