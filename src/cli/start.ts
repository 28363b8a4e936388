/**
 * The main job (`npm start`): brings up the stack and the worker, starts the MQTT ingest streams,
 * applies the schedules, replays the real sensor data, runs the sensor pipeline over the windows the
 * replay covered, runs the launch pipeline on a real snapshot served locally, prints what happened and
 * where to look, and keeps running until Ctrl-C.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@temporalio/client';
import { startDashboard, type Dashboard } from '../dashboard/server';
import type { QualityChecksResult } from '../workflows/quality-checks';
import type { WeatherResult } from '../workflows/weather';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR, type Settings } from '../config/env';
import type { ProducerName } from '../simulator/producers';
import { searchAttributeKeys, workflowIds } from '../config/names';
import { createPool, type Pool } from '../db/pool';
import { LAUNCH_SNAPSHOTS, startLaunchServer } from '../simulator/launch-server';
import { DATASET_DEVICES, DATASET_FILES, loadDataset, type SensorDataset } from '../simulator/sensor-files';
import { replayReadings, type ReplayResult } from '../simulator/sensor-replay';
import { loadGpsFixes } from '../simulator/gps-files';
import { replayGps } from '../simulator/gps-replay';
import { ensureStack } from '../stack/index';
import { startWorker } from '../workers/worker';
import type { LaunchImagesResult } from '../workflows/launches';
import type { SensorPipelineResult } from '../workflows/sensor-pipeline';
import { connectClient } from './client';
import { startIngest } from './ingest';
import { applySchedules } from './schedules';
import { describeError } from './failure';

const WINDOW_MS = 10 * 60 * 1000;

/** Longest wait on Ctrl-C for the worker to finish what it runs before the stack is stopped anyway. @default 30 s */
export const WORKER_SHUTDOWN_TIMEOUT_MS = 30_000;

/** Resolves when `p` settles or after `ms`, whichever is first (the timer does not outlive it). */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<'settled' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => 'settled' as const,
        () => 'settled' as const,
      ),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until every replayed reading is in PostgreSQL (matched on its exact event time). */
