/**
 * Kafka producers of the simulator: modem telemetry (the seed's producer: model, deviceid, interface,
 * interfacestatus, cpuusage, memoryusage, event_time; optional padding to ≈1 KB) at a given rate or as
 * fast as the broker acknowledges, the real sensor files replayed as records keyed by device, and raw
 * records (for malformed-input tests). Records are keyed by device, so one device's records stay in
 * order on one partition.
 */
// kafkajs is CommonJS; Node cannot list its enum exports for ESM, so they come off the default export.
import kafkajs, { type CompressionTypes, type Producer } from 'kafkajs';
import { encodeReading } from './payloads';
import { encodeTelemetry, type ModemTelemetry } from './payloads';
import { createKafka } from '../ingest/kafka-client';
import type { DeviceReading } from './sensor-files';

/** A record to produce. */
export interface KafkaRecord {
  key: string | null;
  value: Buffer | string;
}

/** Options shared by the producers. */
export interface ProduceOptions {
  brokers: string[];
  topic: string;
  /** Records per second, or `'max'` for as fast as the broker acknowledges. @default 'max' */
  rate?: number | 'max';
  /** Records per send request. @default 1000 */
  chunk?: number;
  /** Send requests in flight at once (`'max'` rate only). @default 4 */
  inflight?: number;
  onProgress?: (sent: number) => void;
  /** Stop early when this resolves true (checked between sends). */
  shouldStop?: () => boolean;
  /** Batch compression (`src/ingest/kafka-codecs.ts`). @default 'none' */
  compression?: ProducerCompression;
}

/** Compression a producer can write (consumers here also read LZ4 and Zstandard, see kafka-codecs.ts). */
export const PRODUCER_COMPRESSIONS = ['none', 'gzip', 'snappy'] as const;
/** One of {@link PRODUCER_COMPRESSIONS}. */
export type ProducerCompression = (typeof PRODUCER_COMPRESSIONS)[number];

const COMPRESSION_TYPES: Record<ProducerCompression, CompressionTypes> = {
  none: kafkajs.CompressionTypes.None,
  gzip: kafkajs.CompressionTypes.GZIP,
  snappy: kafkajs.CompressionTypes.Snappy,
};

/** What a producer sent. */
export interface ProduceResult {
  sent: number;
  elapsedMs: number;
  /** Records per second achieved. */
  rate: number;
}

/** Models of the simulated modem fleet. */
export const MODEM_MODELS = ['RUT955', 'RUT240', 'RUTX11', 'TRB140'];
const INTERFACES = ['wan', 'lte', 'wifi'];

/**
 * The `n`-th telemetry record of a deterministic fleet of `devices` modems: device `n % devices`,
 * event time `start + ⌊n / devices⌋ s`, so (device, interface, event_time) is unique per `n`.
 */
export function telemetryRecord(n: number, devices: number, start: number): Omit<ModemTelemetry, 'source'> {
  const d = n % devices;
  const step = Math.floor(n / devices);
  return {
    deviceId: `modem-${String(d).padStart(5, '0')}`,
    eventTime: start + step * 1000,
    model: MODEM_MODELS[d % MODEM_MODELS.length]!,
    interface: INTERFACES[d % INTERFACES.length]!,
    interfaceStatus: (step + d) % 17 === 0 ? 'down' : 'up',
    cpuUsage: ((n * 7919) % 1000) / 10,
    memoryUsage: ((n * 104729) % 1000) / 10,
  };
}

