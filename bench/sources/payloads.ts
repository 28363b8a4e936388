/**
 * What the sources benchmark sends, and the declared sources that read it (bench/sources/main.ts):
 *
 * - MQTT: the real UCI Occupancy readings, each as the sensor reading's JSON (`encodeReading`, the
 *   fixed `sensor` kind's wire format) or as one CSV line of {@link SENSOR_CSV_COLUMNS};
 * - Kafka: the streams bench's modem telemetry (`telemetryRecord`), each as the fixed `modem` kind's
 *   JSON (`encodeTelemetry`, unpadded: a `padding` field would be an undeclared field, kept in
 *   `attributes` by a declared source) or as one CSV line of {@link TELEMETRY_CSV_COLUMNS}.
 *
 * Each declared source maps the same fields into the same columns as the fixed kind: `json` reads
 * them as they are, `json-expr` adds one measurement computed by JSONata, `csv` reads the CSV line
 * with declared columns (no header row; every value is text, read as its declared type).
 */
import type { ModemTelemetry } from '../../src/simulator/payloads';
import type { DeviceReading } from '../../src/simulator/sensor-files';
import type { SourceDeclarationInput } from '../../src/sources/declaration';

/** Declared-source formats the benchmark compares with the fixed kinds. */
export const DECLARED_FORMATS = ['json', 'json-expr', 'csv'] as const;
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

/**
 * The declared source of the MQTT rows in `format`, named `name`, on topic `sensors/<name>/+` (the
 * topic the fixed `sensor` kind's consumer subscribes to; the unnamed level is not kept).
 */
export function sensorDeclaration(name: string, format: DeclaredFormat): SourceDeclarationInput {
  const measurements: SourceDeclarationInput['measurements'] = {
    temperature: { type: 'double', unit: 'degC' },
    humidity: { type: 'double', unit: 'percent' },
    light: { type: 'double', unit: 'lux' },
    co2: { type: 'double', unit: 'ppm' },
    humidity_ratio: { type: 'double', unit: 'kg/kg' },
  };
  if (format === 'json-expr') measurements.temperature_f = { expression: SENSOR_EXPRESSION, type: 'double', unit: 'degF' };
  return {
    name,
    description: `sources benchmark: sensor readings as ${format}`,
    mqtt: { topic: `sensors/${name}/+` },
    format: format === 'csv' ? { type: 'csv', header: false, columns: [...SENSOR_CSV_COLUMNS] } : 'json',
    device_id: { field: 'device_id' },
    event_time: { field: 'ts', format: 'iso8601' },
    measurements,
  };
}

/** The declared source of the Kafka rows in `format`, named `name`, reading `topic`: the telemetry fields (modem-evg style). */
export function telemetryDeclaration(name: string, format: DeclaredFormat, topic: string): SourceDeclarationInput {
  const measurements: SourceDeclarationInput['measurements'] = {
    model: { type: 'text' },
    interface: { type: 'text' },
    interface_status: { field: 'interfacestatus', type: 'text' },
    cpu_usage: { field: 'cpuusage', type: 'double', unit: 'percent', range: [0, 100] },
    memory_usage: { field: 'memoryusage', type: 'double', unit: 'percent', range: [0, 100] },
  };
  if (format === 'json-expr') measurements.memory_free = { expression: TELEMETRY_EXPRESSION, type: 'double', unit: 'percent' };
  return {
    name,
    description: `sources benchmark: modem telemetry as ${format}`,
    kafka: { topics: [topic], group: name },
    format: format === 'csv' ? { type: 'csv', header: false, columns: [...TELEMETRY_CSV_COLUMNS] } : 'json',
    device_id: { field: 'deviceid' },
    event_time: { field: 'event_time', format: 'iso8601' },
    measurements,
  };
}
