/**
 * Compressed Kafka batches on the real broker: telemetry produced by Kafka's own Java client
 * (`ConsoleProducer` from the stack's jars) with gzip, Snappy, LZ4 and Zstandard, and by this project's
 * producer with gzip and Snappy, is consumed by `KafkaBatchConsumer` and lands completely and exactly.
 * kafkajs alone reads only gzip: before `kafka-codecs.ts` a Snappy/LZ4/zstd topic stopped the consumer
 * with "… compression not implemented".
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, loadSettings } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../src/ingest/kafka-consumer';
import { encodeTelemetry } from '../src/simulator/payloads';
import { produceRaw, telemetryRecord, type ProducerCompression } from '../src/simulator/kafka-producer';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';

const pool = testPool();
const brokers = kafkaBrokers();
const N = 300;
const START = Date.UTC(2024, 4, 1);

afterAll(async () => {
  await pool.end();
});

const records = () =>
  Array.from({ length: N }, (_, i) => {
    const r = telemetryRecord(i, 7, START);
    return { key: r.deviceId, value: encodeTelemetry(r, 200), cpu: r.cpuUsage };
  });

/** Produces `key|value` lines with Kafka's Java console producer and the given compression codec. */
function produceWithJava(topic: string, codec: string): void {
  const libs = path.join(loadSettings().stackDir, 'kafka', 'libs', '*');
  const input = records()
    .map((r) => `${r.key}|${r.value}`)
    .join('\n');
  const r = spawnSync(
    'java',
    [
      '-cp',
      libs,
      'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      brokers.join(','),
      '--topic',
      topic,
      '--compression-codec',
      codec,
      '--property',
      'parse.key=true',
      '--property',
      'key.separator=|',
      '--batch-size',
      '100',
    ],
    { input: `${input}\n`, encoding: 'utf8', timeout: 60_000 },
  );
  expect(r.status, r.stderr).toBe(0);
}

/** Consumes `topic` into source `topic` and checks every record landed once with its values. */
async function consumeAndCheck(topic: string): Promise<void> {
  const c = new KafkaBatchConsumer(pool, { brokers, groupId: topic, topic, source: topic, kind: 'modem' });
  await c.start();
  try {
    await waitFor(`${N} records of ${topic}`, () => c.stats.committed >= N || c.error !== undefined, 30_000, 100).catch((e: unknown) => {
      throw new Error(`${String(e)}; committed ${c.stats.committed}; last error: ${c.lastError}`);
    });
    expect(c.error).toBeUndefined();
  } finally {
    await c.stop();
  }
  const r = await pool.query<{ n: string; cpu: number; dead: string }>(
    `SELECT count(*) AS n, sum(cpu_usage) AS cpu,
            (SELECT count(*) FROM ingest.dead_letters WHERE source = $1) AS dead
       FROM ingest.modem_telemetry WHERE source = $1`,
    [topic],
  );
  expect(Number(r.rows[0]!.n)).toBe(N);
  expect(Number(r.rows[0]!.dead)).toBe(0);
  expect(r.rows[0]!.cpu).toBeCloseTo(
    records().reduce((s, x) => s + x.cpu, 0),
    6,
  );
}

describe('compressed Kafka batches', () => {
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
    it(`reads ${codec} batches written by Kafka's Java producer`, { timeout: 90_000 }, async () => {
      const topic = `codec-java-${codec}-${uniqueSuffix()}`;
      await createTopic(brokers, topic, 2);
      produceWithJava(topic, codec);
      await consumeAndCheck(topic);
    });
  }

  for (const codec of ['gzip', 'snappy'] satisfies ProducerCompression[]) {
    it(`reads ${codec} batches written by the project's producer`, { timeout: 60_000 }, async () => {
      const topic = `codec-js-${codec}-${uniqueSuffix()}`;
      await createTopic(brokers, topic, 2);
      await produceRaw(
        brokers,
        topic,
        records().map(({ key, value }) => ({ key, value })),
        codec,
      );
      await consumeAndCheck(topic);
    });
  }
});
