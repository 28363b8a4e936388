/**
 * Reads the UCI "GPS Trajectories" (go!track) data set shipped in `data/uci-gps-trajectories`:
 * `go_track_trackspoints.csv` (fixes) joined with `go_track_tracks.csv` (trips) on `track_id = id`, so
 * every fix gets its device (`id_android`, 28 devices). Times in the file are local times of Aracaju
 * (America/Maceio, UTC−03:00 all year, no daylight saving in 2014–2016) with minute resolution; they are
 * converted to UTC instants. The point `id` is the fix's sequence number.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ROOT_DIR } from '../config/env';

/** Folder of the data set. */
export const GPS_DATA_DIR = path.join(ROOT_DIR, 'data', 'uci-gps-trajectories');
/** Offset of the file's local times from UTC, ms (UTC−03:00). */
export const GPS_LOCAL_OFFSET_MS = -3 * 3_600_000;

/** One GPS fix of a device. */
export interface GpsFix {
  /** `id_android` of the track. */
  deviceId: string;
  /** Point id: the fix's sequence number. */
  seq: number;
  /** Event time, epoch ms (UTC). */
  eventTime: number;
  trackId: string;
  /** WGS84 degrees. */
  lat: number;
  lon: number;
  /** 1 = car, 2 = bus (from the track). */
  carOrBus: number;
}

/** A line of either file that cannot be read. */
export class GpsFileError extends Error {
  override readonly name = 'GpsFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Parses `YYYY-MM-DD H:MM` (local, UTC−3) to epoch ms. @returns NaN when malformed. */
export function parseGpsTime(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s.trim());
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)) - GPS_LOCAL_OFFSET_MS;
}

/**
 * Loads every fix with its device, sorted by (event time, seq): the replay order.
 * @throws {@link GpsFileError} naming the file and line of a malformed value or an unknown track.
 */
export function loadGpsFixes(dir = GPS_DATA_DIR): GpsFix[] {
  const tracksFile = path.join(dir, 'go_track_tracks.csv');
  const pointsFile = path.join(dir, 'go_track_trackspoints.csv');
  const tracks = parse<Record<string, string>>(fs.readFileSync(tracksFile, 'utf8'), { columns: true, skip_empty_lines: true });
  const byTrack = new Map<string, { device: string; carOrBus: number }>();
  tracks.forEach((t, i) => {
    if (!t.id || t.id_android === undefined || t.id_android === '') throw new GpsFileError(tracksFile, i + 2, 'missing id or id_android');
    byTrack.set(t.id, { device: t.id_android, carOrBus: Number(t.car_or_bus) });
  });
  const points = parse<Record<string, string>>(fs.readFileSync(pointsFile, 'utf8'), { columns: true, skip_empty_lines: true });
  const fixes = points.map((p, i): GpsFix => {
    const line = i + 2;
    const track = byTrack.get(p.track_id ?? '');
    if (!track) throw new GpsFileError(pointsFile, line, `track_id ${JSON.stringify(p.track_id)} is not in ${path.basename(tracksFile)}`);
    const eventTime = parseGpsTime(p.time ?? '');
    const lat = Number(p.latitude);
    const lon = Number(p.longitude);
    const seq = Number(p.id);
    if (!Number.isFinite(eventTime)) throw new GpsFileError(pointsFile, line, `time ${JSON.stringify(p.time)} is not YYYY-MM-DD H:MM`);
    if (p.latitude === '' || p.longitude === '' || !Number.isFinite(lat) || !Number.isFinite(lon))
      throw new GpsFileError(pointsFile, line, 'latitude/longitude not numbers');
    if (!Number.isInteger(seq)) throw new GpsFileError(pointsFile, line, `id ${JSON.stringify(p.id)} is not an integer`);
    return { deviceId: track.device, seq, eventTime, trackId: p.track_id!, lat, lon, carOrBus: track.carOrBus };
  });
  return fixes.sort((a, b) => a.eventTime - b.eventTime || a.seq - b.seq);
}

/** The wire format of a fix (`fleet/<source>/<device>`): `{"device_id","seq","ts","track_id","lat","lon"}`. */
export function encodeGpsFix(f: GpsFix, shiftMs = 0): string {
  return JSON.stringify({
    device_id: f.deviceId,
    seq: f.seq,
    ts: new Date(f.eventTime + shiftMs).toISOString(),
    track_id: f.trackId,
    lat: f.lat,
    lon: f.lon,
  });
}
