/**
 * `iot-pipelines` command line: stack, worker, pipelines, simulator, schedules, streams, dead letters, status.
 * Every command reads its addresses from the environment (see src/config/env.ts).
 */
import { Command, InvalidArgumentError } from 'commander';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { loadSettings, mqttUrl } from '../config/env';
import { ensureStack, type ServiceName } from '../stack/index';
import { startWorker } from '../workers/worker';
import { withClient } from './client';
import { controlIngest, ingestStatus, startIngest } from './ingest';
import { DATASET_FILES, loadDataset, type SensorDataset } from '../simulator/sensor-files';
import { replayReadings } from '../simulator/sensor-replay';
import { registerModelCommands } from './models';
import { parseArgs, PIPELINES, runPipeline } from './run';
import { registerScheduleCommands } from './schedule-commands';
import { registerEventsCommands } from './events';
import { runMainJob } from './start';
import { showStatus } from './status';
import { registerFleetCommands } from './fleet';
import { registerStreamCommands } from './streams';
import { registerDeadLetterCommands } from './dead-letters';
import { positiveInt } from './args';

// Worker and SDK logs at WARN and above; pipeline output is printed by the commands themselves.
Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'WARN') });

const program = new Command();
program.name('iot-pipelines').description('Durable IoT and data pipelines on Temporal.').showHelpAfterError();

/** Resolves on SIGINT/SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

const SERVICES: ServiceName[] = ['temporal', 'postgres', 'mosquitto', 'kafka'];

program
  .command('stack')
  .description('Manage the embedded stack (Temporal dev server, PostgreSQL, Mosquitto, Kafka).')
  .command('up')
  .description('Start every missing service and keep them running until Ctrl-C.')
  .option('--services <list>', `comma-separated subset of ${SERVICES.join(',')}`, 'temporal,postgres,mosquitto')
  .action(async (o: { services: string }) => {
    const services = o.services.split(',').map((s) => s.trim()) as ServiceName[];
    const unknown = services.filter((s) => !SERVICES.includes(s));
    if (unknown.length) throw new InvalidArgumentError(`Unknown service(s) ${unknown.join(', ')}; choose from ${SERVICES.join(', ')}.`);
    const stack = await ensureStack({ services });
    const s = stack.settings;
    console.log(`Stack ready (started: ${stack.started.join(', ') || 'none, all reused'}).`);
    console.log(`  Temporal  ${s.temporalAddress}  UI http://127.0.0.1:${s.temporalUiPort}`);
    console.log(`  MQTT      ${mqttUrl(s)}`);
    console.log('Press Ctrl-C to stop.');
    await untilSignal();
    await stack.stop();
  });

program
  .command('worker')
  .description('Run the worker (all workflows and activities) until Ctrl-C.')
  .action(async () => {
    const settings = loadSettings();
    const w = await startWorker(settings);
    console.log(`Worker polling task queue ${settings.taskQueue} on ${settings.temporalAddress}.`);
    await Promise.race([untilSignal(), w.done]);
    await w.shutdown();
  });

program
  .command('simulate')
  .description('Replay a real sensor data set over MQTT (QoS 1) with its original event times.')
  .argument('<dataset>', `one of ${Object.keys(DATASET_FILES).join(', ')}`)
  .option('--speedup <n>', "event-time seconds per wall-clock second, or 'max'", 'max')
  .option('--shift-to-now', 'shift event times so the replay ends now (whole 10-minute windows)', false)
  .option('--limit <n>', 'send only the first n readings', positiveInt('--limit'))
  .action(async (dataset: string, o: { speedup: string; shiftToNow: boolean; limit?: number }) => {
    if (!(dataset in DATASET_FILES))
      throw new InvalidArgumentError(`Unknown data set ${dataset}; choose from ${Object.keys(DATASET_FILES).join(', ')}.`);
    const speedup = o.speedup === 'max' ? 'max' : Number(o.speedup);
    if (speedup !== 'max' && !(speedup > 0))
      throw new InvalidArgumentError(`--speedup must be a positive number or 'max', got ${o.speedup}.`);
    let readings = loadDataset(dataset as SensorDataset);
    if (o.limit) readings = readings.slice(0, o.limit);
    const r = await replayReadings({
      url: mqttUrl(),
      source: dataset,
      readings,
      speedup,
      shiftToNow: o.shiftToNow,
      onProgress: (sent, total) => process.stdout.write(`\rsent ${sent}/${total}`),
    });
    console.log(
      `\nPublished ${r.sent} readings (${new Date(r.firstEventTime).toISOString()} → ${new Date(r.lastEventTime).toISOString()}).`,
    );
  });

const ingest = program.command('ingest').description('Control the long-running MQTT ingest stream of a source.');
ingest
  .command('start')
  .argument('<source>', 'source name, e.g. uci-occupancy (topic sensors/<source>/+)')
  .option('--batch-size <n>', 'messages per batch', positiveInt('--batch-size'))
  .option('--flush-interval <ms>', 'longest wait before a partial batch is written', positiveInt('--flush-interval'))
  .action(async (source: string, o: { batchSize?: number; flushInterval?: number }) => {
    const settings = loadSettings();
    const r = await withClient(settings, (c) =>
      startIngest(c, settings, { source, batchSize: o.batchSize, flushIntervalMs: o.flushInterval }),
    );
    console.log(r.started ? `Started ${r.workflowId}.` : `${r.workflowId} is already running.`);
  });
for (const action of ['pause', 'resume', 'stop'] as const) {
  ingest
    .command(action)
    .argument('<source>')
    .option('--reason <text>', 'why (pause only)')
    .action(async (source: string, o: { reason?: string }) => {
      await withClient(loadSettings(), (c) => controlIngest(c, source, action, o.reason));
      console.log(`${action}: sent to ingest-mqtt-${source}.`);
    });
}
ingest
  .command('status')
  .argument('<source>')
  .action(async (source: string) => {
    const s = await withClient(loadSettings(), (c) => ingestStatus(c, source));
    console.log(JSON.stringify(s, null, 2));
  });

program
  .command('start')
  .description('The main job: stack, worker, ingest streams, schedules, real data replay, both pipelines; runs until Ctrl-C.')
  .action(async () => {
    await runMainJob(untilSignal);
  });

program
  .command('run')
  .description(`Run a pipeline by name and wait for its result: ${Object.keys(PIPELINES).join(', ')}.`)
  .argument(
    '<pipeline>',
    Object.entries(PIPELINES)
      .map(([k, v]) => `${k}: ${v.description}`)
      .join('; '),
  )
  .argument('[args...]', 'workflow input as key=value pairs (values parsed as JSON when possible)')
  .action(async (pipeline: string, args: string[]) => {
    const settings = loadSettings();
    const input = parseArgs(args);
    console.log(`Starting ${pipeline} on task queue ${settings.taskQueue}…`);
    const r = await withClient(settings, (c) => runPipeline(c, settings, pipeline, input));
    console.log(`${r.workflowId} completed:`);
    console.log(JSON.stringify(r.result, null, 2));
  });

registerScheduleCommands(program);
registerEventsCommands(program);

registerModelCommands(program);

program
  .command('status')
  .description('Recent pipeline runs, ingest streams and schedules.')
  .action(async () => {
    const settings = loadSettings();
    await withClient(settings, (c) => showStatus(c, settings));
  });

registerFleetCommands(program);
registerStreamCommands(program);
registerDeadLetterCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