async function connect(brokers: string[]): Promise<Producer> {
  const producer = createKafka(brokers, `iot-pipelines-producer-${process.pid}`).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

/**
 * The partition of each record, as kafkajs's default partitioner (Java's murmur2 on the key) picks it,
 * from the topic's partitions.
 */
async function partitionerFor(brokers: string[], topic: string): Promise<(r: KafkaRecord) => number> {
  const admin = createKafka(brokers, `iot-pipelines-producer-admin-${process.pid}`).admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitionMetadata = topics[0]?.partitions ?? [];
    const pick = kafkajs.Partitioners.DefaultPartitioner();
    return (r) => pick({ topic, partitionMetadata, message: { key: r.key, value: r.value } });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** How long a send is tried again after kafkajs's own retries gave up on a retriable error, ms. */
export const SEND_RETRY_MS = 300_000;

/** True for a kafkajs error worth sending again: retriable itself, or retries exhausted on a retriable cause. */
function retriable(e: unknown): boolean {
  const err = e as { name?: string; retriable?: boolean; cause?: { retriable?: boolean } };
  return err.retriable === true || (err.name === 'KafkaJSNumberOfRetriesExceeded' && err.cause?.retriable === true);
}

/**
 * Runs `send` until the brokers acknowledge it. kafkajs retries a send 8 times
 * (src/ingest/kafka-client.ts); during a broker failover a send can exhaust them: a killed leader is
 * replaced only after the controller's session timeout (kafkajs keeps asking it until then), and an
 * acks=all produce waits for a killed follower until it leaves the in-sync replicas, so attempts can
 * also hit the 30 s request timeout. It is sent again (a record may then be in the topic twice;
 * consumers here dedupe by the record's key) for up to {@link SEND_RETRY_MS}.
 * @throws the last error when it is not retriable or the time is up.
 */
async function sendUntilAcked(send: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + SEND_RETRY_MS;
  for (;;) {
    try {
      await send();
      return;
    } catch (e) {
      if (!retriable(e) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/**
 * Sends records from `next(i)` (undefined = end) in chunks at the requested rate.
 * @throws when the broker refuses a send after kafkajs's retries.
 */
export async function produceRecords(o: ProduceOptions, next: (i: number) => KafkaRecord | undefined): Promise<ProduceResult> {
  const producer = await connect(o.brokers);
  const partitionOf = await partitionerFor(o.brokers, o.topic).catch(async (e: unknown) => {
    await producer.disconnect().catch(() => {});
    throw e;
  });
  const chunk = o.chunk ?? 1000;
  const started = Date.now();
  let sent = 0;
  let i = 0;
  let done = false;
  const take = (n: number): KafkaRecord[] => {
    const out: KafkaRecord[] = [];
    while (out.length < n) {
      const r = next(i);
      if (r === undefined) {
        done = true;
        break;
      }
      out.push(r);
      i++;
    }
    return out;
  };
  // One send per partition: a kafkajs send that spans partitions led by several brokers can lose the
  // records of one of them when its leader dies mid-send and a broker that already answered becomes the
  // new leader (the retry skips brokers that answered; tulios/kafkajs#1303, open). A send to one
  // partition has one leader, so its retry goes to the new leader. Found by test/cluster-failover.test.ts.
  const send = async (records: KafkaRecord[]) => {
    if (!records.length) return;
    const byPartition = new Map<number, Array<KafkaRecord & { partition: number }>>();
    for (const r of records) {
      const partition = partitionOf(r);
      const list = byPartition.get(partition) ?? [];
      list.push({ ...r, partition });
      byPartition.set(partition, list);
    }
    const compression = COMPRESSION_TYPES[o.compression ?? 'none'];
    await Promise.all(
      [...byPartition.values()].map((messages) => sendUntilAcked(() => producer.send({ topic: o.topic, acks: -1, compression, messages }))),
    );
    sent += records.length;
    o.onProgress?.(sent);
  };
  try {
    if (o.rate === undefined || o.rate === 'max') {
      const inflight = new Set<Promise<void>>();
      const limit = o.inflight ?? 4;
      while (!done && !o.shouldStop?.()) {
        const p = send(take(chunk)).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= limit) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    } else {
      const rate = o.rate;
      if (!(rate > 0)) throw new Error(`rate must be positive, got ${rate}`);
      const tickMs = 50;
      while (!done && !o.shouldStop?.()) {
        const due = Math.floor(((Date.now() - started + tickMs) / 1000) * rate) - i;
        if (due > 0) await send(take(Math.min(due, chunk * 4)));
        else await new Promise((r) => setTimeout(r, tickMs));
      }
    }
  } finally {
    await producer.disconnect().catch(() => {});
  }
  const elapsedMs = Date.now() - started;
  return { sent, elapsedMs, rate: Math.round((sent / Math.max(1, elapsedMs)) * 1000) };
}

/** Options of {@link produceTelemetry}. */
export interface TelemetryOptions extends ProduceOptions {
  /** Records to send. */
  count: number;
  /** Modems in the fleet. @default 1000 */
  devices?: number;
  /** Pad every record to at least this many bytes (e.g. 1024). @default 0 */
  padTo?: number;
  /** Event time of the first record, epoch ms. @default now − count/devices seconds (all in the past) */
  startTime?: number;
  /** Index of the first record (to continue an earlier run). @default 0 */
  offset?: number;
}

/** Publishes `count` deterministic modem telemetry records (see {@link telemetryRecord}). */
export async function produceTelemetry(o: TelemetryOptions): Promise<ProduceResult> {
  const devices = o.devices ?? 1000;
  const first = o.offset ?? 0;
  const start = o.startTime ?? Date.now() - Math.ceil((first + o.count) / devices) * 1000 - 60_000;
  return produceRecords(o, (i) => {
    if (i >= o.count) return undefined;
    const r = telemetryRecord(first + i, devices, start);
    return { key: r.deviceId, value: encodeTelemetry(r, o.padTo ?? 0) };
  });
}

/** Publishes sensor readings (a real data set) as records keyed by device, in event-time order. */
export async function produceReadings(o: ProduceOptions & { readings: DeviceReading[] }): Promise<ProduceResult> {
  return produceRecords(o, (i) => {
    const r = o.readings[i];
    return r ? { key: r.deviceId, value: encodeReading(r) } : undefined;
  });
}

/** Publishes the given records as they are (no rate limit). */
export async function produceRaw(
  brokers: string[],
  topic: string,
  records: KafkaRecord[],
  compression: ProducerCompression = 'none',
): Promise<ProduceResult> {
  return produceRecords({ brokers, topic, inflight: 1, compression }, (i) => records[i]);
}
