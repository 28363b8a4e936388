/**
 * The rocket-launch pipeline on the real Temporal dev server, fed by the local LL2 simulator serving the
 * two real snapshots (data/ll2-launches-upcoming). Expectations are computed from the snapshot data.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { ROOT_DIR } from '../src/config/env';
import { createLaunchActivities, imageFileName, IMAGES_SUBDIR, LAUNCHES_SUBDIR } from '../src/activities/launches';
import { createNotifier } from '../src/notify/index';
import { LAUNCH_SNAPSHOTS, startLaunchServer, type LaunchServer, type LaunchServerOptions } from '../src/simulator/launch-server';
import { launchNotificationMessage, type launchImages, type LaunchImagesInput, type LaunchImagesResult } from '../src/workflows/launches';
import { recordHistory, withWorker } from './support/temporal';
import { closedPort } from './support/processes';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './support/webhook';

const WORKFLOWS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'launches.ts');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const FAST_RETRY = { maximumAttempts: 3, initialInterval: '50 milliseconds', maximumInterval: '200 milliseconds' };

// --- a real local webhook -------------------------------------------------------------------------
let webhook: WebhookReceiver;
let webhookBase = '';
let hooks: ReceivedRequest[] = [];

beforeAll(async () => {
  webhook = await startWebhookReceiver(200);
  webhookBase = webhook.base;
  hooks = webhook.received;
});
afterAll(async () => {
  await webhook.close();
});

// --- helpers --------------------------------------------------------------------------------------
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'launches-test-'));
  tmpDirs.push(d);
  return d;
}

/** What the data says a run should do, computed from the served document. */
function expectedFrom(doc: LaunchServer['document']) {
  const withImage = doc.results.filter((r) => r.image !== null);
  const distinct = [...new Set(withImage.map((r) => r.image as string))];
  return { launches: doc.results.length, totalUpcoming: doc.count, withoutImage: doc.results.length - withImage.length, distinct };
}

function imageFiles(outputDir: string): string[] {
  const dir = path.join(outputDir, IMAGES_SUBDIR);
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => !f.startsWith('.'))
        .sort()
    : [];
}

function activitiesFor(outputDir: string, webhookUrl?: string) {
  return createLaunchActivities({ outputDir, notifier: createNotifier({ webhookUrl, logger: pino({ level: 'silent' }) }) });
}

async function run(
  client: Client,
  taskQueue: string,
  input: LaunchImagesInput,
  tag: string,
): Promise<{ id: string; result: LaunchImagesResult }> {
  const id = `launchImages-test-${tag}-${randomUUID()}`;
  const result = await client.workflow.execute<typeof launchImages>('launchImages', { taskQueue, workflowId: id, args: [input] });
  return { id, result };
}

/** Attempt count of the last `downloadImage` attempt per image URL, read from the workflow history. */
async function downloadAttempts(client: Client, workflowId: string): Promise<Map<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const urlBySchedule = new Map<string, string>();
  const attempts = new Map<string, number>();
  for (const ev of history.events ?? []) {
    const s = ev.activityTaskScheduledEventAttributes;
    if (s && s.activityType?.name === 'downloadImage') {
      const payload = s.input?.payloads?.[0]?.data;
      const input = JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as { imageUrl: string };
      urlBySchedule.set(String(ev.eventId), input.imageUrl);
    }
    const st = ev.activityTaskStartedEventAttributes;
    if (st) {
      const url = urlBySchedule.get(String(st.scheduledEventId));
      if (url) attempts.set(url, st.attempt ?? 0);
    }
  }
  return attempts;
}

