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
    labelNames: ['source', 'group', 'topic', 'partition'] as const,
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
  /** Time of one model node (model, seed or data test), compile + execute, as run_results.json gives it. */
  modelNodeSeconds: new Histogram({
    name: 'iot_pipelines_model_node_duration_seconds',
    help: 'Duration of one node of the SQL-model project (model build, seed load or data test), compile + execute.',
    labelNames: ['node', 'resource_type', 'status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  }),
  /** Rows the last build of a model or load of a seed affected. */
  modelNodeRows: new Gauge({
    name: 'iot_pipelines_model_node_rows',
    help: 'Rows affected by the last run of a model or seed (the adapter response).',
    labelNames: ['node'] as const,
    registers,
  }),
  /** Failing rows of the last run of a data test (0 when it passed). */
  modelTestFailures: new Gauge({
    name: 'iot_pipelines_model_test_failures',
    help: 'Failing rows of the last run of a data test (0 = passed).',
    labelNames: ['node'] as const,
    registers,
  }),
  /** Rows predicted and written, per model version. */
  inferenceRows: new Counter({
    name: 'iot_pipelines_inference_rows_total',
    help: 'Rows predicted and written by the ONNX model, per model version.',
    labelNames: ['model_version'] as const,
    registers,
  }),
  /** Time of one inference activity (read features, predict, write in one transaction). */
  inferenceSeconds: new Histogram({
    name: 'iot_pipelines_inference_duration_seconds',
    help: 'Duration of one inference run over a data interval (read features, predict, write).',
    labelNames: ['model_version'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  }),
  /** Parquet files written to the lake, per source. */
  lakeFiles: new Counter({
    name: 'iot_pipelines_lake_files_total',
    help: 'Parquet files written to the data lake (hourly partitions, replaced whole on re-run).',
    labelNames: ['source'] as const,
    registers,
  }),
  /** Bytes of the Parquet files written to the lake, per source. */
  lakeBytes: new Counter({
    name: 'iot_pipelines_lake_bytes_total',
    help: 'Bytes of Parquet files written to the data lake.',
    labelNames: ['source'] as const,
    registers,
  }),
  /** Data-quality findings, per rule. */
  qualityFindings: new Counter({
    name: 'iot_pipelines_quality_findings_total',
    help: 'Data-quality findings of the checks (config/quality-rules.yaml), per rule.',
    labelNames: ['rule'] as const,
    registers,
  }),
  /** Alerts handed to device workflows or notified, per rule. */
  qualityAlerts: new Counter({
    name: 'iot_pipelines_quality_alerts_total',
    help: 'Data-quality alerts dispatched (to device workflows, or notified directly), per rule.',
    labelNames: ['rule'] as const,
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

/** Records one model node's result (`run_results.json` shape: unique id, status, seconds, rows, failures). */
export function observeModelNode(r: {
  unique_id: string;
  status: string;
  execution_time: number;
  adapter_response: { rows_affected?: number };
  failures: number | null;
}): void {
  const resourceType = r.unique_id.split('.')[0] ?? 'model';
  metrics.modelNodeSeconds.observe({ node: r.unique_id, resource_type: resourceType, status: r.status }, r.execution_time);
  if (resourceType === 'test') metrics.modelTestFailures.set({ node: r.unique_id }, r.failures ?? 0);
  else if (r.adapter_response.rows_affected !== undefined)
    metrics.modelNodeRows.set({ node: r.unique_id }, r.adapter_response.rows_affected);
}
