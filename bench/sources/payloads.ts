/**
 * What the sources benchmark sends, and the declared sources that read it (bench/sources/main.ts):
 *
 * - MQTT: the real UCI Occupancy readings, each as the sensor reading's JSON (`encodeReading`, the
 *   fixed `sensor` kind's wire format), as one CSV line of {@link SENSOR_CSV_COLUMNS}, or as one line
 *   of line protocol ({@link sensorInfluxLine});
 * - Kafka: the streams bench's modem telemetry (`telemetryRecord`), each as the fixed `modem` kind's
 *   JSON (`encodeTelemetry`, unpadded: a `padding` field would be an undeclared field, kept in
 *   `attributes` by a declared source), as one CSV line of {@link TELEMETRY_CSV_COLUMNS}, or as one
 *   line of line protocol ({@link telemetryInfluxLine}).
 *
 * Each declared source maps the same fields into the same columns as the fixed kind: `json` reads
 * them as they are, `json-expr` adds one measurement computed by JSONata, `csv` reads the CSV line
 * with declared columns (no header row; every value is text, read as its declared type), `influx`
 * reads the line as Telegraf's `outputs.mqtt` / `outputs.kafka` send one metric (one line a message or
 * record; the device and the text values as tags, the numbers as fields, ns timestamps), mapped as
 * `sources/telegraf-*.yaml` are, so each row also keeps the measurement name in `attributes`.
 *
 * MQTT only (Sparkplug B is an MQTT specification): `sparkplug` sends the same readings as one edge
 * node's Sparkplug B messages ({@link sensorSparkplugMessages}), encoded by Eclipse Tahu's
 * `sparkplug-payload`: an NBIRTH, then each device's first reading as its DBIRTH (names, aliases,
 * Double datatypes and values) and every later one as a DDATA by alias, `seq` counting every message.
 */
import { encodePayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { ModemTelemetry } from '../../src/simulator/payloads';
import type { DeviceReading } from '../../src/simulator/sensor-files';
import type { SourceDeclarationInput } from '../../src/sources/declaration';
import { serializeLineProtocol, type InfluxFieldValue } from '../../src/sources/formats/influx';

/** Declared-source formats the benchmark compares with the fixed kinds. */
export const DECLARED_FORMATS = ['json', 'json-expr', 'csv', 'influx'] as const;
/** One of {@link DECLARED_FORMATS}. */
export type DeclaredFormat = (typeof DECLARED_FORMATS)[number];

/** Columns of the MQTT CSV line, in order: the sensor reading's fields. */
export const SENSOR_CSV_COLUMNS = ['device_id', 'ts', 'temperature', 'humidity', 'light', 'co2', 'humidity_ratio'] as const;
/** Columns of the Kafka CSV line, in order: the telemetry record's fields. */
export const TELEMETRY_CSV_COLUMNS = [
  'model',
  'deviceid',
  'interface',
  'interfacestatus',
  'cpuusage',
  'memoryusage',
  'event_time',
] as const;

/** The JSONata field of the MQTT `json-expr` source: the temperature in °F. */
export const SENSOR_EXPRESSION = 'temperature * 9 / 5 + 32';
/** The JSONata field of the Kafka `json-expr` source: the free memory, %. */
export const TELEMETRY_EXPRESSION = '100 - memoryusage';

const cell = (v: number | null) => (v === null ? '' : String(v));

/** A reading as one CSV line of {@link SENSOR_CSV_COLUMNS} (an empty cell for a missing value). */
export function sensorCsvLine(r: DeviceReading): string {
  return [
    r.deviceId,
    new Date(r.eventTime).toISOString(),
    cell(r.temperature),
    cell(r.humidity),
    cell(r.light),
    cell(r.co2),
    cell(r.humidityRatio),
  ].join(',');
}

/** A telemetry record as one CSV line of {@link TELEMETRY_CSV_COLUMNS}. */
export function telemetryCsvLine(r: Omit<ModemTelemetry, 'source'>): string {
  return [r.model, r.deviceId, r.interface, r.interfaceStatus, r.cpuUsage, r.memoryUsage, new Date(r.eventTime).toISOString()].join(',');
}

/** Measurement names of the line protocol payloads. */
export const SENSOR_MEASUREMENT = 'sensor';
/** See {@link SENSOR_MEASUREMENT}. */
export const TELEMETRY_MEASUREMENT = 'modem';

/** The fields of `values` that are present (line protocol has no null: a missing value is no field). */
function present(values: Record<string, InfluxFieldValue | null>): Record<string, InfluxFieldValue> {
  return Object.fromEntries(Object.entries(values).filter((e): e is [string, InfluxFieldValue] => e[1] !== null));
}

/** A reading as one line of line protocol: `sensor,device_id=… temperature=…,… <ns>` (the project's serializer). */
export function sensorInfluxLine(r: DeviceReading): string {
  return serializeLineProtocol([
    {
      measurement: SENSOR_MEASUREMENT,
      tags: { device_id: r.deviceId },
      fields: present({
        temperature: r.temperature,
        humidity: r.humidity,
        light: r.light,
        co2: r.co2,
        humidity_ratio: r.humidityRatio,
      }),
      timestamp: r.eventTime,
    },
  ]);
}

/** A telemetry record as one line: `modem,deviceid=…,model=…,interface=… interfacestatus="…",cpuusage=…,memoryusage=… <ns>`. */
export function telemetryInfluxLine(r: Omit<ModemTelemetry, 'source'>): string {
  return serializeLineProtocol([
    {
      measurement: TELEMETRY_MEASUREMENT,
      tags: { deviceid: r.deviceId, model: r.model, interface: r.interface },
      fields: { interfacestatus: r.interfaceStatus, cpuusage: r.cpuUsage, memoryusage: r.memoryUsage },
      timestamp: r.eventTime,
    },
  ]);
}

/** How each format's source finds a field: plain names, or the line protocol record's paths. */
const influxPath = (part: 'tags' | 'fields', name: string) => `${part}.${name}`;

/** The `format:` of a bench source: CSV in `columns` order, line protocol of `measurement`, or JSON. */
function formatDeclaration(format: DeclaredFormat, columns: readonly string[], measurement: string): SourceDeclarationInput['format'] {
  if (format === 'csv') return { type: 'csv', header: false, columns: [...columns] };
  if (format === 'influx') return { type: 'influx', namepass: [measurement] };
  return 'json';
}

/**
 * The declared source of the MQTT rows in `format`, named `name`, on topic `sensors/<name>/+` (the
 * topic the fixed `sensor` kind's consumer subscribes to; the unnamed level is not kept).
 */
export function sensorDeclaration(name: string, format: DeclaredFormat): SourceDeclarationInput {
  const influx = format === 'influx';
  const field = (name: string) => (influx ? { field: influxPath('fields', name) } : {});
  const measurements: SourceDeclarationInput['measurements'] = {
    temperature: { ...field('temperature'), type: 'double', unit: 'degC' },
    humidity: { ...field('humidity'), type: 'double', unit: 'percent' },
    light: { ...field('light'), type: 'double', unit: 'lux' },
    co2: { ...field('co2'), type: 'double', unit: 'ppm' },
    humidity_ratio: { ...field('humidity_ratio'), type: 'double', unit: 'kg/kg' },
  };
  if (format === 'json-expr') measurements.temperature_f = { expression: SENSOR_EXPRESSION, type: 'double', unit: 'degF' };
  return {
    name,
    description: `sources benchmark: sensor readings as ${format}`,
    mqtt: { topic: `sensors/${name}/+` },
    format: formatDeclaration(format, SENSOR_CSV_COLUMNS, SENSOR_MEASUREMENT),
    device_id: { field: influx ? influxPath('tags', 'device_id') : 'device_id' },
    event_time: influx ? { field: 'timestamp', format: 'epoch_ms' } : { field: 'ts', format: 'iso8601' },
    measurements,
  };
}

/** The declared source of the Kafka rows in `format`, named `name`, reading `topic`: the telemetry fields (modem-evg style). */
export function telemetryDeclaration(name: string, format: DeclaredFormat, topic: string): SourceDeclarationInput {
  const influx = format === 'influx';
  const at = (part: 'tags' | 'fields', name: string) => (influx ? influxPath(part, name) : name);
  const measurements: SourceDeclarationInput['measurements'] = {
    model: { field: at('tags', 'model'), type: 'text' },
    interface: { field: at('tags', 'interface'), type: 'text' },
    interface_status: { field: at('fields', 'interfacestatus'), type: 'text' },
    cpu_usage: { field: at('fields', 'cpuusage'), type: 'double', unit: 'percent', range: [0, 100] },
    memory_usage: { field: at('fields', 'memoryusage'), type: 'double', unit: 'percent', range: [0, 100] },
  };
  if (format === 'json-expr') measurements.memory_free = { expression: TELEMETRY_EXPRESSION, type: 'double', unit: 'percent' };
  return {
    name,
    description: `sources benchmark: modem telemetry as ${format}`,
    kafka: { topics: [topic], group: name },
    format: formatDeclaration(format, TELEMETRY_CSV_COLUMNS, TELEMETRY_MEASUREMENT),
    device_id: { field: at('tags', 'deviceid') },
    event_time: influx ? { field: 'timestamp', format: 'epoch_ms' } : { field: 'event_time', format: 'iso8601' },
    measurements,
  };
}

/** The Sparkplug edge node the bench's readings come from. */
export const SPARKPLUG_EDGE_NODE = 'bench-edge';
/** The sensor reading's metrics, in alias order (alias = index + 1). */
const SPARKPLUG_METRICS = ['temperature', 'humidity', 'light', 'co2', 'humidity_ratio'] as const;

function sparkplugValues(r: DeviceReading): Array<number | null> {
  return [r.temperature, r.humidity, r.light, r.co2, r.humidityRatio];
}

/**
 * The readings as one edge node's Sparkplug B messages under `prefix` (`spBv1.0/<group_id>`), in
 * publish order: NBIRTH (bdSeq 0, seq 0), each device's first reading as its DBIRTH with every metric
 * named and aliased, every later reading as a DDATA with its metrics by alias only (null values left
 * out). The payload timestamp is the reading's time. The messages are {@link readings.length} + 1.
 */
export function sensorSparkplugMessages(readings: readonly DeviceReading[], prefix: string): Array<{ topic: string; payload: Uint8Array }> {
  let seq = 0;
  const next = () => {
    const s = seq;
    seq = (seq + 1) % 256;
    return s;
  };
  const first = readings[0]?.eventTime ?? 0;
  const out = [
    {
      topic: `${prefix}/NBIRTH/${SPARKPLUG_EDGE_NODE}`,
      payload: encodePayload({
        timestamp: first,
        seq: next(),
        metrics: [
          { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
          { name: 'bdSeq', type: 'UInt64', value: 0 },
        ],
      }),
    },
  ];
  const born = new Set<string>();
  for (const r of readings) {
    const values = sparkplugValues(r);
    if (!born.has(r.deviceId)) {
      born.add(r.deviceId);
      const metrics = SPARKPLUG_METRICS.flatMap((name, i) =>
        values[i] === null ? [] : [{ name, alias: i + 1, type: 'Double' as const, value: values[i]! }],
      );
      out.push({
        topic: `${prefix}/DBIRTH/${SPARKPLUG_EDGE_NODE}/${r.deviceId}`,
        payload: encodePayload({ timestamp: r.eventTime, seq: next(), metrics }),
      });
      continue;
    }
    const metrics = SPARKPLUG_METRICS.flatMap((_, i) =>
      values[i] === null ? [] : [{ alias: i + 1, type: 'Double' as const, value: values[i]! }],
    );
    out.push({
      topic: `${prefix}/DDATA/${SPARKPLUG_EDGE_NODE}/${r.deviceId}`,
      payload: encodePayload({ timestamp: r.eventTime, seq: next(), metrics }),
    });
  }
  return out;
}

/**
 * The declared source of the readings as Sparkplug B, named `name`, on `spBv1.0/<name>/#` (the group
 * is the source's name): the device is the Sparkplug device id, the time the payload's.
 */
export function sensorSparkplugDeclaration(name: string): SourceDeclarationInput {
  return {
    name,
    description: 'sources benchmark: sensor readings as Sparkplug B',
    mqtt: { topic: `spBv1.0/${name}/#` },
    format: { type: 'sparkplug_b', host_id: name },
    device_id: { field: 'device_id' },
    event_time: { field: 'timestamp', format: 'epoch_ms' },
    ignore: ['group_id', 'edge_node_id', 'device_path', 'message_type', 'seq', 'is_historical'],
    measurements: Object.fromEntries(
      SPARKPLUG_METRICS.map((m) => [
        m,
        {
          type: 'double' as const,
          unit: { temperature: 'degC', humidity: 'percent', light: 'lux', co2: 'ppm', humidity_ratio: 'kg/kg' }[m],
        },
      ]),
    ),
  };
}
