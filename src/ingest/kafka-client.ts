/**
 * kafkajs clients and topic administration for the streams. kafkajs stays behind this module and
 * `kafka-consumer.ts`, so another client (e.g. @platformatic/kafka) can be swapped in.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaSecurity, type KafkaSecurity } from '../config/kafka-security';
import { registerKafkaCodecs } from './kafka-codecs';

/**
 * A kafkajs client for `brokers` with quiet logs (errors surface through the callers) that reads
 * Snappy, LZ4 and Zstandard batches too (`kafka-codecs.ts`), with TLS and SASL as the environment
 * says (`src/config/kafka-security.ts`).
 * @param security @default from the environment
 * @throws KafkaSecurityConfigError when the security variables are set wrongly.
 */
export function createKafka(brokers: string[], clientId: string, security: KafkaSecurity = kafkaSecurity()): Kafka {
  registerKafkaCodecs();
  return new Kafka({
    clientId,
    brokers,
    ...security,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
}

/** Runs `fn` with a connected admin client. */
export async function withAdmin<T>(brokers: string[], fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka(brokers, 'iot-pipelines-admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Creates `topic` with `partitions` partitions unless it exists.
 * @param replicationFactor copies of each partition; -1 takes the brokers' `default.replication.factor`
 *   (1 on the embedded single node, 3 on its three-broker cluster). @default -1
 * @returns true when created, false when it already existed (its partition count is left as is)
 */
export async function createTopic(brokers: string[], topic: string, partitions: number, replicationFactor = -1): Promise<boolean> {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  return withAdmin(brokers, async (admin) => {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: true });
    return created;
  });
}

/** High watermark (next offset to be written) per partition of `topic`. */
export async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
}

/** The names of the topics the cluster has. */
export async function listTopics(brokers: string[]): Promise<string[]> {
  return withAdmin(brokers, (admin) => admin.listTopics());
}
