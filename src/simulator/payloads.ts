/**
 * The payloads the project's own simulated devices send (sensor readings, modem telemetry, GPS fixes),
 * as the shipped source files `sources/sensor.yaml`, `sources/modem.yaml` and `sources/gps.yaml` read
 * them. This is the producer side only: ingest reads every payload through a source file.
 *
 * Wire formats (UTF-8 JSON, one record per message):
 * - sensor, MQTT topic `sensors/<source>/<device_id>`:
 *   `{"device_id":"office-1","ts":"2015-02-04T17:51:00Z","temperature":23.18,"humidity":27.27,"light":426,"co2":721.25,"humidity_ratio":0.0048}`
 * - modem, Kafka, keyed by `deviceid`:
 *   `{"model":"RUT955","deviceid":"modem-0001","interface":"wan","interfacestatus":"up","cpuusage":12.5,"memoryusage":40.1,"event_time":"2024-05-01T12:00:00.000Z"}`
 *   plus an optional `padding` string (to make ≈1 KB records)
 * - gps, MQTT topic `fleet/<source>/<device_id>`:
 *   `{"device_id":"car-1","seq":123,"ts":"2015-07-01T10:00:00Z","track_id":"1","lat":-10.93,"lon":-37.06}`
 */

/** One sensor reading as the simulated devices send it. Units: temperature °C, humidity % RH, light lux, co2 ppm, humidity_ratio kg/kg; null = not sent. */
export interface Reading {
  source: string;
  deviceId: string;
  /** Event time, epoch milliseconds (UTC). */
  eventTime: number;
  temperature: number | null;
  humidity: number | null;
  light: number | null;
  co2: number | null;
  humidityRatio: number | null;
}

/** Serialises a reading to its wire format (used by the device simulator). */
export function encodeReading(r: Omit<Reading, 'source'>): string {
  const o: Record<string, unknown> = { device_id: r.deviceId, ts: new Date(r.eventTime).toISOString() };
  if (r.temperature !== null) o.temperature = r.temperature;
  if (r.humidity !== null) o.humidity = r.humidity;
  if (r.light !== null) o.light = r.light;
  if (r.co2 !== null) o.co2 = r.co2;
  if (r.humidityRatio !== null) o.humidity_ratio = r.humidityRatio;
  return JSON.stringify(o);
}

/** One modem telemetry record as the simulated Kafka producer sends it. */
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

/** One GPS fix as the simulated fleet devices send it; latitude/longitude WGS84 decimal degrees. */
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
