/**
 * The modem-telemetry record (the seed's Kafka producer): its JSON shape on the wire and validation.
 *
 * Wire format (UTF-8 JSON, one record per Kafka message, keyed by `deviceid`):
 * `{"model":"RUT955","deviceid":"modem-0001","interface":"wan","interfacestatus":"up","cpuusage":12.5,"memoryusage":40.1,"event_time":"2024-05-01T12:00:00.000Z"}`
 * plus an optional `padding` string (ignored; used to make ≈1 KB records). `event_time` is ISO-8601 or
 * epoch milliseconds; `cpuusage` and `memoryusage` are percentages (0–100).
 */
import { z } from 'zod';
import { checkEventTime, decodeJsonPayload, describeIssue, type Rejection } from './reading';

/** A validated telemetry record, ready to insert. */
export interface ModemTelemetry {
  source: string;
  deviceId: string;
  /** Event time, epoch ms (UTC). */
  eventTime: number;
  model: string;
  interface: string;
  interfaceStatus: string;
  /** % */
  cpuUsage: number;
  /** % */
  memoryUsage: number;
}

const percent = z.number().min(0).max(100);
const schema = z
  .object({
    model: z.string().min(1).max(100),
    deviceid: z.string().min(1).max(200),
    interface: z.string().min(1).max(100),
    interfacestatus: z.string().min(1).max(50),
    cpuusage: percent,
    memoryusage: percent,
    event_time: z.union([z.string().min(1).max(64), z.number()]),
    padding: z.string().optional(),
  })
  .strict();

/**
 * Validates one telemetry record (shared checks of {@link decodeJsonPayload} first).
 * @returns the record, or the dead-letter code and a reason naming the field
 */
export function parseTelemetry(source: string, payload: Uint8Array, now = Date.now()): { ok: true; record: ModemTelemetry } | Rejection {
  const decoded = decodeJsonPayload(payload);
  if (!decoded.ok) return decoded;
  const parsed = schema.safeParse(decoded.json);
  if (!parsed.success) return { ok: false, code: 'schema', reason: describeIssue(parsed.error) };
  const m = parsed.data;
  const time = checkEventTime('event_time', m.event_time, now, true);
  if (!time.ok) return time;
  return {
    ok: true,
    record: {
      source,
      deviceId: m.deviceid,
      eventTime: time.eventTime,
      model: m.model,
      interface: m.interface,
      interfaceStatus: m.interfacestatus,
      cpuUsage: m.cpuusage,
      memoryUsage: m.memoryusage,
    },
  };
}

/**
 * Serialises a record to its wire format.
 * @param padTo pad with a `padding` field until the JSON is at least this many bytes. @default 0 (no padding)
 */
export function encodeTelemetry(r: Omit<ModemTelemetry, 'source'>, padTo = 0): string {
  const o: Record<string, unknown> = {
    model: r.model,
    deviceid: r.deviceId,
    interface: r.interface,
    interfacestatus: r.interfaceStatus,
    cpuusage: r.cpuUsage,
    memoryusage: r.memoryUsage,
    event_time: new Date(r.eventTime).toISOString(),
  };
  const base = JSON.stringify(o);
  if (padTo <= base.length) return base;
  // `,"padding":""` adds 13 bytes.
  o.padding = 'x'.repeat(Math.max(0, padTo - base.length - 13));
  return JSON.stringify(o);
}
