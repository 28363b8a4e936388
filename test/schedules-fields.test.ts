/**
 * Schedule-file fields added for issue 5, on the real Temporal dev server: skip calendars, workflow timeouts
 * and retry policy, search attributes on the schedule itself, Airflow `start` (first interval start →
 * Temporal startAt one period later), and the incremental/overlap rule. Apply stays idempotent with them.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../src/config/env';
import { applyPlan, formatPlan, planSchedules } from '../src/schedules/apply';
import { parseScheduleText, ScheduleValidationError, type ScheduleFile } from '../src/schedules/schema';
import { temporalStartAt } from '../src/schedules/to-temporal';

const RUN = randomUUID().slice(0, 8);
const ID = `test-fields-${RUN}`;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  connection = await Connection.connect({ address: loadSettings().temporalAddress });
  client = new Client({ connection, namespace: loadSettings().temporalNamespace });
});
afterAll(async () => {
  await client.schedule
    .getHandle(ID)
    .delete()
    .catch(() => undefined);
  await connection.close();
});

function file(extra: Partial<ScheduleFile>) {
  return [
    {
      file: 'fields.yaml',
      config: { id: ID, workflow: 'noSuchWorkflow', taskQueue: `test-fields-${RUN}`, paused: true, ...extra } as ScheduleFile,
    },
  ];
}

describe('schedule file fields', () => {
  it('skip, timeouts, retry and schedule search attributes are applied, compared and updated', async () => {
    const fields: Partial<ScheduleFile> = {
      preset: '@daily',
      skip: [{ month: 'DECEMBER', dayOfMonth: 25 }],
      executionTimeout: '1h',
      runTimeout: '30m',
      retry: { maximumAttempts: 3, initialInterval: '1m', backoffCoefficient: 2 },
      searchAttributes: { Source: 'events' },
    };
    await applyPlan(client, await planSchedules(client, file(fields), { idPrefix: ID }));
    const d = await client.schedule.getHandle(ID).describe();
    expect(d.spec.skip).toHaveLength(1);
    expect(d.action.workflowExecutionTimeout).toBe(3_600_000);
    expect(d.action.workflowRunTimeout).toBe(1_800_000);
    expect(d.action.retry).toMatchObject({ maximumAttempts: 3, initialInterval: 60_000, backoffCoefficient: 2 });
    const attrs = Object.fromEntries(d.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(attrs).toMatchObject({ PipelineName: ID, Source: 'events' });

    const again = await planSchedules(client, file(fields), { idPrefix: ID });
    expect(
      again.items.map((i) => i.action),
      formatPlan(again),
    ).toEqual(['unchanged']);

    const changed = await planSchedules(
      client,
      file({ ...fields, retry: { maximumAttempts: 5 }, skip: [{ month: 'JANUARY', dayOfMonth: 1 }] }),
      {
        idPrefix: ID,
      },
    );
    const item = changed.items[0]!;
    expect(item.action).toBe('update');
    // The retry change is shown; the skip text only changes the hash (the server compiles calendars).
    expect(item.action === 'update' && item.changes.map((c) => c.field)).toEqual(['retry']);
    await applyPlan(client, changed);
    expect((await client.schedule.getHandle(ID).describe()).action.retry).toMatchObject({ maximumAttempts: 5 });
    const skipOnly = await planSchedules(
      client,
      file({ ...fields, retry: { maximumAttempts: 5 }, skip: [{ month: 'JULY', dayOfMonth: 4 }] }),
      {
        idPrefix: ID,
      },
    );
    expect(skipOnly.items[0]!.action === 'update' && skipOnly.items[0]!.changes.map((c) => c.field)).toEqual(['hash']);
  });

  it('start is the first data interval start (Airflow start_date): Temporal startAt is one period later', () => {
    const at = (f: Partial<ScheduleFile>) => temporalStartAt({ id: 'x', workflow: 'w', ...f })?.toISOString();
    expect(at({ preset: '@daily', start: '2023-01-01' })).toBe('2023-01-02T00:00:00.000Z');
    expect(at({ every: '10m', start: '2024-01-01T00:00:00Z' })).toBe('2024-01-01T00:10:00.000Z');
    expect(at({ preset: '@monthly', start: '2024-01-15' })).toBe('2024-03-01T00:00:00.000Z');
    expect(at({ preset: '@monthly', start: '2024-01-01' })).toBe('2024-02-01T00:00:00.000Z');
    expect(at({ preset: '@yearly', start: '2024-01-01' })).toBe('2025-01-01T00:00:00.000Z');
    expect(at({ preset: '@once', start: '2024-01-01' })).toBe('2024-01-01T00:00:00.000Z');
    expect(at({ cron: '30 2 * * *', timezone: 'Europe/Berlin', start: '2024-01-01' })).toBe('2024-01-01T00:00:00.000Z');
    expect(at({ preset: '@daily' })).toBeUndefined();
  });

  it('rejects incremental runs with overlap allow_all, and bad retry fields, naming file and field', () => {
    const problems = (text: string) => {
      try {
        parseScheduleText(text, 'x.yaml');
        return [];
      } catch (e) {
        if (e instanceof ScheduleValidationError) return [...e.problems];
        throw e;
      }
    };
    expect(problems('id: x\nworkflow: w\npreset: "@daily"\noverlap: allow_all\nargs: { incremental: true }\n')[0]).toMatch(
      /^x\.yaml: overlap: must not be allow_all with args\.incremental/,
    );
    expect(problems('id: x\nworkflow: w\npreset: "@daily"\nretry: { maximumAttempts: 3, initialInterval: soon }\n')).toEqual([
      'x.yaml: retry.initialInterval: "soon" is not a duration: write e.g. 30s, 10m, 1h30m, 2d (units d, h, m, s, largest first)',
    ]);
    expect(problems('id: x\nworkflow: w\npreset: "@daily"\nexecutionTimeout: 5\n')).toEqual([
      'x.yaml: executionTimeout: 5 is not a string',
    ]);
  });
});
