/**
 * Fleet, data-quality, weather and dashboard commands: `simulate-fleet`, `devices list|show|ack|mute|thresholds`,
 * `quality run`, `weather run`, `dashboard`. Registered on the main program by {@link registerFleetCommands}.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl } from '../config/env';
import { createPool } from '../db/pool';
import { startDashboard } from '../dashboard/server';
import { acknowledgeThroughWorkflow } from '../dashboard/server';
import { deviceWorkflowId, type DeviceStateView } from '../devices/state';
import { parseDuration } from '../schedules/schema';
import { loadGpsFixes } from '../simulator/gps-files';
import { replayGps } from '../simulator/gps-replay';
import type { QualityChecksResult } from '../workflows/quality-checks';
import type { WeatherResult } from '../workflows/weather';
import { withClient } from './client';

function duration(name: string) {
  return (v: string) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0)
      throw new InvalidArgumentError(`${name} must be a duration like 30s, 10m, 1h; got ${JSON.stringify(v)}.`);
    return ms;
  };
}

/** Resolves on SIGINT/SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** Adds the fleet/quality/weather/dashboard commands to `program`. */
export function registerFleetCommands(program: Command): void {
  program
    .command('simulate-fleet')
    .description('Replay the real go!track GPS data set (28 devices) as fleet telemetry, keeping order and relative timing.')
    .option('--source <name>', 'source name in the topic fleet/<source>/<device>', 'go-track')
    .option('--transport <t>', 'mqtt or kafka (topic fleet-<source>)', 'mqtt')
    .option('--speedup <n>', "event-time seconds per wall-clock second, or 'max'", '60')
    .option(
      '--max-gap <duration>',
      'shorten gaps between fixes (e.g. between trips) to at most this much event time',
      duration('--max-gap'),
      10 * 60_000,
    )
    .option('--shift-to-now', 'shift event times so the replay starts now', false)
    .option('--device <id>', 'only this device (id_android)')
    .action(async (o: { source: string; transport: string; speedup: string; maxGap: number; shiftToNow: boolean; device?: string }) => {
      if (o.transport !== 'mqtt' && o.transport !== 'kafka') throw new InvalidArgumentError('--transport must be mqtt or kafka');
      const speedup = o.speedup === 'max' ? 'max' : Number(o.speedup);
      if (speedup !== 'max' && !(speedup > 0))
        throw new InvalidArgumentError(`--speedup must be a positive number or 'max', got ${o.speedup}.`);
      let fixes = loadGpsFixes();
      if (o.device !== undefined) fixes = fixes.filter((f) => f.deviceId === o.device);
      const settings = loadSettings();
      const shiftMs = o.shiftToNow && fixes.length ? Date.now() - fixes[0]!.eventTime : 0;
      let n = 0;
      const r = await replayGps({
        fixes,
        source: o.source,
        transport: o.transport,
        mqttUrl: mqttUrl(settings),
        kafkaBrokers: kafkaBrokers(settings),
        speedup: speedup === 'max' ? 'max' : speedup,
        maxGapMs: o.maxGap,
        shiftMs,
        onSent: () => {
          if (++n % 500 === 0) process.stdout.write(`\rsent ${n}/${fixes.length}`);
        },
      });
      console.log(`\nPublished ${r.sent} fixes of ${r.devices} devices in ${(r.wallMs / 1000).toFixed(1)} s.`);
    });

  const devices = program.command('devices').description('Device entity workflows (device-<source>-<device>).');
  devices
    .command('list')
    .option('--source <name>')
    .action(async (o: { source?: string }) => {
      const pool = createPool(databaseUrl(), 2);
      try {
        const r = await pool.query(
          'SELECT source, device_id, kind, status, last_seen, open_alerts FROM fleet.devices WHERE ($1::text IS NULL OR source = $1) ORDER BY source, device_id',
          [o.source ?? null],
        );
        console.table(r.rows);
      } finally {
        await pool.end();
      }
    });
  devices
    .command('show')
    .argument('<source>')
    .argument('<device>')
    .description("Query the device workflow's state.")
    .action(async (source: string, device: string) => {
      const s = await withClient(loadSettings(), (c) =>
        c.workflow.getHandle(deviceWorkflowId(source, device)).query<DeviceStateView>('deviceState'),
      );
      console.log(JSON.stringify(s, null, 2));
    });
  devices
    .command('ack')
    .argument('<alertId>')
    .option('--by <name>', 'who acknowledges', process.env.USER ?? 'cli')
    .description("Acknowledge an alert through its device workflow's update.")
    .action(async (alertId: string, o: { by: string }) => {
      const id = Number(alertId);
      if (!Number.isInteger(id) || id <= 0) throw new InvalidArgumentError('alertId must be a positive integer');
      const settings = loadSettings();
      const pool = createPool(databaseUrl(settings), 2);
      try {
        const r = await withClient(settings, (c) => acknowledgeThroughWorkflow(pool, c, settings.taskQueue, id, o.by));
        if (r.status !== 200) throw new Error(JSON.stringify(r.body));
        console.log(`Alert ${id} acknowledged by ${o.by}.`);
      } finally {
        await pool.end();
      }
    });
  devices
    .command('mute')
    .argument('<source>')
    .argument('<device>')
    .argument('<rule>')
    .option('--for <duration>', 'how long', duration('--for'), 3_600_000)
    .action(async (source: string, device: string, rule: string, o: { for: number }) => {
      const until = await withClient(loadSettings(), (c) =>
        c.workflow
          .getHandle(deviceWorkflowId(source, device))
          .executeUpdate<string, [{ rule: string; forMs: number }]>('muteRule', { args: [{ rule, forMs: o.for }] }),
      );
      console.log(`${rule} muted for ${device} until ${until}.`);
    });
  devices
    .command('thresholds')
    .argument('<source>')
    .argument('<device>')
    .requiredOption('--expected-interval <duration>', 'longest expected gap between data', duration('--expected-interval'))
    .action(async (source: string, device: string, o: { expectedInterval: number }) => {
      const r = await withClient(loadSettings(), (c) =>
        c.workflow
          .getHandle(deviceWorkflowId(source, device))
          .executeUpdate('setThresholds', { args: [{ expectedIntervalMs: o.expectedInterval }] }),
      );
      console.log(JSON.stringify(r));
    });

  program
    .command('quality')
    .description('Data-quality checks (config/quality-rules.yaml).')
    .command('run')
    .requiredOption('--start <iso>', 'data interval start')
    .requiredOption('--end <iso>', 'data interval end (exclusive)')
    .option('--source <name>', 'only this source')
    .action(async (o: { start: string; end: string; source?: string }) => {
      const settings = loadSettings();
      const r = await withClient(
        settings,
        (c) =>
          c.workflow.execute('qualityChecks', {
            workflowId: `quality-checks-${o.start}${o.source ? `-${o.source}` : ''}`,
            taskQueue: settings.taskQueue,
            args: [{ dataIntervalStart: o.start, dataIntervalEnd: o.end, source: o.source }],
          }) as Promise<QualityChecksResult>,
      );
      console.log(JSON.stringify(r, null, 2));
    });

  program
    .command('weather')
    .description('The weather pipeline (Open-Meteo → clean → store → dashboard).')
    .command('run')
    .option('--url <url>', 'forecast URL (http(s) or file://); default the live API for the coordinates')
    .option('--location <name>', 'location key', 'aracaju')
    .option('--latitude <deg>', 'latitude', Number)
    .option('--longitude <deg>', 'longitude', Number)
    .action(async (o: { url?: string; location: string; latitude?: number; longitude?: number }) => {
      const settings = loadSettings();
      const r = await withClient(
        settings,
        (c) =>
          c.workflow.execute('weatherPipeline', {
            workflowId: `weather-${o.location}-${new Date().toISOString()}`,
            taskQueue: settings.taskQueue,
            args: [{ url: o.url, location: o.location, latitude: o.latitude, longitude: o.longitude }],
          }) as Promise<WeatherResult>,
      );
      console.log(JSON.stringify(r, null, 2));
    });

  program
    .command('dashboard')
    .description('Serve the live dashboard until Ctrl-C.')
    .option('--port <n>', 'port', Number, 8090)
    .option('--host <host>', 'bind address', '127.0.0.1')
    .action(async (o: { port: number; host: string }) => {
      const settings = loadSettings();
      const pool = createPool(databaseUrl(settings), 4);
      await withClient(settings, async (client) => {
        const d = await startDashboard({ pool, client, port: o.port, host: o.host, taskQueue: settings.taskQueue });
        console.log(`Dashboard: ${d.url}`);
        await untilSignal();
        await d.close();
      });
      await pool.end();
    });
}
