/**
 * A rolling upgrade with Temporal Worker Versioning (README "Upgrade the workers"), done as a user does
 * it: `iot-pipelines worker` of build 1 serves the task queue as the current version of a Worker
 * Deployment; an MQTT ingest runs and a launch pipeline is in flight; `iot-pipelines worker` of build 2
 * starts and `temporal worker deployment set-current-version` makes it current. The pipeline run started
 * on build 1 finishes there (Pinned), a run started afterwards runs on build 2, the ingest supervisor
 * (Auto-Upgrade) moves to build 2 at its next workflow task, build 1 is stopped, and every reading
 * published before, during and after lands exactly once. The recorded histories replay against the
 * current workflow code. (Both builds run this checkout's code under two build ids: the test is of the
 * procedure and of what moves where, not of a code change.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { decodeVersioningBehavior } from '@temporalio/common';
import { connectClient } from '../src/cli/client';
import { loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import { LAUNCH_SNAPSHOTS, startLaunchServer } from '../src/simulator/launch-server';
import { runCommand } from '../src/stack/process';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import { lineageSinks } from '../src/workers/lineage-sink';
import { LINEAGE_INTERCEPTORS_PATH } from '../src/workers/worker';
import type { LaunchImagesResult } from '../src/workflows/launches';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSubscription } from './support/ingest';
import { startCliWorker, waitFor, exitOf } from './support/processes';

const pool = testPool();
const settings = loadSettings();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upgrade-'));
afterAll(async () => {
  await pool.end();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The Worker Deployment Version a workflow execution runs on, and its behavior, from its description. */
async function versionOf(handle: WorkflowHandle): Promise<{ buildId: string | undefined; behavior: string | undefined }> {
  const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
  return { buildId: info?.deploymentVersion?.buildId ?? undefined, behavior: decodeVersioningBehavior(info?.behavior) };
}

