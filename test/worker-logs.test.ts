/**
 * Logs worth reading: the compiled `iot-pipelines worker` (LOG_LEVEL at its default, WARN) runs
 * launch-images against a local Launch Library whose every image host is unreachable, each download
 * retried 3 times. Every failed attempt is one line, naming the activity type, the attempt, the
 * workflow and the error with its cause, and no stack trace is printed (that is DEBUG's).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient } from '../src/cli/client';
import { loadSettings } from '../src/config/env';
import { LAUNCH_SNAPSHOTS, startLaunchServer, type LaunchServer } from '../src/simulator/launch-server';
import type { launchImages } from '../src/workflows/launches';
import { closedPort, killHard, startCliWorker } from './support/processes';

const ATTEMPTS = 3;
let server: LaunchServer | undefined;
const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-logs-'));
afterAll(async () => {
  await server?.close();
  fs.rmSync(outputDir, { recursive: true, force: true });
});

describe('worker logs', () => {
  it(
    'one WARN line per failed activity attempt, with type, attempt, workflow and error; no stack at WARN',
    { timeout: 180_000 },
    async () => {
      const doc = JSON.parse(fs.readFileSync(LAUNCH_SNAPSHOTS['2024-03-30'], 'utf8')) as LaunchServer['document'];
      const deadPort = await closedPort();
      const withImage = doc.results.filter((r) => r.image);
      server = await startLaunchServer({
        snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'],
        imageOverrides: Object.fromEntries(withImage.map((r) => [r.id, `http://127.0.0.1:${deadPort}/media/${r.id}.jpg`])),
      });
      const taskQueue = `worker-logs-${randomUUID()}`;
      const worker = await startCliWorker({ TASK_QUEUE: taskQueue, OUTPUT_DIR: outputDir, LOG_LEVEL: '' });
      const { client, close } = await connectClient(loadSettings());
      try {
        const workflowId = `worker-logs-${randomUUID()}`;
        const result = await client.workflow.execute<typeof launchImages>('launchImages', {
          workflowId,
          taskQueue,
          args: [
            {
              url: server.url,
              logicalDate: '2024-03-30',
              imageRetry: { maximumAttempts: ATTEMPTS, initialInterval: '50 milliseconds', maximumInterval: '200 milliseconds' },
            },
          ],
        });
        expect(result.imagesFailed.length).toBe(withImage.length);
        const lines = worker.output().split('\n');
        const failed = lines.filter((l) => l.includes(' Activity failed '));
        expect(failed).toHaveLength(withImage.length * ATTEMPTS);
        for (const l of failed) {
          expect(l).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \[WARN\] Activity failed /);
          expect(l).toMatch(/ attempt=[1-3] /);
          expect(l).toContain(`workflowId=${workflowId}`);
          expect(l).toMatch(/ activityType=\w+ /);
          expect(l).toMatch(/error="NetworkError: .*127\.0\.0\.1:\d+\/media\/.*ECONNREFUSED/);
        }
        // Every attempt of every image appears once.
        const attempts = new Map<string, number[]>();
        for (const l of failed) {
          const image = /\/media\/([^ "]+)\.jpg/.exec(l)![1]!;
          attempts.set(image, [...(attempts.get(image) ?? []), Number(/ attempt=(\d)/.exec(l)![1])]);
        }
        for (const a of attempts.values()) expect(a.sort()).toEqual([1, 2, 3]);
        // No stack trace at WARN: no line is a stack frame, and nothing else was logged in between.
        expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([]);
        expect(lines.filter((l) => l.trim()).length).toBeLessThanOrEqual(failed.length + 5);
      } finally {
        await close();
        await killHard(worker);
      }
    },
  );
});