async function waitForRows(pool: Pool, source: string, deviceId: string, eventTimes: number[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < deadline) {
    const q = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ingest.sensor_readings
        WHERE source = $1 AND device_id = $2 AND event_time = ANY (SELECT to_timestamp(t / 1000.0) FROM unnest($3::float8[]) AS t)`,
      [source, deviceId, eventTimes],
    );
    n = Number(q.rows[0]?.n);
    if (n >= eventTimes.length) return n;
    await new Promise((res) => setTimeout(res, 500));
  }
  return n;
}

/** Source name of the replayed fleet. */
const FLEET_SOURCE = 'uci-gps-trajectories';

/** Waits until the fleet's fixes are in PostgreSQL. */
async function waitForFixes(pool: Pool, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < deadline) {
    const q = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.gps_fixes WHERE source = $1', [FLEET_SOURCE]);
    n = Number(q.rows[0]?.n);
    if (n >= expected) return n;
    await new Promise((res) => setTimeout(res, 500));
  }
  return n;
}

/** Runs the main job; resolves after Ctrl-C once everything has stopped. */
export async function runMainJob(untilSignal: () => Promise<string>): Promise<void> {
  const log = (m: string) => console.log(m);
  const jobStart = Date.now();
  log('▶ Starting the stack (Temporal dev server, PostgreSQL, Mosquitto, Kafka)…');
  const stack = await ensureStack({ log, services: ['temporal', 'postgres', 'mosquitto', 'kafka'] });
  const settings: Settings = loadSettings();
  const pool = createPool(databaseUrl(settings), 4);
  let client: Client | undefined;
  let closeClient: (() => Promise<void>) | undefined;
  let dashboard: Dashboard | undefined;
  const worker = await startWorker(settings);
  const launchServer = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'] });
  try {
    log(`▶ Worker polling task queue ${settings.taskQueue}.`);
    ({ client, close: closeClient } = await connectClient(settings));
    const { IngestRates } = await import('../observability/rates');
    dashboard = await startDashboard({
      pool,
      client,
      port: Number(process.env.DASHBOARD_PORT ?? 8090),
      taskQueue: settings.taskQueue,
      // The worker runs in this process: the page shows its ingest counters' rates.
      ingestRates: new IngestRates(),
    });
    log(`▶ Dashboard: ${dashboard.url}`);

    const sources = Object.keys(DATASET_FILES) as SensorDataset[];
    for (const source of sources) {
      const r = await startIngest(client, settings, { source });
      log(`▶ MQTT ingest ${r.workflowId}: ${r.started ? 'started' : 'already running'}.`);
    }
    const fleetStream = await startIngest(client, settings, { source: FLEET_SOURCE, kind: 'gps', topic: `fleet/${FLEET_SOURCE}/+` });
    log(`▶ MQTT ingest ${fleetStream.workflowId} (GPS fixes): ${fleetStream.started ? 'started' : 'already running'}.`);

    log('▶ Applying schedules/ to Temporal…');
    await applySchedules(client, { log: (l) => log(l.replace(/^/gm, '    ')) });

    // The consumers subscribe within a second or two of the workflows starting; wait for the sessions.
    await new Promise((r) => setTimeout(r, 3000));
    const replays: Array<{ source: SensorDataset; replay: ReplayResult; rows: number; landed: number }> = [];
    for (const source of sources) {
      const readings = loadDataset(source);
      log(`▶ Replaying ${readings.length} real readings of ${source} over MQTT (event times shifted to end now)…`);
      const replay = await replayReadings({
        url: mqttUrl(settings),
        source,
        readings,
        shiftToNow: true,
        onProgress: (sent, total) => process.stdout.write(`\r    sent ${sent}/${total}`),
      });
      process.stdout.write('\n');
      const landed = await waitForRows(
        pool,
        source,
        DATASET_DEVICES[source],
        readings.map((r) => r.eventTime + replay.shiftMs),
        120_000,
      );
      replays.push({ source, replay, rows: readings.length, landed });
      log(`    ${landed}/${readings.length} rows committed to ingest.sensor_readings.`);
    }
    const fixes = loadGpsFixes();
    log(
      `▶ Replaying ${fixes.length} real GPS fixes of ${new Set(fixes.map((f) => f.deviceId)).size} vehicles (UCI GPS Trajectories) over MQTT…`,
    );
    await replayGps({ fixes, source: FLEET_SOURCE, mqttUrl: mqttUrl(settings), speedup: 'max' });
    const fleetRows = await waitForFixes(pool, fixes.length, 120_000);
    log(`    ${fleetRows}/${fixes.length} fixes committed to ingest.gps_fixes.`);

    let declared: Awaited<ReturnType<typeof runDeclaredSources>> = [];
    try {
      declared = await runDeclaredSources(client, pool, settings, log);
    } catch (e) {
      // The rest of the main job does not depend on the declared sources: report and go on.
      log(`    declared sources failed: ${describeError(e)}`);
    }

    const dead = await pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM ingest.dead_letters WHERE source = ANY($1) AND received_at >= $2',
      [[...sources, FLEET_SOURCE, ...declared.map((d) => d.source)], new Date(jobStart)],
    );

    const first = Math.min(...replays.map((r) => r.replay.firstEventTime));
    const last = Math.max(...replays.map((r) => r.replay.lastEventTime));
    const dataIntervalStart = new Date(Math.floor(first / WINDOW_MS) * WINDOW_MS).toISOString();
    const dataIntervalEnd = new Date(Math.floor(last / WINDOW_MS) * WINDOW_MS + WINDOW_MS).toISOString();
    log(`▶ Running the sensor pipeline over the replayed windows [${dataIntervalStart}, ${dataIntervalEnd})…`);
    const sensorId = workflowIds.sensorPipeline(dataIntervalStart);
    const sensor = (await client.workflow.execute('sensorPipeline', {
      workflowId: sensorId,
      taskQueue: settings.taskQueue,
      args: [{ dataIntervalStart, dataIntervalEnd }],
      typedSearchAttributes: [{ key: searchAttributeKeys.PipelineName, value: 'sensor-pipeline' }],
    })) as SensorPipelineResult;

    log(`▶ Running the launch pipeline on the real 2024-03-30 Launch Library snapshot served at ${launchServer.url}…`);
    const logicalDate = new Date().toISOString().slice(0, 10);
    const launchId = workflowIds.launchImages(logicalDate);
    const launches = (await client.workflow.execute('launchImages', {
      workflowId: launchId,
      taskQueue: settings.taskQueue,
      args: [{ url: launchServer.url, logicalDate }],
      typedSearchAttributes: [{ key: searchAttributeKeys.PipelineName, value: 'launch-images' }],
    })) as LaunchImagesResult;

    log('▶ Running the data-quality checks over the replayed sensor windows and the whole GPS data set…');
    const runQuality = (start: string, end: string, groups: string[]) =>
      client!.workflow.execute('qualityChecks', {
        workflowId: `quality-checks-${groups.join('-')}-${start}`,
        taskQueue: settings.taskQueue,
        args: [{ dataIntervalStart: start, dataIntervalEnd: end, groups }],
        typedSearchAttributes: [{ key: searchAttributeKeys.PipelineName, value: 'quality-checks' }],
      }) as Promise<QualityChecksResult>;
    const quality = await runQuality(dataIntervalStart, dataIntervalEnd, ['sensors']);
    const gpsFirst = Math.min(...fixes.map((f) => f.eventTime));
    const gpsLast = Math.max(...fixes.map((f) => f.eventTime));
    const fleetQuality = await runQuality(
      new Date(Math.floor(gpsFirst / 86_400_000) * 86_400_000).toISOString(),
      new Date(Math.floor(gpsLast / 86_400_000) * 86_400_000 + 86_400_000).toISOString(),
      ['gps'],
    );

    // The live Open-Meteo API is the default; the main job uses a real snapshot so it works offline.
    const forecastFile = path.join(ROOT_DIR, 'data', 'weather-forecast', 'openmeteo_gfs_slc_2024-05-07T20.json');
    log(`▶ Running the weather pipeline on a real Open-Meteo snapshot (${path.relative(ROOT_DIR, forecastFile)})…`);
    const weather = (await client.workflow.execute('weatherPipeline', {
      workflowId: `weather-slc-${new Date().toISOString()}`,
      taskQueue: settings.taskQueue,
      args: [{ url: pathToFileURL(forecastFile).href, location: 'slc' }],
      typedSearchAttributes: [{ key: searchAttributeKeys.PipelineName, value: 'weather' }],
    })) as WeatherResult;

    const ui = `http://127.0.0.1:${settings.temporalUiPort}/namespaces/${settings.temporalNamespace}/workflows`;
    log('\n══ What happened ══');
    for (const r of replays) log(`  ingest ${r.source}: ${r.landed}/${r.rows} rows ingested`);
    log(`  dead letters: ${dead.rows[0]?.n ?? 0} (ingest.dead_letters)`);
    log(
      `  models: ${sensor.models.success}/${sensor.models.total} built${sensor.models.failed.length ? `; failed: ${sensor.models.failed.join('; ')}` : ''}`,
    );
    log(
      sensor.inference
        ? `  predictions: ${sensor.inference.predicted} windows predicted (${sensor.inference.skipped} windows without light/CO2, i.e. the air-quality station, skipped), model ${sensor.inference.modelVersion}`
        : `  predictions: skipped (${sensor.skippedInference})`,
    );
    log(
      `  launches: ${launches.launches} launches, ${launches.imagesDownloaded} images downloaded, ${launches.imagesAlreadyPresent} already present, ${launches.imagesFailed.length} failed; images in ${settings.outputDir}/images`,
    );
    log(`  fleet: ${fleetRows} GPS fixes ingested; device workflows device-${FLEET_SOURCE}-<id>`);
    for (const d of declared) log(`  source ${d.source} (${d.file}): ${d.rows}/${d.sent} rows in ingest.${d.table}`);
    log(
      `  quality checks: sensors ${quality.findings} findings, GPS ${fleetQuality.findings} findings (${fleetQuality.newAlerts + quality.newAlerts} new alerts; see the dashboard)`,
    );
    log(`  weather: ${weather.rows} hourly rows cleaned for ${weather.location} (${weather.hours} hours from ${weather.firstHour})`);
    log('\n══ Where to look ══');
    log(`  Dashboard:     ${dashboard.url}`);
    log(`  Temporal UI:   ${ui}`);
    if (worker.opsUrl) log(`  Metrics:       ${worker.opsUrl}/metrics  (health: /healthz, /readyz)`);
    log(`  Workflows:     ${workflowIds.mqttIngest('uci-occupancy')}, ${sensorId}, ${launchId}`);
    log('  CLI:           npx iot-pipelines ingest status uci-occupancy   |   temporal workflow list   |   temporal schedule list');
    log(`  PostgreSQL:    ${databaseUrl(settings)}  (ingest.sensor_readings, analytics.sensor_readings_10min, ml.occupancy_predictions)`);
    log('\nRunning; the schedule fires every 10 minutes. Press Ctrl-C to stop.');
    await Promise.race([untilSignal(), worker.done]);
    log('Stopping…');
  } finally {
    // The dashboard queries workflows with the client: closed first, so no call of it outlives the connection.
    await dashboard?.close().catch(() => undefined);
    await closeClient?.().catch(() => undefined);
    await launchServer.close().catch(() => undefined);
    if ((await settleWithin(worker.shutdown(), WORKER_SHUTDOWN_TIMEOUT_MS)) === 'timeout') {
      log(`The worker did not stop within ${WORKER_SHUTDOWN_TIMEOUT_MS / 1000} s; stopping the stack anyway.`);
    }
    await pool.end().catch(() => undefined);
    await stack.stop();
    log('Stopped.');
  }
}

