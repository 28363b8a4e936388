/**
 * The Kafka consumer writes a partition's batch while kafkajs already fetches the next one (the fetch
 * position runs ahead of what PostgreSQL holds). On the real broker and PostgreSQL: while its
 * transactions wait on a row lock with fetched batches queued behind them, a second member joins the
 * group; the rebalance interrupts the waiting work (its heartbeat fails), the queued batches are dropped
 * and read again from the positions Kafka and PostgreSQL hold, and every record lands exactly once,
 * with the stored positions at the end of every partition.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers } from '../src/config/env';
import { createTopic, highWatermarks, withAdmin } from '../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../src/ingest/kafka-consumer';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';

const pool = testPool();
const brokers = kafkaBrokers();
afterAll(async () => {
  await pool.end();
});

describe('Kafka consumer lanes', () => {
  it('a rebalance while transactions wait with batches queued behind them: nothing lost, nothing twice', async () => {
    const suffix = uniqueSuffix();
    const topic = `lanes-${suffix}`;
    const groupId = `lanes-${suffix}`;
    const source = `lanes-${suffix}`;
    await createTopic(brokers, topic, 4);
    const startTime = Date.UTC(2024, 0, 1);
    await produceTelemetry({ brokers, topic, count: 2_000, devices: 40, startTime });
    const member = (n: number) =>
      new KafkaBatchConsumer(pool, { brokers, groupId, topic, source, clientId: `lanes-${n}`, batchSize: 300, sessionTimeoutMs: 6_000 });
    const a = member(1);
    const b = member(2);
    const locker = await pool.connect();
    try {
      await a.start();
      await waitFor('first records', () => a.stats.committed >= 2_000, 60_000);
      // Hold every stored position: A's next transactions wait on the lock with batches queued behind them.
      await locker.query('BEGIN');
      await locker.query('SELECT * FROM ingest.kafka_offsets WHERE group_id = $1 FOR UPDATE', [groupId]);
      await produceTelemetry({ brokers, topic, count: 20_000, devices: 40, startTime, offset: 2_000 });
      await waitFor('batches fetched', () => a.stats.received > 4_000, 30_000);
      await b.start();
      await new Promise((r) => setTimeout(r, 3_000));
      await locker.query('COMMIT');
      const rows = async () =>
        Number(
          (await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [source])).rows[0]!.n,
        );
      await waitFor('every record', async () => (await rows()) === 22_000, 90_000);
      // Each member got a share after the rebalance, and the interrupted work was read again, not skipped.
      const high = await withAdmin(brokers, (admin) => highWatermarks(admin, topic));
      await waitFor(
        'stored positions at the end',
        async () => {
          const stored = await pool.query<{ partition: number; next_offset: string }>(
            'SELECT partition, next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2',
            [groupId, topic],
          );
          return stored.rows.length === 4 && stored.rows.every((r) => Number(r.next_offset) === high.get(r.partition));
        },
        30_000,
      );
      const inserted = a.stats.inserted + b.stats.inserted;
      expect(inserted).toBe(22_000);
      expect(b.stats.inserted).toBeGreaterThan(0);
      // Lineage: every batch row counts what it inserted; together exactly the records of the topic.
      const lineage = await pool.query<{ rows: string }>('SELECT sum(rows_inserted) AS rows FROM ingest.batches WHERE source = $1', [
        source,
      ]);
      expect(Number(lineage.rows[0]!.rows)).toBe(22_000);
      expect(await rows()).toBe(22_000);
    } finally {
      locker.release();
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 180_000);
});