async function withServer<T>(opts: LaunchServerOptions, fn: (s: LaunchServer) => Promise<T>): Promise<T> {
  const server = await startLaunchServer(opts);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

// --- tests ----------------------------------------------------------------------------------------
describe('launchImages workflow', () => {
  it('downloads every image of the 2024 snapshot, notifies the webhook, and skips present files on a rerun', async () => {
    const outputDir = tmpDir();
    await withServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'] }, async (server) => {
      const exp = expectedFrom(server.document);
      // The real snapshot shares images between launches: the pipeline downloads each URL once.
      expect(exp.distinct.length).toBeGreaterThan(0);
      await withWorker(
        { workflowsPath: WORKFLOWS_PATH, activities: activitiesFor(outputDir, `${webhookBase}/hook-2024`) },
        async ({ client, taskQueue }) => {
          const first = await run(client, taskQueue, { url: server.url, logicalDate: '2024-03-30' }, '2024');
          expect(first.result).toMatchObject({
            logicalDate: '2024-03-30',
            launches: exp.launches,
            totalUpcoming: exp.totalUpcoming,
            launchesWithoutImage: exp.withoutImage,
            distinctImages: exp.distinct.length,
            imagesDownloaded: exp.distinct.length,
            imagesAlreadyPresent: 0,
            imagesFailed: [],
            imagesTotal: exp.distinct.length,
            notified: true,
          });
          // One request per distinct image, files named from the URLs, each a valid PNG.
          expect(server.imageRequests).toHaveLength(exp.distinct.length);
          expect(imageFiles(outputDir)).toEqual(exp.distinct.map(imageFileName).sort());
          for (const f of imageFiles(outputDir)) {
            expect(
              fs
                .readFileSync(path.join(outputDir, IMAGES_SUBDIR, f))
                .subarray(0, 8)
                .equals(PNG_SIGNATURE),
            ).toBe(true);
          }
          // The raw page is stored verbatim under launches/<logicalDate>.json.
          const raw: unknown = JSON.parse(fs.readFileSync(path.join(outputDir, LAUNCHES_SUBDIR, '2024-03-30.json'), 'utf8'));
          expect(raw).toEqual(server.document);
          // The webhook received the notification JSON.
          const posted = hooks.filter((h) => h.path === '/hook-2024');
          expect(posted).toHaveLength(1);
          expect(posted[0]!.body).toMatchObject({
            dedupeKey: 'launch-images/2024-03-30',
            source: 'launchImages',
            severity: 'info',
            // What this run did, and the API's count of upcoming launches (not the page size).
            message: `Launch images 2024-03-30: ${exp.distinct.length} downloaded, 0 already present, 0 failed (${exp.distinct.length} distinct images of ${exp.launches} launches on the page; ${exp.totalUpcoming} upcoming launches in the API; ${exp.distinct.length} images in the folder)`,
          });
          expect(exp.totalUpcoming).toBeGreaterThan(exp.launches);
          await recordHistory(client, first.id, 'launchImages-2024-snapshot');

          // Second run: every file is already present, nothing is requested again.
          const requestsBefore = server.imageRequests.length;
          const second = await run(client, taskQueue, { url: server.url, logicalDate: '2024-03-31', concurrency: 2 }, '2024-rerun');
          expect(second.result).toMatchObject({
            imagesDownloaded: 0,
            imagesAlreadyPresent: exp.distinct.length,
            imagesFailed: [],
            imagesTotal: exp.distinct.length,
            notified: true,
          });
          expect(server.imageRequests.length).toBe(requestsBefore);
          // The rerun downloaded nothing, and says so.
          expect(hooks.filter((h) => h.path === '/hook-2024').map((h) => (h.body as { message?: unknown }).message)[1]).toBe(
            launchNotificationMessage({
              logicalDate: '2024-03-31',
              imagesDownloaded: 0,
              imagesAlreadyPresent: exp.distinct.length,
              failed: 0,
              distinctImages: exp.distinct.length,
              launches: exp.launches,
              totalUpcoming: exp.totalUpcoming,
              imagesTotal: exp.distinct.length,
            }),
          );
          await recordHistory(client, second.id, 'launchImages-2024-rerun');
        },
      );
    });
  });

  it('downloads the 2020 snapshot (nulls counted from the data), then a page with launches lacking an image', async () => {
    const outputDir = tmpDir();
    await withWorker({ workflowsPath: WORKFLOWS_PATH, activities: activitiesFor(outputDir) }, async ({ client, taskQueue }) => {
      await withServer({ snapshotFile: LAUNCH_SNAPSHOTS['2020-12-19'] }, async (server) => {
        const exp = expectedFrom(server.document);
        const { id, result } = await run(client, taskQueue, { url: server.url, logicalDate: '2020-12-19', concurrency: 3 }, '2020');
        expect(result).toMatchObject({
          launches: exp.launches,
          launchesWithoutImage: exp.withoutImage,
          imagesDownloaded: exp.distinct.length,
          imagesFailed: [],
          imagesTotal: exp.distinct.length,
          notified: true,
        });
        expect(server.imageRequests).toHaveLength(exp.distinct.length);
        await recordHistory(client, id, 'launchImages-2020-snapshot');
      });

      // Injected drift: two launches of the real 2020 page get `"image": null`.
      const doc = JSON.parse(fs.readFileSync(LAUNCH_SNAPSHOTS['2020-12-19'], 'utf8')) as LaunchServer['document'];
      const nulled = doc.results.slice(-2).map((r) => r.id);
      await withServer(
        { snapshotFile: LAUNCH_SNAPSHOTS['2020-12-19'], imageOverrides: Object.fromEntries(nulled.map((n) => [n, null])) },
        async (server) => {
          const exp = expectedFrom(server.document);
          expect(exp.withoutImage).toBeGreaterThanOrEqual(2);
          const { result } = await run(client, taskQueue, { url: server.url, logicalDate: '2020-12-19-nulls' }, '2020-nulls');
          expect(result.launchesWithoutImage).toBe(exp.withoutImage);
          expect(result.distinctImages).toBe(exp.distinct.length);
          expect(result.imagesFailed).toEqual([]);
        },
      );
    });
  });

  it('reads the page from a file:// URL; a webhook 404 is not retried and does not fail the run', async () => {
    const outputDir = tmpDir();
    await withServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'] }, async (server) => {
      const file = path.join(tmpDir(), 'upcoming.json');
      fs.writeFileSync(file, JSON.stringify(server.document));
      const exp = expectedFrom(server.document);
      const hookPath = `/status/404/${randomUUID()}`;
      await withWorker(
        { workflowsPath: WORKFLOWS_PATH, activities: activitiesFor(outputDir, `${webhookBase}${hookPath}`) },
        async ({ client, taskQueue }) => {
          const { id, result } = await run(client, taskQueue, { url: pathToFileURL(file).href, logicalDate: '2024-03-30' }, 'file');
          expect(result).toMatchObject({
            launches: exp.launches,
            imagesDownloaded: exp.distinct.length,
            imagesFailed: [],
            notified: false,
          });
          expect(result.notifyError).toContain('404');
          expect(server.pageRequests).toBe(0);
          expect(hooks.filter((h) => h.path === hookPath)).toHaveLength(1);
          await recordHistory(client, id, 'launchImages-file-url');
        },
      );
    });
  });

  it('reports an unreachable host (retried), a 404 (one request) and an invalid URL, and still notifies', async () => {
    const outputDir = tmpDir();
    const doc = JSON.parse(fs.readFileSync(LAUNCH_SNAPSHOTS['2024-03-30'], 'utf8')) as LaunchServer['document'];
    // Launches whose image no other launch shares, so each fault hits exactly one launch.
    const uses = new Map<string, number>();
    for (const r of doc.results) if (r.image) uses.set(r.image, (uses.get(r.image) ?? 0) + 1);
    const unique = doc.results.filter((r) => r.image && uses.get(r.image) === 1);
    expect(unique.length).toBeGreaterThanOrEqual(4);
    const [unreachable, notFound, invalid, flaky] = unique as [
      (typeof unique)[0],
      (typeof unique)[0],
      (typeof unique)[0],
      (typeof unique)[0],
    ];
    const deadPort = await closedPort();
    const unreachableUrl = `http://127.0.0.1:${deadPort}/media/unreachable.jpg`;
    const notFoundPath = new URL(notFound.image as string).pathname;
    const flakyPath = new URL(flaky.image as string).pathname;

    await withServer(
      {
        snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'],
        imageOverrides: { [unreachable.id]: unreachableUrl, [invalid.id]: 'htp:/bad' },
        imageFaults: [
          { match: notFoundPath, status: 404 },
          { match: flakyPath, status: 500, times: 1 },
        ],
      },
      async (server) => {
        const exp = expectedFrom(server.document);
        await withWorker(
          { workflowsPath: WORKFLOWS_PATH, activities: activitiesFor(outputDir, `${webhookBase}/hook-failures`) },
          async ({ client, taskQueue }) => {
            const { id, result } = await run(
              client,
              taskQueue,
              { url: server.url, logicalDate: '2024-03-30', imageRetry: FAST_RETRY },
              'failures',
            );

            const failed = new Map(result.imagesFailed.map((f) => [f.launchId, f]));
            expect([...failed.keys()].sort()).toEqual([unreachable.id, notFound.id, invalid.id].sort());
            expect(failed.get(unreachable.id)).toMatchObject({ url: unreachableUrl, type: 'NetworkError' });
            expect(failed.get(unreachable.id)!.reason).toContain(unreachableUrl);
            expect(failed.get(notFound.id)).toMatchObject({ type: 'HttpNotFound' });
            expect(failed.get(notFound.id)!.reason).toContain(notFoundPath);
            expect(failed.get(invalid.id)).toMatchObject({ url: 'htp:/bad', type: 'UnsupportedScheme' });

            // 404: non-retryable, exactly one request. Flaky 500: retried once, then downloaded.
            expect(server.imageRequests.filter((r) => r.path.endsWith(notFoundPath))).toHaveLength(1);
            expect(server.imageRequests.filter((r) => r.path.endsWith(flakyPath)).map((r) => r.status)).toEqual([500, 200]);
            // Unreachable: retried up to maximumAttempts; invalid URL and 404: a single attempt.
            const attempts = await downloadAttempts(client, id);
            expect(attempts.get(unreachableUrl)).toBe(FAST_RETRY.maximumAttempts);
            expect(attempts.get('htp:/bad')).toBe(1);

            const good = exp.distinct.length - 3;
            expect(result).toMatchObject({ imagesDownloaded: good, imagesAlreadyPresent: 0, imagesTotal: good, notified: true });
            expect(imageFiles(outputDir)).toHaveLength(good);
            const posted = hooks.filter((h) => h.path === '/hook-failures');
            expect(posted).toHaveLength(1);
            expect(posted[0]!.body).toMatchObject({
              message: launchNotificationMessage({
                logicalDate: '2024-03-30',
                imagesDownloaded: good,
                imagesAlreadyPresent: 0,
                failed: 3,
                distinctImages: exp.distinct.length,
                launches: exp.launches,
                totalUpcoming: exp.totalUpcoming,
                imagesTotal: good,
              }),
              severity: 'warning',
            });
            await recordHistory(client, id, 'launchImages-failures');
          },
        );
      },
    );
  });

  it('fails the run with a clear, non-retryable error when the page has the wrong shape', async () => {
    const outputDir = tmpDir();
    const doc = JSON.parse(fs.readFileSync(LAUNCH_SNAPSHOTS['2024-03-30'], 'utf8')) as { results: Array<Record<string, unknown>> };
    doc.results[1]!.image = 42;
    delete doc.results[3]!.id;
    const file = path.join(tmpDir(), 'bad.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    await withWorker({ workflowsPath: WORKFLOWS_PATH, activities: activitiesFor(outputDir) }, async ({ client, taskQueue }) => {
      const err = await run(client, taskQueue, { url: pathToFileURL(file).href, logicalDate: '2024-03-30' }, 'bad-shape').catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause?.cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe('InvalidLaunchData');
      expect((cause as ApplicationFailure).message).toContain('results[1].image');
      expect((cause as ApplicationFailure).message).toContain('results[3].id');
      expect(fs.existsSync(path.join(outputDir, LAUNCHES_SUBDIR, '2024-03-30.json'))).toBe(false);
    });
  });
});