/** Messages each simulated producer sends in the main job. */
const PRODUCER_MESSAGES = 500;

/** The shipped source each simulated producer feeds. */
const PRODUCER_SOURCES: Record<ProducerName, string> = {
  'mqtt-sensor': 'mqtt-sensor-data',
  'kafka-sensor': 'kafka-sensor-data',
  modem: 'modem-evg',
};

/**
 * Applies `sources/` (tables, stream workflows), then runs the simulated producers of the shipped
 * source files and waits until their rows are in PostgreSQL.
 * @returns per source: messages sent and rows found (rows of this run's devices and times)
 */
async function runDeclaredSources(
  client: Client,
  pool: Pool,
  settings: Settings,
  log: (m: string) => void,
): Promise<Array<{ source: string; file: string; table: string; sent: number; rows: number }>> {
  const { loadSources } = await import('../sources/load');
  const { applySources } = await import('../sources/apply');
  const { runProducer } = await import('../simulator/producers');
  const sources = loadSources();
  log(`▶ Applying sources/ (${sources.size} declared sources: ${[...sources.keys()].join(', ')})…`);
  const listKafkaTopics = async () => (await import('../ingest/kafka-client')).listTopics(kafkaBrokers(settings));
  for (const r of await applySources(sources, { client, pool, taskQueue: settings.taskQueue, listKafkaTopics })) {
    log(
      `    ${r.source}: table ingest.${r.table.table} ${r.error ? `refused: ${r.error}` : r.table.action}; ${r.streams.map((w) => `${w.workflowId} ${w.action}${w.reason ? ` (${w.reason})` : ''}`).join(', ')}`,
    );
  }
  const out = [];
  for (const [producer, name] of Object.entries(PRODUCER_SOURCES) as Array<[ProducerName, string]>) {
    const s = sources.get(name);
    if (!s) continue;
    const since = new Date();
    log(`▶ ${producer}: publishing ${PRODUCER_MESSAGES} messages the way that producer does, for ${s.file}…`);
    const r = await runProducer(producer, { count: PRODUCER_MESSAGES, mqttUrl: mqttUrl(settings), kafkaBrokers: kafkaBrokers(settings) });
    const deadline = Date.now() + 120_000;
    let rows = 0;
    for (;;) {
      // What batches committed since the producer started wrote (a re-run's readings are stored once: duplicates).
      const q = await pool.query<{ messages: string; rows: string }>(
        `SELECT coalesce(sum(messages), 0) AS messages, coalesce(sum(rows_inserted + duplicates), 0) AS rows
           FROM ingest.batches WHERE source = $1 AND committed_at >= $2`,
        [name, since],
      );
      rows = Number(q.rows[0]?.rows);
      if (Number(q.rows[0]?.messages) >= r.sent || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    out.push({ source: name, file: s.file, table: s.table, sent: r.sent, rows });
    log(`    ${rows}/${r.sent} committed through ${name} (ingest.${s.table}).`);
  }
  return out;
}
