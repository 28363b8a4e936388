/**
 * `iot-pipelines run` when the pipeline fails: the compiled CLI against a compiled worker (dist/, with
 * the prebuilt workflow bundle) on the real Temporal dev server, each in its own process. The error
 * names the cause (not only "Workflow execution failed"), its type and retryability, and where to look.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitOf, killHard, spawnCli, startCliWorker } from './support/processes';

const TASK_QUEUE = `cli-run-failure-${randomUUID()}`;
let worker: (ChildProcess & { output: () => string }) | undefined;

beforeAll(async () => {
  worker = await startCliWorker({ TASK_QUEUE });
});

afterAll(async () => {
  if (worker) await killHard(worker);
});

describe('iot-pipelines run', () => {
  it('prints the failure’s cause chain, its type, and the workflow to look at', async () => {
    const logicalDate = `2031-${String(1 + Math.floor(Math.random() * 12)).padStart(2, '0')}-01-${randomUUID().slice(0, 8)}`;
    const cli = spawnCli(['run', 'launch-images', 'url=not a url', `logicalDate=${logicalDate}`], { TASK_QUEUE });
    expect(await exitOf(cli)).toBe(1);
    const out = cli.output();
    expect(out).toContain('error: launch-images failed: Workflow execution failed');
    expect(out).toMatch(/caused by ActivityFailure: activity fetchLaunches \(id \S+\) failed, retry state NON_RETRYABLE_FAILURE/);
    expect(out).toContain('caused by ApplicationFailure [InvalidUrl, non-retryable]: Invalid URL "not a url"');
    expect(out).toContain(`workflow: launch-images-${logicalDate} (run `);
    expect(out).toMatch(new RegExp(`history: {2}temporal workflow show --workflow-id launch-images-${logicalDate} --run-id [0-9a-f-]{36}`));
  });
});
