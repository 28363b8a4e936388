/**
 * Telegraf as a peer: `inputs.mqtt_consumer` (QoS 1, persistent session) → `outputs.postgresql` and
 * `inputs.kafka_consumer` → `outputs.postgresql`, both parsing the JSON with `parsers.json_v2`.
 *
 * The binary is built once per machine into the stack folder (`<stack>/bin/telegraf`, git-ignored) with
 * Telegraf's `custom` build tag and only the plugins used here, by `go install` of a pinned release
 * (a couple of minutes on 2 cores; niced so the machine stays usable).
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from './spawned';

/** The Telegraf release the bench builds. */
export const TELEGRAF_VERSION = '1.37.2';

/** Build tags: `custom` plus only the plugins the bench uses (see Telegraf's docs/CUSTOMIZATION.md). */
export const TELEGRAF_BUILD_TAGS = 'custom,inputs.mqtt_consumer,inputs.kafka_consumer,outputs.postgresql,parsers.json_v2';

/** Longest the build may take. @default 40 min */
export const TELEGRAF_BUILD_TIMEOUT_MS = 40 * 60_000;

/** Where the bench keeps the binary. */
export function telegrafPath(stackDir: string): string {
  return path.join(stackDir, 'bin', 'telegraf');
}

/**
 * Returns the Telegraf binary, building it when missing.
 * @returns `{ bin }`, or `{ error }` with the command line and the tail of its output when it could not be built
 */
export function ensureTelegraf(stackDir: string, log: (m: string) => void): { bin: string; built: boolean } | { error: string } {
  const bin = telegrafPath(stackDir);
  if (fs.existsSync(bin)) return { bin, built: false };
  const go = runCommand('go', ['version']);
  if (!go.ok) return { error: `Telegraf is built from source with Go, and Go is not usable here: ${go.error}` };
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  log(`  peers: building Telegraf ${TELEGRAF_VERSION} (plugins: ${TELEGRAF_BUILD_TAGS}) into ${bin}, once per machine…`);
  const t0 = Date.now();
  const r = runCommand(
    'nice',
    [
      '-n',
      '10',
      'go',
      'install',
      '-tags',
      TELEGRAF_BUILD_TAGS,
      '-ldflags',
      `-s -w -X github.com/influxdata/telegraf/internal.Version=${TELEGRAF_VERSION}`,
      `github.com/influxdata/telegraf/cmd/telegraf@v${TELEGRAF_VERSION}`,
    ],
    // Outside any module, so `go install pkg@version` resolves Telegraf's own go.mod.
    {
      cwd: path.dirname(bin),
      env: { ...process.env, GOBIN: path.dirname(bin), GOFLAGS: '-buildvcs=false' },
      timeoutMs: TELEGRAF_BUILD_TIMEOUT_MS,
    },
  );
  if (!r.ok || !fs.existsSync(bin)) return { error: `building Telegraf failed: ${r.error ?? 'no binary was written'}` };
  log(`  peers: Telegraf built in ${Math.round((Date.now() - t0) / 1000)} s`);
  return { bin, built: true };
}

const str = (s: string) => JSON.stringify(s);

/** The agent settings both configurations share: batches of `batchSize`, a short flush interval, debug log (one line per written batch). */
function agent(batchSize: number, flushInterval: string): string[] {
  return [
    '[agent]',
    `  metric_batch_size = ${batchSize}`,
    '  metric_buffer_limit = 1000000',
    `  flush_interval = ${str(flushInterval)}`,
    '  flush_jitter = "0s"',
    '  omit_hostname = true',
    '  debug = true',
    '',
  ];
}

function output(databaseUrl: string, schema: string): string[] {
  return [
    '[[outputs.postgresql]]',
    `  connection = ${str(databaseUrl)}`,
    `  schema = ${str(schema)}`,
    // The bench creates the table (same columns, key and indexes as ours); Telegraf only writes to it.
    '  timestamp_column_name = "event_time"',
    '  timestamp_column_type = "timestamp with time zone"',
    '',
  ];
}

function fields(plugin: string, list: Array<{ path: string; rename?: string; type: 'float' | 'string' }>): string[] {
  return list.flatMap((f) => [
    `    [[inputs.${plugin}.json_v2.field]]`,
    `      path = ${str(f.path)}`,
    ...(f.rename ? [`      rename = ${str(f.rename)}`] : []),
    `      type = ${str(f.type)}`,
    '      optional = true',
  ]);
}

