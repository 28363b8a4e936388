/**
 * Trigger → done latency of the real launch pipeline (`launchImages`, src/workflows/launches.ts) on the
 * local Launch Library snapshot server with locally served images. The worker uses the project's
 * `WORKER_TUNING` and the real launch activities; notifications go to a local webhook receiver (a real
 * HTTP POST) with the log sink silenced. The images folder is emptied before every run (outside the
 * timed region), so each run really downloads every image.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { createLaunchActivities, IMAGES_SUBDIR } from '../src/activities/launches';
import { ROOT_DIR, type Settings } from '../src/config/env';
import { createNotifier } from '../src/notify/index';
import { LAUNCH_SNAPSHOTS, startLaunchServer } from '../src/simulator/launch-server';
import { WORKER_TUNING } from '../src/workers/worker';
import type { launchImages, LaunchImagesResult } from '../src/workflows/launches';
import { measureLatency, type LatencyResult } from './latency';
import { roundSummary } from './stats';

/** Result of {@link runLaunchBench}. */
export interface LaunchBenchResult extends LatencyResult {
  snapshot: string;
  launches: number;
  distinctImages: number;
  /** Image requests the local server answered (all runs incl. warm-up). */
  imageRequests: number;
  webhookPosts: number;
  imagesDir: 'emptied before every run';
}

async function startWebhookReceiver(): Promise<{ url: string; posts: () => number; close: () => Promise<void> }> {
  let posts = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notify`,
    posts: () => posts,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Measures `launchImages` end to end.
 * @throws when a run fails or does not download every image
 */
export async function runLaunchBench(settings: Settings, o: { warmup?: number; runs?: number } = {}): Promise<LaunchBenchResult> {
  const snapshot = '2024-03-30';
  const server = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS[snapshot] });
  const webhook = await startWebhookReceiver();
  const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-bench-launch-'));
  const imagesDir = path.join(outputDir, IMAGES_SUBDIR);
  const taskQueue = `bench-launch-${randomUUID()}`;
  const distinct = new Set(server.document.results.map((r) => r.image).filter((x): x is string => x !== null)).size;
  let native: NativeConnection | undefined;
  let grpc: Connection | undefined;
  try {
    native = await NativeConnection.connect({ address: settings.temporalAddress });
    const worker = await Worker.create({
      connection: native,
      namespace: settings.temporalNamespace,
      taskQueue,
      workflowsPath: path.join(ROOT_DIR, 'src', 'workflows', 'launches.ts'),
      activities: createLaunchActivities({
        outputDir,
        notifier: createNotifier({ webhookUrl: webhook.url, logger: pino({ level: 'silent' }) }),
      }),
      ...WORKER_TUNING,
    });
    grpc = await Connection.connect({ address: settings.temporalAddress });
    const client = new Client({ connection: grpc, namespace: settings.temporalNamespace });
    const prefix = `bench-launch-${Date.now()}`;
    const r = await worker.runUntil(
      measureLatency({
        client,
        warmup: o.warmup,
        runs: o.runs,
        beforeEach: async () => fs.promises.rm(imagesDir, { recursive: true, force: true }),
        start: (i) =>
          client.workflow.start<typeof launchImages>('launchImages', {
            taskQueue,
            workflowId: `${prefix}-${i}`,
            args: [{ url: server.url, logicalDate: `bench-${i}` }],
          }),
        check: (res, i) => {
          const x = res as LaunchImagesResult;
          if (x.imagesDownloaded !== distinct || x.imagesFailed.length || !x.notified) {
            throw new Error(`launchImages run ${i}: expected ${distinct} downloads, notified; got ${JSON.stringify(x)}`);
          }
        },
      }),
    );
    return {
      ...r,
      summary: roundSummary(r.summary),
      snapshot,
      launches: server.document.results.length,
      distinctImages: distinct,
      imageRequests: server.imageRequests.length,
      webhookPosts: webhook.posts(),
      imagesDir: 'emptied before every run',
    };
  } finally {
    await grpc?.close();
    await native?.close();
    await server.close();
    await webhook.close();
    fs.rmSync(outputDir, { recursive: true, force: true });
  }
}
