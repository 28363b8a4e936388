/**
 * `kafka` and `streams` commands: create topics, produce telemetry or real sensor files to Kafka, and
 * start / stop / pause / resume / status of every stream (MQTT `ingest-mqtt-<source>`, Kafka
 * `ingest-kafka-<group>-<topic>`). A stream is named `mqtt:<source>` or `kafka:<group>:<topic>`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { kafkaBrokers, loadSettings } from '../config/env';
import { searchAttributeKeys, workflowIds } from '../config/names';
import { createTopic } from '../ingest/kafka-client';
import { PRODUCER_COMPRESSIONS, produceReadings, produceTelemetry, type ProducerCompression } from '../simulator/kafka-producer';
import { DATASET_FILES, loadDataset, type SensorDataset } from '../simulator/sensor-files';
import { kafkaIngestWorkflowId, type KafkaIngestInput } from '../workflows/kafka-ingest';
import { streamStatus } from '../ingest/stream-status';
import { configure, pause, resume, type StreamConfig } from '../workflows/messages';
import type { MqttIngestInput } from '../workflows/mqtt-ingest';
import { HEARTBEAT_TIMEOUT_RANGE_MS } from '../workflows/stream-supervisor';
import { withClient } from './client';
import { positiveInt } from './args';

export { streamStatus, type LiveRun, type LiveStreamStatus } from '../ingest/stream-status';

/** A stream reference parsed from `mqtt:<source>` or `kafka:<group>:<topic>`. */
export type StreamRef = { stream: 'mqtt'; source: string } | { stream: 'kafka'; groupId: string; topic: string };

/** Parses a stream name. @throws InvalidArgumentError for anything else. */
export function parseStreamRef(s: string): StreamRef {
  const [kind, a, b] = s.split(':');
  if (kind === 'mqtt' && a && b === undefined) return { stream: 'mqtt', source: a };
  if (kind === 'kafka' && a && b) return { stream: 'kafka', groupId: a, topic: b };
  throw new InvalidArgumentError(`Stream ${JSON.stringify(s)} must be mqtt:<source> or kafka:<group>:<topic>.`);
}

/** Workflow ID of a stream. */
export function streamWorkflowId(ref: StreamRef): string {
  return ref.stream === 'mqtt' ? workflowIds.mqttIngest(ref.source) : kafkaIngestWorkflowId(ref.groupId, ref.topic);
}

/** Starts a stream workflow (idempotent). @returns whether this call started it. */
export async function startStream(
  client: Client,
  taskQueue: string,
  ref: StreamRef,
  o: {
    /** The source file the stream carries, by name (`sensor`, `modem`, `gps`, or one of yours). */
    kind?: string;
    members?: number;
    topic?: string;
    batchSize?: number;
    flushIntervalMs?: number;
    source?: string;
    startFrom?: 'earliest' | 'latest';
    /** Heartbeat timeout of the consumer runs, ms (see `KafkaIngestInput.heartbeatTimeoutMs`). */
    heartbeatTimeoutMs?: number;
  },
): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = streamWorkflowId(ref);
  try {
    if (ref.stream === 'mqtt') {
      const input: MqttIngestInput = {
        source: ref.source,
        kind: o.kind,
        members: o.members,
        topic: o.topic,
        batchSize: o.batchSize,
        flushIntervalMs: o.flushIntervalMs,
        heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      };
      await client.workflow.start('mqttIngest', {
        workflowId,
        taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: searchAttributeKeys.PipelineName, value: 'mqtt-ingest' },
          { key: searchAttributeKeys.Source, value: ref.source },
        ],
      });
    } else {
      const input: KafkaIngestInput = {
        topic: ref.topic,
        groupId: ref.groupId,
        source: o.source,
        kind: o.kind,
        members: o.members,
        batchSize: o.batchSize,
        flushIntervalMs: o.flushIntervalMs,
        startFrom: o.startFrom,
        heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      };
      await client.workflow.start('kafkaIngest', {
        workflowId,
        taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: searchAttributeKeys.PipelineName, value: 'kafka-ingest' },
          { key: searchAttributeKeys.Source, value: o.source ?? ref.topic },
        ],
      });
    }
    return { workflowId, started: true };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw e;
  }
}

/** Checks that `--kind` names a source file (in `SOURCES_DIR` or shipped). */
async function checkKind(v: string): Promise<void> {
  const { findSource, loadSources, SHIPPED_SOURCES_DIR } = await import('../sources/load');
  if (findSource(v)) return;
  const known = [...new Set([...loadSources().keys(), ...loadSources(SHIPPED_SOURCES_DIR).keys()])].sort();
  throw new InvalidArgumentError(`--kind must name a source file (${known.join(', ')}), got ${JSON.stringify(v)}.`);
}

