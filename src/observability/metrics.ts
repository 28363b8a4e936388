/**
 * The application's Prometheus metrics (`prom-client`), defined once and shared by every process that
 * does work; served by `server.ts` at `/metrics` beside the Temporal SDK's own runtime metrics.
 *
 * Names follow the Prometheus conventions (https://prometheus.io/docs/practices/naming/): one prefix
 * `iot_pipelines_`, base units (`_seconds`, `_bytes`), `_total` for counters. Labels are bounded: a
 * source, a transport (`mqtt`, `kafka`), a dead-letter code, a Kafka topic and partition, a model.
 * Updating a metric is a few hash lookups; with no endpoint configured nothing reads them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The registry `/metrics` serves (default Node.js process metrics included: `process_*`, `nodejs_*`). */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];

/** The metrics, by concern; see README "Operate it" for the list with labels and units. */
export const metrics = {
  /** Rows inserted into source tables, after their batch committed. */
  ingestRows: new Counter({
    name: 'iot_pipelines_ingest_rows_total',
    help: 'Rows inserted into source tables (committed).',
    labelNames: ['source', 'transport'] as const,
    registers,
  }),
  /** Messages committed and acknowledged (rows, duplicates and dead letters alike). */
  ingestMessages: new Counter({
    name: 'iot_pipelines_ingest_messages_total',
    help: 'Messages committed and acknowledged (MQTT PUBACK / Kafka offset stored), whatever became of them.',
    labelNames: ['source', 'transport'] as const,
    registers,
  }),
  /** Records already present (redeliveries, repeated device sends). */
  ingestDuplicates: new Counter({
    name: 'iot_pipelines_ingest_duplicates_total',
    help: 'Records already stored (redeliveries, a device sending a reading again): not inserted twice.',
    labelNames: ['source', 'transport'] as const,
    registers,
  }),
  /** Dead letters written, by code (`schema`, `not_json`, `sparkplug_session`, …). */
  ingestDeadLetters: new Counter({
    name: 'iot_pipelines_ingest_dead_letters_total',
    help: 'Messages dead-lettered (committed to ingest.dead_letters), by error code.',
    labelNames: ['source', 'transport', 'code'] as const,
    registers,
  }),
  /** Messages per committed batch. */
  ingestBatchMessages: new Histogram({
    name: 'iot_pipelines_ingest_batch_messages',
    help: 'Messages per committed batch.',
    labelNames: ['source', 'transport'] as const,
    buckets: [1, 10, 50, 100, 500, 1000, 2000, 5000, 10000],
    registers,
  }),
  /** Time of a batch's transaction, from its first statement to COMMIT. */
  ingestCommitSeconds: new Histogram({
    name: 'iot_pipelines_ingest_commit_duration_seconds',
    help: "Duration of a batch's write transaction (rows, dead letters, device status, offsets), committed ones only.",
    labelNames: ['source', 'transport'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  }),
  /** Kafka lag: the partition's log end offset minus the position committed in PostgreSQL. */
  kafkaLag: new Gauge({
    name: 'iot_pipelines_kafka_consumer_lag',
    help: "Records of a partition not yet committed: log end offset (high watermark) minus the consumer group's position stored in PostgreSQL.",
    labelNames: ['group', 'topic', 'partition'] as const,
    registers,
  }),
  /** MQTT messages received and not yet committed (their PUBACK is held back). */
  mqttInFlight: new Gauge({
    name: 'iot_pipelines_mqtt_messages_in_flight',
    help: 'MQTT messages received whose batch has not committed yet (PUBACK held back).',
    labelNames: ['source'] as const,
    registers,
  }),
  /** 1 for the state a stream's consumer in this process is in, 0 for the others. */
  streamState: new Gauge({
    name: 'iot_pipelines_stream_state',
    help: "State of a stream's consumer in this process (1 = current): running, waiting (database or broker unreachable), stopped.",
    labelNames: ['source', 'transport', 'state'] as const,
    registers,
  }),
};

/** What a consumer reports of one committed batch. */
export interface CommittedBatch {
  source: string;
  transport: 'mqtt' | 'kafka';
  messages: number;
  inserted: number;
  duplicates: number;
  /** Dead letters actually written, by code. */
  deadLettersByCode: Record<string, number>;
  /** The transaction's duration, seconds. */
  seconds: number;
}

/** Counts one committed batch. */
export function observeCommittedBatch(b: CommittedBatch): void {
  const l = { source: b.source, transport: b.transport };
  metrics.ingestMessages.inc(l, b.messages);
  if (b.inserted) metrics.ingestRows.inc(l, b.inserted);
  else metrics.ingestRows.inc(l, 0);
  if (b.duplicates) metrics.ingestDuplicates.inc(l, b.duplicates);
  for (const [code, n] of Object.entries(b.deadLettersByCode)) metrics.ingestDeadLetters.inc({ ...l, code }, n);
  metrics.ingestBatchMessages.observe(l, b.messages);
  metrics.ingestCommitSeconds.observe(l, b.seconds);
}

/** The states {@link metrics.streamState} knows. */
export const STREAM_STATES = ['running', 'waiting', 'stopped'] as const;

/** Sets a stream consumer's state (1 for `state`, 0 for the others). */
export function setStreamState(source: string, transport: 'mqtt' | 'kafka', state: (typeof STREAM_STATES)[number]): void {
  for (const s of STREAM_STATES) metrics.streamState.set({ source, transport, state: s }, s === state ? 1 : 0);
}
