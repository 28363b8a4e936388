/**
 * Device simulator: publishes readings over MQTT (QoS 1) to `sensors/<source>/<device>` keeping their
 * order and relative timing at a chosen speed-up, or as fast as the broker acknowledges.
 */
import { mqttSecurity } from '../config/mqtt-security';
import mqtt from 'mqtt';
import { encodeReading } from './payloads';
import type { DeviceReading } from './sensor-files';

/** Ten minutes in ms: shifts are whole multiples so 10-minute windows keep their contents. */
const WINDOW_MS = 10 * 60 * 1000;

/** Options of {@link replayReadings}. */
export interface ReplayOptions {
  url: string;
  source: string;
  readings: DeviceReading[];
  /** Event-time seconds per wall-clock second, or `'max'` for as fast as acknowledgements allow. @default 'max' */
  speedup?: number | 'max';
  /**
   * Shift event times so the last reading falls just before `now` (by a whole number of 10-minute
   * windows, so windows keep their contents). @default false
   */
  shiftToNow?: boolean;
  /** QoS of the publishes. @default 1 */
  qos?: 0 | 1;
  /** Publishes in flight at once when `speedup` is `'max'`. @default 500 */
  window?: number;
  onProgress?: (sent: number, total: number) => void;
  clientId?: string;
}

/** What a replay sent. */
export interface ReplayResult {
  sent: number;
  /** Shift applied to event times, ms. */
  shiftMs: number;
  firstEventTime: number;
  lastEventTime: number;
}

/** Computes the event-time shift that makes the last reading land in the current 10-minute window's predecessor. */
export function shiftToNow(lastEventTime: number, now = Date.now()): number {
  return Math.floor((now - lastEventTime) / WINDOW_MS) * WINDOW_MS;
}

/**
 * Publishes `readings` in event-time order.
 * @throws when the broker cannot be reached or refuses a publish.
 */
export async function replayReadings(o: ReplayOptions): Promise<ReplayResult> {
  const readings = o.readings;
  if (!readings.length) return { sent: 0, shiftMs: 0, firstEventTime: NaN, lastEventTime: NaN };
  const first = readings[0]!.eventTime;
  const last = readings[readings.length - 1]!.eventTime;
  const shift = o.shiftToNow ? shiftToNow(last) : 0;
  const qos = o.qos ?? 1;
  const client = await mqtt.connectAsync(o.url, {
    ...mqttSecurity(),
    clientId: o.clientId ?? `simulator-${o.source}-${process.pid}`,
    clean: true,
  });
  const speedup = o.speedup ?? 'max';
  const inflight = new Set<Promise<unknown>>();
  const limit = o.window ?? 500;
  const t0 = Date.now();
  let sent = 0;
  try {
    for (const r of readings) {
      if (speedup !== 'max') {
        const due = t0 + (r.eventTime - first) / speedup;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      const topic = `sensors/${o.source}/${r.deviceId}`;
      const p = client.publishAsync(topic, encodeReading({ ...r, eventTime: r.eventTime + shift }), { qos });
      inflight.add(p);
      void p.finally(() => inflight.delete(p)).catch(() => undefined);
      if (inflight.size >= limit) await Promise.race(inflight);
      sent++;
      if (sent % 1000 === 0) o.onProgress?.(sent, readings.length);
    }
    await Promise.all(inflight);
    o.onProgress?.(sent, readings.length);
  } finally {
    await client.endAsync();
  }
  return { sent, shiftMs: shift, firstEventTime: first + shift, lastEventTime: last + shift };
}

/** Publishes raw payloads (e.g. malformed ones for dead-letter tests) with QoS 1. */
export async function publishRaw(url: string, messages: Array<{ topic: string; payload: Buffer | string }>): Promise<void> {
  const client = await mqtt.connectAsync(url, { ...mqttSecurity(), clientId: `simulator-raw-${process.pid}-${Date.now()}`, clean: true });
  try {
    await Promise.all(messages.map((m) => client.publishAsync(m.topic, m.payload, { qos: 1 })));
  } finally {
    await client.endAsync();
  }
}