/** Adds `kafka topics create`, `kafka produce` and `streams start|stop|pause|resume|configure|status` to `program`. */
export function registerStreamCommands(program: Command): void {
  const kafka = program.command('kafka').description('Kafka topics and producers (KAFKA_BROKERS, default the embedded broker).');
  kafka
    .command('topics')
    .command('create')
    .argument('<topic>')
    .option('--partitions <n>', 'partition count', positiveInt('--partitions'), 4)
    .action(async (topic: string, o: { partitions: number }) => {
      const created = await createTopic(kafkaBrokers(), topic, o.partitions);
      console.log(created ? `Created ${topic} with ${o.partitions} partitions.` : `${topic} already exists.`);
    });
  kafka
    .command('produce')
    .description('Publish modem telemetry (default) or a real sensor data set, keyed by device.')
    .argument('<topic>')
    .option('--dataset <name>', `replay a real data set instead: ${Object.keys(DATASET_FILES).join(', ')}`)
    .option('--count <n>', 'telemetry records to send', positiveInt('--count'), 10_000)
    .option('--rate <n>', "records per second, or 'max'", 'max')
    .option('--devices <n>', 'modems in the simulated fleet', positiveInt('--devices'), 1000)
    .option('--pad <bytes>', 'pad each telemetry record to this size (e.g. 1024)', positiveInt('--pad'))
    .option('--compression <codec>', `batch compression: ${PRODUCER_COMPRESSIONS.join(', ')}`, 'none')
    .action(
      async (topic: string, o: { dataset?: string; count: number; rate: string; devices: number; pad?: number; compression: string }) => {
        if (!(PRODUCER_COMPRESSIONS as readonly string[]).includes(o.compression))
          throw new InvalidArgumentError(
            `--compression must be one of ${PRODUCER_COMPRESSIONS.join(', ')}, got ${JSON.stringify(o.compression)}.`,
          );
        const compression = o.compression as ProducerCompression;
        const rate = o.rate === 'max' ? 'max' : Number(o.rate);
        if (rate !== 'max' && !(rate > 0)) throw new InvalidArgumentError(`--rate must be a positive number or 'max', got ${o.rate}.`);
        const onProgress = (n: number) => process.stdout.write(`\rsent ${n}`);
        let r;
        if (o.dataset) {
          if (!(o.dataset in DATASET_FILES)) throw new InvalidArgumentError(`Unknown data set ${o.dataset}.`);
          r = await produceReadings({
            brokers: kafkaBrokers(),
            topic,
            rate,
            compression,
            readings: loadDataset(o.dataset as SensorDataset),
            onProgress,
          });
        } else {
          r = await produceTelemetry({
            brokers: kafkaBrokers(),
            topic,
            count: o.count,
            rate,
            compression,
            devices: o.devices,
            padTo: o.pad,
            onProgress,
          });
        }
        console.log(`\nSent ${r.sent} records in ${r.elapsedMs} ms (${r.rate}/s).`);
      },
    );

  const streams = program.command('streams').description('Control every stream: mqtt:<source> or kafka:<group>:<topic>.');
  streams
    .command('start')
    .argument('<stream>', 'mqtt:<source> or kafka:<group>:<topic>')
    .option('--kind <name>', 'source file the stream carries: sensor, modem, gps or your own (default sensor for MQTT, modem for Kafka)')
    .option('--members <n>', 'parallel consumers (Kafka group members; MQTT shared-subscription sessions)', positiveInt('--members'))
    .option('--topic <filter>', 'MQTT topic filter (default sensors/<source>/+)')
    .option('--source <name>', 'Kafka: source recorded with rows (default the topic)')
    .option('--batch-size <n>', 'messages per batch', positiveInt('--batch-size'))
    .option('--flush-interval <ms>', 'longest wait before a partial batch is written', positiveInt('--flush-interval'))
    .option('--from <position>', "Kafka: where partitions without a stored position start, 'earliest' or 'latest' (auto.offset.reset)")
    .option(
      '--heartbeat-timeout <ms>',
      'restart a consumer run this long after its worker stopped heartbeating (3000-600000, default 10000)',
      positiveInt('--heartbeat-timeout'),
    )
    .action(
      async (
        stream: string,
        o: {
          kind?: string;
          members?: number;
          topic?: string;
          source?: string;
          batchSize?: number;
          flushInterval?: number;
          from?: string;
          heartbeatTimeout?: number;
        },
      ) => {
        const from = o.from;
        if (from !== undefined && from !== 'earliest' && from !== 'latest')
          throw new InvalidArgumentError(`--from must be earliest or latest, got ${JSON.stringify(from)}.`);
        if (from !== undefined && stream.startsWith('mqtt:'))
          throw new InvalidArgumentError('--from is for Kafka streams: an MQTT session receives what the broker queued for it.');
        const hb = o.heartbeatTimeout;
        const [minHb, maxHb] = HEARTBEAT_TIMEOUT_RANGE_MS;
        if (hb !== undefined && (hb < minHb || hb > maxHb))
          throw new InvalidArgumentError(`--heartbeat-timeout must be from ${minHb} to ${maxHb} ms, got ${hb}.`);
        if (o.kind !== undefined) await checkKind(o.kind);
        const settings = loadSettings();
        const r = await withClient(settings, (c) =>
          startStream(c, settings.taskQueue, parseStreamRef(stream), {
            ...o,
            flushIntervalMs: o.flushInterval,
            startFrom: from,
            heartbeatTimeoutMs: hb,
          }),
        );
        console.log(r.started ? `Started ${r.workflowId}.` : `${r.workflowId} is already running.`);
      },
    );
  for (const action of ['pause', 'resume', 'stop'] as const) {
    streams
      .command(action)
      .argument('<stream>')
      .option('--reason <text>', 'why (pause only)')
      .action(async (stream: string, o: { reason?: string }) => {
        const workflowId = streamWorkflowId(parseStreamRef(stream));
        await withClient(loadSettings(), async (c) => {
          const h = c.workflow.getHandle(workflowId);
          if (action === 'pause') await h.signal(pause, o.reason);
          else if (action === 'resume') await h.signal(resume);
          else await h.cancel();
        });
        console.log(`${action}: sent to ${workflowId}.`);
      });
  }
  streams
    .command('configure')
    .description('Change settings of a running stream (the configure update, validated by the workflow); prints the settings in force.')
    .argument('<stream>')
    .option('--batch-size <n>', 'messages per batch', positiveInt('--batch-size'))
    .option('--flush-interval <ms>', 'longest wait before a partial batch is written', positiveInt('--flush-interval'))
    .option('--members <n>', 'parallel consumers', positiveInt('--members'))
    .option('--heartbeat-timeout <ms>', 'heartbeat timeout of the consumer runs (3000-600000)', positiveInt('--heartbeat-timeout'))
    .option('--backoff-initial <ms>', 'restart delay after a first run that failed without progress', positiveInt('--backoff-initial'))
    .option('--backoff-coefficient <x>', 'growth of that delay per further failure (1-10)', (v: string) => {
      const x = Number(v);
      if (!(x >= 1 && x <= 10)) throw new InvalidArgumentError(`--backoff-coefficient must be a number from 1 to 10, got ${v}.`);
      return x;
    })
    .option('--backoff-max <ms>', 'longest restart delay', positiveInt('--backoff-max'))
    .action(
      async (
        stream: string,
        o: {
          batchSize?: number;
          flushInterval?: number;
          members?: number;
          heartbeatTimeout?: number;
          backoffInitial?: number;
          backoffCoefficient?: number;
          backoffMax?: number;
        },
      ) => {
        const c: StreamConfig = {
          batchSize: o.batchSize,
          flushIntervalMs: o.flushInterval,
          members: o.members,
          heartbeatTimeoutMs: o.heartbeatTimeout,
        };
        if (o.backoffInitial !== undefined || o.backoffCoefficient !== undefined || o.backoffMax !== undefined) {
          c.restartBackoff = { initialIntervalMs: o.backoffInitial, coefficient: o.backoffCoefficient, maximumIntervalMs: o.backoffMax };
        }
        const workflowId = streamWorkflowId(parseStreamRef(stream));
        const settings = await withClient(loadSettings(), (cl) =>
          cl.workflow
            .getHandle(workflowId)
            .executeUpdate(configure, { args: [c] })
            .catch((e: unknown) => {
              // The validator's reason is the cause: say it, not only "Workflow Update failed".
              if (e instanceof WorkflowUpdateFailedError) throw new Error(`configure refused: ${e.cause?.message ?? e.message}`);
              throw e;
            }),
        );
        console.log(JSON.stringify(settings, null, 2));
      },
    );
  streams
    .command('status')
    .argument('<stream>')
    .action(async (stream: string) => {
      const s = await withClient(loadSettings(), (c) => streamStatus(c, streamWorkflowId(parseStreamRef(stream))));
      console.log(JSON.stringify(s, null, 2));
    });
}
