/**
 * The dashboard in headless Chromium (Debian's `chromium`, installed by this file's support code when
 * missing; driven by playwright-core): real forecast, device, alert and prediction rows; clicking
 * "acknowledge" goes through the device workflow's update and the change arrives live (no reload).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeviceActivities } from '../src/activities/devices';
import { createQualityActivities } from '../src/activities/quality';
import { createWeatherActivities } from '../src/activities/weather';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { startDashboard } from '../src/dashboard/server';
import { observeCommittedBatch } from '../src/observability/metrics';
import { IngestRates } from '../src/observability/rates';
import { deviceWorkflowId, type DeviceStateView } from '../src/devices/state';
import type { Notifier } from '../src/notify/index';
import { loadGpsFixes } from '../src/simulator/gps-files';
import { insertGpsFixes } from '../src/simulator/gps-db';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { withWorker } from './support/temporal';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Installs Debian's chromium with apt-get when it is missing (like src/stack does for Mosquitto). */
function ensureChromium(): string {
  if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  if (os.userInfo().uid !== 0) throw new Error(`${CHROMIUM} is missing; install it with \`apt-get install -y chromium\``);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, stdio: 'inherit' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'inherit' });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, stdio: 'inherit' });
  }
  if (r.status !== 0 || !fs.existsSync(CHROMIUM)) throw new Error('apt-get install chromium failed');
  return CHROMIUM;
}

const pool = testPool();
afterAll(async () => {
  await pool.end();
});
const WORKFLOWS = path.join(ROOT_DIR, 'test/fixtures/workflows/fleet-index.ts');