/** Options of {@link mqttConfig}. */
export interface TelegrafMqttOptions {
  brokerUrl: string;
  topic: string;
  clientId: string;
  databaseUrl: string;
  schema: string;
  table: string;
  source: string;
  batchSize: number;
  flushInterval: string;
  maxUndelivered: number;
}

/**
 * `inputs.mqtt_consumer` (QoS 1, persistent session: PUBACK only once the output has written the
 * message) → `outputs.postgresql`, for the sensor readings of `src/simulator/payloads.ts`.
 */
export function mqttConfig(o: TelegrafMqttOptions): string {
  const u = new URL(o.brokerUrl);
  return [
    ...agent(o.batchSize, o.flushInterval),
    '[[inputs.mqtt_consumer]]',
    `  servers = [${str(`tcp://${u.hostname}:${u.port || 1883}`)}]`,
    `  topics = [${str(o.topic)}]`,
    '  topic_tag = ""',
    '  qos = 1',
    '  persistent_session = true',
    `  client_id = ${str(o.clientId)}`,
    `  max_undelivered_messages = ${o.maxUndelivered}`,
    '  data_format = "json_v2"',
    `  [inputs.mqtt_consumer.tags]`,
    `    source = ${str(o.source)}`,
    '  [[inputs.mqtt_consumer.json_v2]]',
    `    measurement_name = ${str(o.table)}`,
    '    timestamp_path = "ts"',
    '    timestamp_format = "2006-01-02T15:04:05Z07:00"',
    '    [[inputs.mqtt_consumer.json_v2.tag]]',
    '      path = "device_id"',
    ...fields('mqtt_consumer', [
      { path: 'temperature', type: 'float' },
      { path: 'humidity', type: 'float' },
      { path: 'light', type: 'float' },
      { path: 'co2', type: 'float' },
      { path: 'humidity_ratio', type: 'float' },
    ]),
    '',
    ...output(o.databaseUrl, o.schema),
  ].join('\n');
}

/** Options of {@link kafkaConfig}. */
export interface TelegrafKafkaOptions {
  brokers: string[];
  topic: string;
  group: string;
  databaseUrl: string;
  schema: string;
  table: string;
  source: string;
  batchSize: number;
  flushInterval: string;
  maxUndelivered: number;
}

/**
 * `inputs.kafka_consumer` (new consumer group from the oldest offset; offsets marked once the output
 * has written the message, committed by the client every second) → `outputs.postgresql`, for the
 * modem telemetry of `src/simulator/payloads.ts`.
 */
export function kafkaConfig(o: TelegrafKafkaOptions): string {
  return [
    ...agent(o.batchSize, o.flushInterval),
    '[[inputs.kafka_consumer]]',
    `  brokers = [${o.brokers.map(str).join(', ')}]`,
    `  topics = [${str(o.topic)}]`,
    `  consumer_group = ${str(o.group)}`,
    '  offset = "oldest"',
    '  kafka_version = "3.0.0"',
    `  max_undelivered_messages = ${o.maxUndelivered}`,
    '  data_format = "json_v2"',
    `  [inputs.kafka_consumer.tags]`,
    `    source = ${str(o.source)}`,
    '  [[inputs.kafka_consumer.json_v2]]',
    `    measurement_name = ${str(o.table)}`,
    '    timestamp_path = "event_time"',
    '    timestamp_format = "2006-01-02T15:04:05Z07:00"',
    '    [[inputs.kafka_consumer.json_v2.tag]]',
    '      path = "deviceid"',
    '      rename = "device_id"',
    '    [[inputs.kafka_consumer.json_v2.tag]]',
    '      path = "interface"',
    ...fields('kafka_consumer', [
      { path: 'model', type: 'string' },
      { path: 'interfacestatus', rename: 'interface_status', type: 'string' },
      { path: 'cpuusage', rename: 'cpu_usage', type: 'float' },
      { path: 'memoryusage', rename: 'memory_usage', type: 'float' },
    ]),
    '',
    ...output(o.databaseUrl, o.schema),
  ].join('\n');
}

/** Rows in a Telegraf debug line `[outputs.postgresql] Wrote batch of N metrics in …`, else 0. */
export function wroteBatch(line: string): number {
  const m = /\[outputs\.postgresql\] Wrote batch of (\d+) metrics/.exec(line);
  return m ? Number(m[1]) : 0;
}
