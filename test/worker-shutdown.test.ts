/**
 * Two `iot-pipelines worker` processes (compiled, dist/) sharing one task queue, and a graceful stop of
 * one of them (issue 18 item 2): SIGTERM of the worker running a pipeline's activities makes it stop
 * polling, let its in-flight download finish, and exit 0 within a bound; the other worker carries the
 * same workflow on to the end, every image downloaded, none failed.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { loadSettings } from '../src/config/env';
import { connectClient } from '../src/cli/client';
import { LAUNCH_SNAPSHOTS, startLaunchServer, type LaunchServer } from '../src/simulator/launch-server';
import type { launchImages } from '../src/workflows/launches';
import { exitOf, killHard, startCliWorker, waitFor } from './support/processes';

/** How long SIGTERM may take to a clean exit: an in-flight download (2 s here) plus the stop itself. */
const SHUTDOWN_BOUND_MS = 10_000;

const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-shutdown-'));
const env = { TASK_QUEUE: `worker-shutdown-${randomUUID()}`, OUTPUT_DIR: outputDir };
const workers: Array<ChildProcess & { output: () => string }> = [];
let launchServer: LaunchServer | undefined;
let client: Client;
let closeClient: (() => Promise<void>) | undefined;

/** Starts `iot-pipelines worker` on the shared task queue and waits until it polls. */
async function startWorkerProcess(): Promise<ChildProcess & { output: () => string }> {
  const w = await startCliWorker(env);
  workers.push(w);
  return w;
}

beforeAll(async () => {
  // Seven distinct images, one at a time, each answered after 2 s: the run spans the second worker's start and the stop.
  launchServer = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'], imageDelayMs: 2_000 });
  ({ client, close: closeClient } = await connectClient(loadSettings()));
});

afterAll(async () => {
  for (const w of workers) await killHard(w);
  await closeClient?.();
  await launchServer?.close();
  fs.rmSync(outputDir, { recursive: true, force: true });
});

describe('two worker processes on one task queue', () => {
  it('SIGTERM of the one running a pipeline: it exits 0 within the bound, the other finishes the run', async () => {
    const a = await startWorkerProcess();
    const workflowId = `worker-shutdown-${randomUUID()}`;
    // Only worker a polls: it takes the workflow and its first downloads.
    const handle = await client.workflow.start<typeof launchImages>('launchImages', {
      taskQueue: env.TASK_QUEUE,
      workflowId,
      args: [{ url: launchServer!.url, logicalDate: workflowId, concurrency: 1 }],
    });
    await waitFor('the first image download', () => launchServer!.imageRequests.length > 0, 30_000, 50);
    const b = await startWorkerProcess();
    // a is still in the middle of the run (each download takes 2 s).
    const before = await handle.describe();
    expect(before.status.name).toBe('RUNNING');

    const termAt = Date.now();
    a.kill('SIGTERM');
    const code = await exitOf(a, 60_000);
    const stopMs = Date.now() - termAt;
    const requestsAtExit = launchServer!.imageRequests.length;
    console.log(`[worker-shutdown] SIGTERM → exit ${code} in ${stopMs} ms; ${requestsAtExit} image request(s) by then`);
    expect(code, a.output()).toBe(0);
    expect(stopMs).toBeLessThanOrEqual(SHUTDOWN_BOUND_MS);
    expect(a.output()).toContain('SIGTERM: stopping the worker');
    expect(a.output()).toMatch(/Worker stopped in \d+ ms\./);

    const result = await handle.result();
    expect(result.imagesFailed).toEqual([]);
    expect(result.distinctImages).toBe(7);
    expect(result.imagesDownloaded).toBe(result.distinctImages);
    // Worker b did the rest: downloads after a had gone, and it is still running.
    expect(launchServer!.imageRequests.length).toBeGreaterThan(requestsAtExit);
    expect(b.exitCode, b.output()).toBeNull();
    expect(fs.readdirSync(path.join(outputDir, 'images')).length).toBeGreaterThanOrEqual(result.distinctImages);
  });
});
