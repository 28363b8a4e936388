/**
 * Kafka consumer positions kept in PostgreSQL (`ingest.kafka_offsets`): the next offset to consume per
 * (consumer group, topic, partition), written in the same transaction as the batch's rows. This row is
 * the truth; Kafka's committed offset is a copy for lag tools.
 */
import type { Pool, PoolClient } from '../db/pool';

/** Stored next offsets of `group` on `topic`, by partition. */
export async function storedOffsets(pool: Pool, group: string, topic: string): Promise<Map<number, number>> {
  const r = await pool.query<{ partition: number; next_offset: string }>(
    'SELECT partition, next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2',
    [group, topic],
  );
  return new Map(r.rows.map((x) => [x.partition, Number(x.next_offset)]));
}

/**
 * Locks the position row of (group, topic, partition) for the rest of the transaction, creating it at
 * offset 0 when missing. A second consumer of the same partition (during a rebalance) waits here until
 * the first commits, then sees the advanced position and skips what was written.
 * @returns the stored next offset
 */
export async function lockOffset(client: PoolClient, group: string, topic: string, partition: number): Promise<number> {
  await client.query(
    'INSERT INTO ingest.kafka_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING',
    [group, topic, partition],
  );
  const r = await client.query<{ next_offset: string }>(
    'SELECT next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE',
    [group, topic, partition],
  );
  return Number(r.rows[0]?.next_offset ?? 0);
}

/** Sets the next offset of a locked position row (see {@link lockOffset}). */
export async function storeOffset(client: PoolClient, group: string, topic: string, partition: number, nextOffset: number): Promise<void> {
  await client.query(
    'UPDATE ingest.kafka_offsets SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3',
    [group, topic, partition, nextOffset],
  );
}

/**
 * Pins where a stream that has never consumed starts: when (group, topic) has no stored position at all,
 * `positions` (partition → next offset, e.g. the high watermarks for "start from latest") are stored.
 * Once any position exists nothing is pinned again, so partitions added to the topic later start at
 * their beginning instead of being skipped, and a restart never skips what arrived in between.
 * Concurrent callers are harmless (`ON CONFLICT DO NOTHING`: the first position per partition stays).
 * @returns the partitions pinned now (empty when the stream had started before)
 */
export async function pinStartOffsets(pool: Pool, group: string, topic: string, positions: Map<number, number>): Promise<number[]> {
  if (!positions.size) return [];
  const r = await pool.query<{ partition: number }>(
    `INSERT INTO ingest.kafka_offsets (group_id, topic, partition, next_offset)
     SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS u(p, o)
      WHERE NOT EXISTS (SELECT 1 FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2)
     ON CONFLICT DO NOTHING RETURNING partition`,
    [group, topic, [...positions.keys()], [...positions.values()]],
  );
  return r.rows.map((x) => x.partition);
}
