/**
 * Simulators of the three producers the declared sources in `sources/` were written for, publishing
 * exactly the bytes those producers send (not this project's own reading format):
 * - `mqtt-sensor`: the original design's Python MQTT sensor, `json.dumps` of
 *   `{"sensor_id": "sensor_1", "timestamp": time.time(), "temperature": …, "humidity": …}` on topic
 *   `sensors/data` (QoS 1); the values are the real UCI Occupancy readings, the timestamps their event
 *   times as epoch seconds with a fraction.
 * - `kafka-sensor`: the original Kafka design's producer, `{"sensor_id": 1, "temperature": …}` on
 *   `sensor_data_topic`, no timestamp (the row gets the Kafka record time); values are the real UCI Air
 *   Quality temperatures.
 * - `modem`: modems reporting numbers as strings, memory in MB and their local wall-clock time
 *   (`yyyy-MM-dd HH:mm:ss`, Europe/Berlin) on `modem-events`, keyed by device id.
 */
import { DateTime } from 'luxon';
import { createTopic } from '../ingest/kafka-client';
import { produceRecords, telemetryRecord, type KafkaRecord } from './kafka-producer';
import { loadDataset } from './sensor-files';
import { publishRaw } from './sensor-replay';

/** The simulated producers. */
export const PRODUCERS = ['mqtt-sensor', 'kafka-sensor', 'modem'] as const;
/** One of {@link PRODUCERS}. */
export type ProducerName = (typeof PRODUCERS)[number];

/** Python's `json.dumps` separators (`", "` and `": "`), so the bytes are the producer's own. */
function pythonJson(o: Record<string, string | number>): string {
  return `{${Object.entries(o)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ')}}`;
}

/** The Python MQTT sensor's messages for the first `count` UCI Occupancy readings. */
export function mqttSensorMessages(count: number): Array<{ topic: string; payload: string; eventTime: number }> {
  return loadDataset('uci-occupancy')
    .filter((r) => r.temperature !== null && r.humidity !== null)
    .slice(0, count)
    .map((r) => ({
      topic: 'sensors/data',
      // time.time() has a fraction; the data set's minutes get one of a few ms, as a real clock would.
      payload: pythonJson({
        sensor_id: 'sensor_1',
        timestamp: r.eventTime / 1000 + 0.123,
        temperature: r.temperature!,
        humidity: r.humidity!,
      }),
      eventTime: r.eventTime + 123,
    }));
}

/** The Kafka producer's records for the first `count` UCI Air Quality temperatures (numeric sensor id, no time). */
export function kafkaSensorRecords(count: number, sensorId = 1): KafkaRecord[] {
  return loadDataset('uci-air-quality')
    .filter((r) => r.temperature !== null && r.temperature !== -200)
    .slice(0, count)
    .map((r) => ({ key: null, value: pythonJson({ sensor_id: sensorId, temperature: r.temperature! }) }));
}

/** The modem producer's records: `count` reports of `devices` modems, one per second of local time from `start`. */
export function modemRecords(count: number, devices = 20, start = Date.now() - count * 1000): KafkaRecord[] {
  return Array.from({ length: count }, (_, n) => {
    const t = telemetryRecord(n, devices, start);
    const deviceId = t.deviceId.replace('modem-', 'dvc');
    return {
      key: deviceId,
      value: JSON.stringify({
        model: t.model,
        deviceid: deviceId,
        interface: t.interface,
        interfacestatus: t.interfaceStatus === 'up' ? 'connected' : 'disconnected',
        cpuusage: String(Math.round(t.cpuUsage)),
        memoryusage: String(Math.round(256 + t.memoryUsage * 17.92)),
        event_time: DateTime.fromMillis(t.eventTime, { zone: 'Europe/Berlin' }).toFormat('yyyy-MM-dd HH:mm:ss'),
      }),
    };
  });
}

/** What a producer sent. */
export interface ProducerRun {
  producer: ProducerName;
  sent: number;
}

/**
 * Runs `producer` once with `count` messages.
 * @throws when the broker refuses the connection or a send
 */
export async function runProducer(
  producer: ProducerName,
  o: { count: number; mqttUrl: string; kafkaBrokers: string[] },
): Promise<ProducerRun> {
  if (producer === 'mqtt-sensor') {
    const messages = mqttSensorMessages(o.count);
    for (let i = 0; i < messages.length; i += 500) await publishRaw(o.mqttUrl, messages.slice(i, i + 500));
    return { producer, sent: messages.length };
  }
  const topic = producer === 'kafka-sensor' ? 'sensor_data_topic' : 'modem-events';
  const records = producer === 'kafka-sensor' ? kafkaSensorRecords(o.count) : modemRecords(o.count);
  await createTopic(o.kafkaBrokers, topic, 3).catch(() => undefined);
  const r = await produceRecords({ brokers: o.kafkaBrokers, topic }, (i) => records[i]);
  return { producer, sent: r.sent };
}
