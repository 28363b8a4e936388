/** `simulate` and `ingest`: replay a real sensor data set over MQTT; control a source's MQTT ingest stream. */
import { InvalidArgumentError, type Command } from 'commander';
import { kafkaBrokers, loadSettings, mqttUrl } from '../config/env';
import { PRODUCERS, runProducer, type ProducerName } from '../simulator/producers';
import { DATASET_FILES, loadDataset, type SensorDataset } from '../simulator/sensor-files';
import { replayReadings } from '../simulator/sensor-replay';
import { positiveInt } from './args';
import { withClient } from './client';
import { controlIngest, ingestStatus, startIngest } from './ingest';

/** Registers `simulate` and `ingest start|pause|resume|stop|status`. */
export function registerIngestCommands(program: Command): void {
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

  program
    .command('simulate-producers')
    .description(
      'Publish what the producers the shipped sources/ files were written for send: the Python MQTT sensor (sensors/data), the Kafka sensor (sensor_data_topic) and the modems (modem-events).',
    )
    .argument('[producers...]', `any of ${PRODUCERS.join(', ')} (default: all)`)
    .option('--count <n>', 'messages per producer', positiveInt('--count'), 500)
    .action(async (names: string[], o: { count: number }) => {
      const chosen = names.length ? names : [...PRODUCERS];
      for (const n of chosen) {
        if (!(PRODUCERS as readonly string[]).includes(n))
          throw new InvalidArgumentError(`Unknown producer ${n}; choose from ${PRODUCERS.join(', ')}.`);
      }
      const settings = loadSettings();
      for (const n of chosen as ProducerName[]) {
        const r = await runProducer(n, { count: o.count, mqttUrl: mqttUrl(settings), kafkaBrokers: kafkaBrokers(settings) });
        console.log(`${r.producer}: sent ${r.sent} messages`);
      }
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
}
