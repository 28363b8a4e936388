/**
 * The GPS-fix message of fleet devices (stored in `ingest.gps_fixes`).
 *
 * Wire format (UTF-8 JSON): `{"device_id":"car-1","seq":123,"ts":"2015-07-01T10:00:00Z","track_id":"1","lat":-10.93,"lon":-37.06}`
 * where `seq` is the fix's point id (the device's own sequence number), `lat`/`lon` WGS84 decimal degrees.
 */
import { z } from 'zod';
import { checkEventTime, decodeJsonPayload, describeIssue, type Rejection } from './reading';

/** A validated GPS fix, ready to insert. */
export interface GpsFix {
  source: string;
  deviceId: string;
  seq: number;
  /** Event time, epoch ms (UTC). */
  eventTime: number;
  trackId: string;
  latitude: number;
  longitude: number;
}

const schema = z
  .object({
    device_id: z.string().min(1).max(200),
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    ts: z.string().min(1).max(64),
    track_id: z.union([z.string().max(200), z.number().int()]).optional(),
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
  })
  .strict();

/**
 * Validates one GPS fix (shared checks of {@link decodeJsonPayload} first).
 * @returns the fix, or the dead-letter code and a reason naming the field
 */
export function parseGpsFix(source: string, payload: Uint8Array, now = Date.now()): { ok: true; record: GpsFix } | Rejection {
  const decoded = decodeJsonPayload(payload);
  if (!decoded.ok) return decoded;
  const parsed = schema.safeParse(decoded.json);
  if (!parsed.success) return { ok: false, code: 'schema', reason: describeIssue(parsed.error) };
  const m = parsed.data;
  const time = checkEventTime('ts', m.ts, now);
  if (!time.ok) return time;
  return {
    ok: true,
    record: {
      source,
      deviceId: m.device_id,
      seq: m.seq,
      eventTime: time.eventTime,
      trackId: String(m.track_id ?? ''),
      latitude: m.lat,
      longitude: m.lon,
    },
  };
}

/** Serialises a fix to its wire format. */
export function encodeGpsFix(f: Omit<GpsFix, 'source'>): string {
  return JSON.stringify({
    device_id: f.deviceId,
    seq: f.seq,
    ts: new Date(f.eventTime).toISOString(),
    track_id: f.trackId,
    lat: f.latitude,
    lon: f.longitude,
  });
}