describe('rolling upgrade with Worker Versioning', () => {
  it(
    'a new build takes new runs, a pinned run finishes on the old one, the ingest moves over, nothing lost or doubled',
    { timeout: 300_000 },
    async () => {
      const cli = await findOrBuildTemporalCli(settings.stackDir);
      const id = uniqueSuffix();
      const deployment = `iot-upgrade-${id}`;
      const source = `upgrade-${id}`;
      const base = { TASK_QUEUE: `upgrade-${id}`, WORKER_DEPLOYMENT_NAME: deployment, OUTPUT_DIR: dir, METRICS_PORT: '' };
      const temporal = (args: string[]) =>
        runCommand(cli, [...args, '--address', settings.temporalAddress, '--namespace', settings.temporalNamespace], { quiet: true });
      /** `set-current-version`, retried until the server has seen the build's pollers. */
      const makeCurrent = (buildId: string) =>
        waitFor(
          `${buildId} to become the current version`,
          () =>
            temporal(['worker', 'deployment', 'set-current-version', '--deployment-name', deployment, '--build-id', buildId, '--yes']).then(
              () => true,
              () => false,
            ),
          60_000,
          500,
        );
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatest.txt').slice(0, 3000);
      const device = readings[0]!.deviceId;
      const launches = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'], imageDelayMs: 1500 });
      const build1 = await startCliWorker({ ...base, WORKER_BUILD_ID: 'build-1' });
      let build2: Awaited<ReturnType<typeof startCliWorker>> | undefined;
      const { client, close } = await connectClient(settings);
      try {
        expect(build1.output()).toContain(`Worker Deployment Version ${deployment}.build-1`);
        await makeCurrent('build-1');
        // The ingest consumer returns every 3 s, so its supervisor has a workflow task that often.
        const ingest = await client.workflow.start('mqttIngest', {
          workflowId: `ingest-mqtt-${source}`,
          taskQueue: base.TASK_QUEUE,
          args: [{ source, runForMs: 3_000, batchSize: 200, flushIntervalMs: 100 }],
        });
        await waitForSubscription(pool, source);
        await replayReadings({ url: mqttUrl(), source, readings: readings.slice(0, 1000), window: 100 });
        // A pipeline run in flight across the switch: one image at a time, each answered after 1.5 s.
        const pinned = await client.workflow.start('launchImages', {
          workflowId: `upgrade-launches-old-${id}`,
          taskQueue: base.TASK_QUEUE,
          args: [{ url: launches.url, logicalDate: `upgrade-old-${id}`, concurrency: 1 }],
        });
        await waitFor('the first image download', () => launches.imageRequests.length > 0, 30_000, 50);
        expect(await versionOf(ingest)).toEqual({ buildId: 'build-1', behavior: 'AUTO_UPGRADE' });
        expect(await versionOf(pinned)).toEqual({ buildId: 'build-1', behavior: 'PINNED' });

        // The upgrade: build 2 starts, becomes current; readings keep coming.
        build2 = await startCliWorker({ ...base, WORKER_BUILD_ID: 'build-2' });
        const during = replayReadings({ url: mqttUrl(), source, readings: readings.slice(1000, 2000), window: 100 });
        await makeCurrent('build-2');
        // The switch happened while the pinned run was still downloading.
        expect((await pinned.describe()).status.name).toBe('RUNNING');
        const fresh = await client.workflow.start('launchImages', {
          workflowId: `upgrade-launches-new-${id}`,
          taskQueue: base.TASK_QUEUE,
          args: [{ url: launches.url, logicalDate: `upgrade-new-${id}`, concurrency: 4 }],
        });
        const freshResult = (await fresh.result()) as LaunchImagesResult;
        expect(freshResult.imagesFailed).toEqual([]);
        expect(await versionOf(fresh)).toEqual({ buildId: 'build-2', behavior: 'PINNED' });
        const pinnedResult = (await pinned.result()) as LaunchImagesResult;
        expect(pinnedResult.imagesFailed).toEqual([]);
        expect(await versionOf(pinned)).toEqual({ buildId: 'build-1', behavior: 'PINNED' });
        await waitFor('the ingest to move to build 2', async () => (await versionOf(ingest)).buildId === 'build-2', 60_000, 500);
        await during;

        // Build 1 drained: stop it; the rest of the readings go through build 2 alone.
        build1.kill('SIGTERM');
        expect(await exitOf(build1, 60_000)).toBe(0);
        await replayReadings({ url: mqttUrl(), source, readings: readings.slice(2000), window: 100 });
        await waitFor('every reading', async () => (await countReadings(pool, source, device)) >= readings.length, 120_000, 250);
        await new Promise((r) => setTimeout(r, 2_000));
        expect(await countReadings(pool, source, device)).toBe(readings.length);
        const distinct = await pool.query<{ n: string }>(
          'SELECT count(DISTINCT event_time) AS n FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2',
          [source, device],
        );
        expect(Number(distinct.rows[0]!.n)).toBe(readings.length);

        // The histories of both builds replay against the current workflow code.
        const histories = [ingest, pinned, fresh].map((h) => ({
          workflowId: h.workflowId,
          history: client.workflow.getHandle(h.workflowId).fetchHistory(),
        }));
        const resolved = await Promise.all(histories.map(async (h) => ({ workflowId: h.workflowId, history: await h.history })));
        const replayOptions = {
          workflowsPath: path.join(ROOT_DIR, 'src', 'workflows', 'index.ts'),
          interceptors: { workflowModules: [LINEAGE_INTERCEPTORS_PATH] },
          sinks: lineageSinks(undefined),
        };
        for await (const r of Worker.runReplayHistories(replayOptions, resolved)) {
          expect(r.error, r.workflowId).toBeUndefined();
        }
        await ingest.terminate('test done');
      } finally {
        await close();
        await launches.close();
        for (const w of [build1, build2]) if (w && w.exitCode === null) w.kill('SIGKILL');
      }
    },
  );
});
