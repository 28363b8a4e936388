/**
 * Valid records of a batch turned into what the batch writer sends: one binary COPY payload per record
 * table (`db/copy-binary.ts`), the per-device summaries for `ingest.device_status`, and the event-time
 * range for the lineage row. Pure CPU work with no I/O, so it can run on an encoder thread
 * (`encoder-pool.ts`) while the consumer's own thread fetches and writes.
 */
import { BinaryCopyWriter } from '../db/copy-binary';
import type { DeviceActivity } from './device-activity';
import type { GpsFix } from './gps';
import { validatePayloads, type MessageKind, type Rejected } from './kinds';
import type { Reading } from './reading';
import type { ModemTelemetry } from './telemetry';

/** Where rows are copied: a table, its columns in COPY order and its natural key (SQL text, quoted where needed). */
export interface TableTarget {
  /** Schema-qualified name. */
  table: string;
  columns: readonly string[];
  /** Columns of the unique key, for `ON CONFLICT`. */
  key: string;
  /** Name of the session-local staging table (an identifier). @default the table name with `.` → `_`, `_stage` appended */
  stage?: string;
}

/** A record table: its columns in COPY order, natural key, and how one record becomes a binary row. */
export interface RecordTable<T> extends TableTarget {
  write(w: BinaryCopyWriter, r: T, batchId: number): void;
}

/** `ingest.sensor_readings`, keyed by (source, device_id, event_time). */
export const SENSOR_READINGS: RecordTable<Reading> = {
  table: 'ingest.sensor_readings',
  columns: ['source', 'device_id', 'event_time', 'temperature', 'humidity', 'light', 'co2', 'humidity_ratio', 'batch_id'],
  key: 'source, device_id, event_time',
  write: (w, r, batchId) =>
    w
      .row(9)
      .text(r.source)
      .text(r.deviceId)
      .timestamptz(r.eventTime)
      .float8OrNull(r.temperature)
      .float8OrNull(r.humidity)
      .float8OrNull(r.light)
      .float8OrNull(r.co2)
      .float8OrNull(r.humidityRatio)
      .int8(batchId),
};

/** `ingest.modem_telemetry`, keyed by (source, device_id, interface, event_time). */
export const MODEM_TELEMETRY: RecordTable<ModemTelemetry> = {
  table: 'ingest.modem_telemetry',
  columns: ['source', 'device_id', 'interface', 'event_time', 'model', 'interface_status', 'cpu_usage', 'memory_usage', 'batch_id'],
  key: 'source, device_id, interface, event_time',
  write: (w, r, batchId) =>
    w
      .row(9)
      .text(r.source)
      .text(r.deviceId)
      .text(r.interface)
      .timestamptz(r.eventTime)
      .text(r.model)
      .text(r.interfaceStatus)
      .float8(r.cpuUsage)
      .float8(r.memoryUsage)
      .int8(batchId),
};

/** `ingest.gps_fixes`, keyed by (source, device_id, seq). */
export const GPS_FIXES: RecordTable<GpsFix> = {
  table: 'ingest.gps_fixes',
  columns: ['source', 'device_id', 'seq', 'event_time', 'track_id', 'latitude', 'longitude', 'batch_id'],
  key: 'source, device_id, seq',
  write: (w, r, batchId) =>
    w
      .row(8)
      .text(r.source)
      .text(r.deviceId)
      .int8(r.seq)
      .timestamptz(r.eventTime)
      .text(r.trackId)
      .float8(r.latitude)
      .float8(r.longitude)
      .int8(batchId),
};

/** The record tables by the kind of message they hold. */
export const RECORD_TABLES = { sensor: SENSOR_READINGS, modem: MODEM_TELEMETRY, gps: GPS_FIXES } as const;

/** A device summary with the kind of its newest record (which decides the shape of `latest`): a message kind, or `source:<name>` for a declared source. */
export type DeviceSummary = DeviceActivity & { kind: string };

/** The rows of one record table in the binary COPY format. */
export interface EncodedTable {
  /** A message kind (the table is `RECORD_TABLES[kind]`), or `source:<name>` with `target`. */
  kind: string;
  /** The table of a declared source (`sources/`); undefined for the built-in kinds. */
  target?: TableTarget;
  /** A whole `COPY … (FORMAT binary)` payload (header, rows, trailer) in the columns of the kind's table. */
  data: Uint8Array;
}

/** Valid records of a batch by table, as the batch writer takes them (`Batch`): a missing list is empty. */
export type RecordLists = { readings: Reading[]; telemetry?: ModemTelemetry[]; gpsFixes?: GpsFix[] };

/** Valid records of a batch, encoded (see {@link encodeRecords}). */
export interface EncodedRecords {
  /** One entry per record table with rows, in the order sensor, modem, gps. */
  tables: EncodedTable[];
  /** Valid records over all tables. */
  valid: number;
  /** One summary per device, sorted by (source, device_id): the lock order of the status upsert. */
  devices: DeviceSummary[];
  /** Event-time range of the records, epoch ms; null when there are none. */
  firstEvent: number | null;
  lastEvent: number | null;
}