describe('dashboard', () => {
  it('shows forecast, devices, alerts and predictions; acknowledging goes through the device workflow and arrives live', async () => {
    const executablePath = ensureChromium();
    const source = `dash-${uniqueSuffix()}`;
    const location = `slc-${source}`;
    const settings = loadSettings();
    const connection = await Connection.connect({ address: settings.temporalAddress });
    const actClient = new Client({ connection, namespace: settings.temporalNamespace });
    const taskQueue = `test-dashboard-${uniqueSuffix()}`;
    const notifier: Notifier = { notify: () => Promise.resolve() };
    const outputDir = fs.mkdtempSync(path.join(ROOT_DIR, '.stack', 'test-dash-'));
    const activities = {
      ...createQualityActivities({ pool, notifier, client: actClient, taskQueue }),
      ...createDeviceActivities({ pool, notifier }),
      ...createWeatherActivities({ pool, notifier, outputDir }),
    };
    let browser: Browser | undefined;
    try {
      await withWorker({ workflowsPath: WORKFLOWS, activities, taskQueue }, async ({ client }) => {
        // Real data through the real pipelines: a forecast snapshot, and the quality checks over one real trip
        // of device 1 that leaves the region (track 30 is one of the exactly duplicated tracks).
        const snapshot = path.join(ROOT_DIR, 'data/weather-forecast/openmeteo_gfs_slc_2024-05-07T20.json');
        await client.workflow.execute('weatherPipeline', {
          workflowId: `weather-${location}`,
          taskQueue,
          args: [{ url: pathToFileURL(snapshot).href, location }],
        });
        const fixes = loadGpsFixes().filter((f) => f.trackId === '30' || f.trackId === '31');
        await insertGpsFixes(pool, source, fixes);
        const times = fixes.map((f) => f.eventTime);
        const start = new Date(Math.floor(Math.min(...times) / 3_600_000) * 3_600_000).toISOString();
        const end = new Date(Math.ceil((Math.max(...times) + 1) / 3_600_000) * 3_600_000).toISOString();
        await client.workflow.execute('qualityChecks', {
          workflowId: `quality-${source}`,
          taskQueue,
          args: [{ dataIntervalStart: start, dataIntervalEnd: end, source, groups: ['gps'] }],
        });
        const device = fixes[0]!.deviceId;
        const alerts = (
          await pool.query<{ id: string; rule: string }>(`SELECT id, rule FROM quality.alerts WHERE source = $1 ORDER BY id`, [source])
        ).rows;
        expect(alerts.length).toBeGreaterThan(0);
        const target = alerts[0]!;
        // A prediction row of a room (the sensor pipeline's output table).
        await pool.query(
          `INSERT INTO ml.occupancy_predictions (source, device_id, window_start, model_version, occupied, probability) VALUES ($1, 'office-room-1', '2015-02-04T10:00:00Z', 'test', true, 0.93)`,
          [source],
        );
        await waitFor(
          'device row',
          async () => (await pool.query('SELECT 1 FROM fleet.devices WHERE source = $1', [source])).rowCount === 1,
          15_000,
        );

        const dash = await startDashboard({
          pool,
          client,
          port: 0,
          sources: [source],
          forecastLocation: location,
          taskQueue,
          refreshMs: 2000,
          ingestRates: new IngestRates(),
        });
        // A batch as a consumer of this process reports it (the ingest rates section reads these counters).
        observeCommittedBatch({
          source: `dash-${source}`,
          transport: 'mqtt',
          messages: 10,
          inserted: 9,
          duplicates: 0,
          deadLettersByCode: { schema: 1 },
          seconds: 0.01,
        });
        try {
          browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
          const page = await browser.newPage();
          await page.goto(dash.url);
          await page.getByTestId('forecast-hour').first().waitFor();
          expect(await page.getByTestId('forecast-hour').count()).toBe(6);
          expect(await page.getByTestId('forecast').innerText()).toContain('temperature_2m [°C]');
          await page.locator(`[data-testid="device"][data-device="${device}"]`).waitFor();
          expect(await page.getByTestId('prediction').innerText()).toContain('0.930');
          // Ingest rates from the counters: the batch above, once the next stream refresh has sampled it.
          const rate = page.locator('[data-testid="ingest-rate"]', { hasText: `dash-${source}` });
          await rate.waitFor({ timeout: 15_000 });
          expect((await rate.innerText()).split('\t').map((c) => c.trim())).toEqual([
            `dash-${source}`,
            'mqtt',
            '',
            expect.any(String),
            expect.any(String),
            '–',
            '9',
            '1',
          ]);
          const row = page.locator(`[data-testid="alert"][data-alert-id="${target.id}"]`);
          await row.waitFor();
          expect(await row.getByTestId('alert-status').innerText()).toBe('open');
          // Live, not reloaded: a marker set now must survive.
          await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 42));
          const before = await page.evaluate(() => (globalThis as unknown as { __snapshots: number }).__snapshots);
          await row.getByTestId('ack').click();
          await page.waitForFunction(
            (id) =>
              (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document
                .querySelector(`[data-alert-id="${id}"] [data-testid="alert-status"]`)
                ?.textContent?.startsWith('acknowledged'),
            target.id,
            { timeout: 15_000 },
          );
          expect(await row.getByTestId('alert-status').innerText()).toBe('acknowledged by dashboard');
          expect(await page.evaluate(() => (globalThis as unknown as { __marker: number }).__marker)).toBe(42);
          expect(await page.evaluate(() => (globalThis as unknown as { __snapshots: number }).__snapshots)).toBeGreaterThan(before);
          // The acknowledgement went through the device workflow.
          const s = await client.workflow.getHandle(deviceWorkflowId(source, device)).query<DeviceStateView>('deviceState');
          expect(s.openAlerts.find((a) => a.id === Number(target.id))).toMatchObject({
            status: 'acknowledged',
            acknowledgedBy: 'dashboard',
          });
          fs.mkdirSync(path.join(ROOT_DIR, 'test-results'), { recursive: true });
          await page.screenshot({ path: path.join(ROOT_DIR, 'test-results', 'dashboard.png'), fullPage: true });
        } finally {
          await dash.close();
          for (const d of new Set(
            (await pool.query<{ device_id: string }>('SELECT device_id FROM fleet.devices WHERE source = $1', [source])).rows.map(
              (r) => r.device_id,
            ),
          )) {
            await client.workflow
              .getHandle(deviceWorkflowId(source, d))
              .terminate('test done')
              .catch(() => undefined);
          }
        }
      });
    } finally {
      await browser?.close();
      await connection.close();
    }
  });
});
