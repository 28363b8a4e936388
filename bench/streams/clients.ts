/**
 * Same-run comparison of the two Kafka clients' raw consume rate (no PostgreSQL work) on one topic,
 * to decide whether @platformatic/kafka should replace kafkajs behind `StreamConsumer`
 * (src/ingest/kafka-consumer.ts). Both clients get a fresh consumer group, start from the earliest
 * offset, commit nothing and use the same fetch sizing as `KafkaBatchConsumer` (16 MiB per fetch,
 * 2 MiB per partition, 500 ms max wait). Each is timed from subscribe (kafkajs) / `consume()`
 * (@platformatic/kafka) — i.e. group join included, after the bootstrap connection is open — to the
 * `count`-th record.
 */
import { Consumer as PlatformaticConsumer } from '@platformatic/kafka';
import { createKafka } from '../../src/ingest/kafka-client';

/** One measured rate; structurally the same as `StreamsBenchRow` in main.ts (kept local to avoid an import cycle). */
export interface ClientBenchRow {
  /** Row label. */
  name: string;
  /** Records consumed. */
  messages: number;
  /** Elapsed seconds (ms precision). */
  seconds: number;
  /** Records per second, rounded. */
  perSecond: number;
}

/** Bound on each client's whole consume (join + read `count` records), in ms. */
export const CLIENT_CONSUME_TIMEOUT_MS = 60_000;

const FETCH = { maxBytes: 16 * 1024 * 1024, maxBytesPerPartition: 2 * 1024 * 1024, maxWaitMs: 500 } as const;

class ConsumeTimeoutError extends Error {
  constructor(
    readonly client: string,
    readonly received: number,
    readonly expected: number,
    readonly timeoutMs: number,
  ) {
    super(`${client}: ${received}/${expected} records after ${timeoutMs} ms`);
    this.name = 'ConsumeTimeoutError';
  }
}

function row(name: string, messages: number, ms: number): ClientBenchRow {
  return { name, messages, seconds: Math.round(ms) / 1000, perSecond: Math.round((messages / ms) * 1000) };
}

/** Resolves when `done` resolves, rejects with `onTimeout()` after `ms`; the timer never outlives the race. */
async function bounded<T>(done: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function kafkajsRaw(brokers: string[], topic: string, count: number): Promise<ClientBenchRow> {
  const groupId = `bench-raw-kafkajs-${Date.now()}`;
  const consumer = createKafka(brokers, groupId).consumer({
    groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 30_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: FETCH.maxWaitMs,
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
  });
  let received = 0;
  let finish: (ms: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  try {
    await consumer.connect();
    const t0 = performance.now();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: (p) => {
        received += p.batch.messages.length;
        p.resolveOffset(p.batch.lastOffset());
        if (received >= count) finish(performance.now() - t0);
        return Promise.resolve();
      },
    });
    const ms = await bounded(
      finished,
      CLIENT_CONSUME_TIMEOUT_MS,
      () => new ConsumeTimeoutError('kafkajs', received, count, CLIENT_CONSUME_TIMEOUT_MS),
    );
    return row('kafkajs raw consume (no DB)', received, ms);
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

async function platformaticRaw(brokers: string[], topic: string, count: number): Promise<ClientBenchRow> {
  const groupId = `bench-raw-platformatic-${Date.now()}`;
  const consumer = new PlatformaticConsumer({
    clientId: groupId,
    groupId,
    bootstrapBrokers: brokers,
    sessionTimeout: 10_000,
    rebalanceTimeout: 30_000,
    heartbeatInterval: 1_000,
    maxWaitTime: FETCH.maxWaitMs,
    maxBytes: FETCH.maxBytes,
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
  });
  let stream: Awaited<ReturnType<typeof consumer.consume>> | undefined;
  let received = 0;
  try {
    // Open the bootstrap connection first, as kafkajs' connect() does before its timer starts.
    await consumer.metadata({ topics: [topic] });
    const t0 = performance.now();
    const run = (async () => {
      stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
      for await (const message of stream) {
        void message;
        if (++received >= count) break;
      }
      return performance.now() - t0;
    })();
    run.catch(() => {}); // a late rejection after a timeout must not go unhandled
    const ms = await bounded(
      run,
      CLIENT_CONSUME_TIMEOUT_MS,
      () => new ConsumeTimeoutError('@platformatic/kafka', received, count, CLIENT_CONSUME_TIMEOUT_MS),
    );
    return row('@platformatic/kafka raw consume (no DB)', received, ms);
  } finally {
    if (stream && !stream.closed) await stream.close().catch(() => {});
    // force: leave the group even if a stream is still registered (e.g. after a timeout); errors ignored.
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
}

/**
 * Consumes the whole of `topic` (already holding `count` records) once with kafkajs (group,
 * `eachBatch`, `resolveOffset` per batch) and once with @platformatic/kafka (group, `consume()` from
 * earliest, async iteration of the message stream), each with a fresh group id and no commits.
 * Runs the two one after the other so they do not compete for the broker.
 * @param brokers bootstrap brokers, `host:port`
 * @param topic topic to read; it is not modified
 * @param count records to read per client (the topic's total)
 * @returns two rows: "kafkajs raw consume (no DB)", "@platformatic/kafka raw consume (no DB)"
 * @throws ConsumeTimeoutError when a client has not read `count` records within
 *   {@link CLIENT_CONSUME_TIMEOUT_MS}; both clients are always disconnected.
 */
export async function measureKafkaClients(brokers: string[], topic: string, count: number): Promise<ClientBenchRow[]> {
  const kafkajs = await kafkajsRaw(brokers, topic, count);
  const platformatic = await platformaticRaw(brokers, topic, count);
  return [kafkajs, platformatic];
}
