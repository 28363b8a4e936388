/**
 * Fleet telemetry simulator: replays GPS fixes (see gps-files.ts) as device messages over MQTT (QoS 1,
 * topic `fleet/<source>/<device>`) or Kafka (topic `fleet-<source>`, key = device id), in (event time,
 * seq) order, keeping their relative timing divided by a speed-up. Gaps between trips (days apart) can be
 * capped with `maxGapMs` so a replay of 16 months does not take months.
 */
import type { Producer } from 'kafkajs';
import { createKafka } from '../ingest/kafka-client';
import { mqttSecurity } from '../config/mqtt-security';
import mqtt from 'mqtt';
import { encodeGpsFix, type GpsFix } from './gps-files';

/** Options of {@link replayGps}. */
export interface GpsReplayOptions {
  /** Fixes in replay order (loadGpsFixes() sorts them). */
  fixes: readonly GpsFix[];
  /** Source name in the topic. */
  source: string;
  /** `mqtt` needs `mqttUrl`; `kafka` needs `kafkaBrokers`. @default 'mqtt' */
  transport?: 'mqtt' | 'kafka';
  mqttUrl?: string;
  kafkaBrokers?: string[];
  /** @default `fleet-<source>` */
  kafkaTopic?: string;
  /** Event-time ms per wall-clock ms, or `'max'` (as fast as acknowledgements allow). @default 'max' */
  speedup?: number | 'max';
  /** Longest event-time gap kept between two consecutive fixes, ms (longer gaps are shortened to it). @default no cap */
  maxGapMs?: number;
  /** Added to every event time, ms. @default 0 */
  shiftMs?: number;
  /** Called after each publish with the fix and the wall time it was sent. */
  onSent?: (f: GpsFix, sentAt: number) => void;
  /** Stops the replay early. */
  signal?: AbortSignal;
}

/** What a replay sent. */
export interface GpsReplayResult {
  sent: number;
  devices: number;
  wallMs: number;
}

/**
 * The wall-clock offset (ms from the start) at which each fix is due: relative event time divided by
 * the speed-up, after capping gaps at `maxGapMs`.
 */
export function replaySchedule(fixes: readonly GpsFix[], speedup: number, maxGapMs = Infinity): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < fixes.length; i++) {
    if (i > 0) t += Math.min(fixes[i]!.eventTime - fixes[i - 1]!.eventTime, maxGapMs);
    out.push(t / speedup);
  }
  return out;
}

/**
 * Publishes the fixes.
 * @throws when the broker cannot be reached or refuses a publish.
 */
export async function replayGps(o: GpsReplayOptions): Promise<GpsReplayResult> {
  const speedup = o.speedup ?? 'max';
  const due = speedup === 'max' ? undefined : replaySchedule(o.fixes, speedup, o.maxGapMs);
  const shift = o.shiftMs ?? 0;
  let publish: (f: GpsFix) => Promise<unknown>;
  let close: () => Promise<void>;
  if ((o.transport ?? 'mqtt') === 'mqtt') {
    if (!o.mqttUrl) throw new Error('replayGps: mqttUrl is required for transport mqtt');
    const client = await mqtt.connectAsync(o.mqttUrl, {
      ...mqttSecurity(),
      clientId: `fleet-sim-${o.source}-${process.pid}-${Date.now()}`,
      clean: true,
    });
    publish = (f) => client.publishAsync(`fleet/${o.source}/${f.deviceId}`, encodeGpsFix(f, shift), { qos: 1 });
    close = () => client.endAsync();
  } else {
    if (!o.kafkaBrokers?.length) throw new Error('replayGps: kafkaBrokers is required for transport kafka');
    const kafka = createKafka(o.kafkaBrokers, `fleet-sim-${o.source}`);
    const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const topic = o.kafkaTopic ?? `fleet-${o.source}`;
    publish = (f) => producer.send({ topic, acks: -1, messages: [{ key: f.deviceId, value: encodeGpsFix(f, shift) }] });
    close = () => producer.disconnect();
  }
  const t0 = Date.now();
  const inflight = new Set<Promise<unknown>>();
  let sent = 0;
  try {
    for (let i = 0; i < o.fixes.length; i++) {
      if (o.signal?.aborted) break;
      const f = o.fixes[i]!;
      if (due) {
        const wait = t0 + due[i]! - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        // Timed replays keep order strictly: one publish at a time.
        await publish(f);
      } else {
        const p = publish(f);
        inflight.add(p);
        void p.finally(() => inflight.delete(p)).catch(() => undefined);
        if (inflight.size >= 500) await Promise.race(inflight);
      }
      sent++;
      o.onSent?.(f, Date.now());
    }
    await Promise.all(inflight);
  } finally {
    await close();
  }
  return { sent, devices: new Set(o.fixes.slice(0, sent).map((f) => f.deviceId)).size, wallMs: Date.now() - t0 };
}