interface AnyRecord {
  source: string;
  deviceId: string;
  eventTime: number;
}

function statusOf(kind: MessageKind, r: AnyRecord): Record<string, number | string | null> {
  if (kind === 'sensor') {
    const x = r as Reading;
    return { temperature: x.temperature, humidity: x.humidity, light: x.light, co2: x.co2, humidity_ratio: x.humidityRatio };
  }
  if (kind === 'modem') {
    const x = r as ModemTelemetry;
    return {
      model: x.model,
      interface: x.interface,
      interface_status: x.interfaceStatus,
      cpu_usage: x.cpuUsage,
      memory_usage: x.memoryUsage,
    };
  }
  const x = r as GpsFix;
  return { latitude: x.latitude, longitude: x.longitude, track_id: x.trackId, seq: x.seq };
}

/** Per-device summary of a batch: count, event-time range, and the newest record's values. */
export function summariseDevices(batch: RecordLists): DeviceSummary[] {
  // source → device → summary; the newest record is kept by reference and turned into `latest` once
  // per device at the end (this runs for every record of every batch: no per-record allocations).
  type Entry = { d: DeviceSummary; newest: AnyRecord };
  const bySource = new Map<string, Map<string, Entry>>();
  const add = (kind: MessageKind, records: AnyRecord[]) => {
    for (const r of records) {
      let devices = bySource.get(r.source);
      if (!devices) bySource.set(r.source, (devices = new Map<string, Entry>()));
      const e = devices.get(r.deviceId);
      if (!e) {
        devices.set(r.deviceId, {
          d: { source: r.source, deviceId: r.deviceId, count: 1, firstEventTime: r.eventTime, lastEventTime: r.eventTime, kind },
          newest: r,
        });
        continue;
      }
      const d = e.d;
      d.count++;
      if (r.eventTime < d.firstEventTime) d.firstEventTime = r.eventTime;
      if (r.eventTime >= d.lastEventTime) {
        d.lastEventTime = r.eventTime;
        d.kind = kind;
        e.newest = r;
      }
    }
  };
  add('sensor', batch.readings);
  add('modem', batch.telemetry ?? []);
  add('gps', batch.gpsFixes ?? []);
  const out: DeviceSummary[] = [];
  for (const devices of bySource.values()) {
    for (const { d, newest } of devices.values()) {
      d.latest = statusOf(d.kind as MessageKind, newest);
      out.push(d);
    }
  }
  // Stable lock order for concurrent upserts (avoids deadlocks between consumers).
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return out.sort((a, b) => cmp(a.source, b.source) || cmp(a.deviceId, b.deviceId));
}

function encodeTable<T>(t: RecordTable<T>, records: T[], batchId: number): Uint8Array {
  const w = new BinaryCopyWriter(records.length * 128);
  for (const r of records) t.write(w, r, batchId);
  return w.finish();
}

/**
 * Encodes the valid records of a batch.
 * @param batchId the `ingest.batches` id written into every row's `batch_id`
 */
export function encodeRecords(records: RecordLists, batchId: number): EncodedRecords {
  const r = records.readings;
  const t = records.telemetry ?? [];
  const g = records.gpsFixes ?? [];
  const tables: EncodedTable[] = [];
  if (r.length) tables.push({ kind: 'sensor', data: encodeTable(SENSOR_READINGS, r, batchId) });
  if (t.length) tables.push({ kind: 'modem', data: encodeTable(MODEM_TELEMETRY, t, batchId) });
  if (g.length) tables.push({ kind: 'gps', data: encodeTable(GPS_FIXES, g, batchId) });
  let first = Infinity;
  let last = -Infinity;
  for (const x of [r, t, g] as AnyRecord[][]) {
    for (const y of x) {
      if (y.eventTime < first) first = y.eventTime;
      if (y.eventTime > last) last = y.eventTime;
    }
  }
  const valid = r.length + t.length + g.length;
  return {
    tables,
    valid,
    devices: summariseDevices(records),
    firstEvent: valid ? first : null,
    lastEvent: valid ? last : null,
  };
}

/** What {@link validateAndEncode} gives back for one batch of raw payloads. */
export interface EncodedPayloads {
  records: EncodedRecords;
  /** Messages to dead-letter, by index into the payloads. */
  rejected: Rejected[];
}

/**
 * Validates raw payloads of one kind (`kinds.ts`) and encodes the valid records (see
 * {@link encodeRecords}); the caller builds dead letters from `rejected` with the messages' origins.
 * @param now clock for the future-timestamp check, epoch ms
 */
export function validateAndEncode(
  kind: MessageKind,
  source: string,
  payloads: Uint8Array[],
  now: number,
  batchId: number,
): EncodedPayloads {
  const { records, rejected } = validatePayloads(kind, source, payloads, now);
  return { records: encodeRecords(records, batchId), rejected };
}
