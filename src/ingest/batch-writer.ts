/**
 * Writes one batch of readings and dead letters to PostgreSQL in ONE transaction, idempotently:
 * readings are keyed by (source, device_id, event_time) and dead letters by a dedupe key, both with
 * `ON CONFLICT DO NOTHING`, so a redelivered batch changes nothing. The caller acknowledges the
 * messages to the broker only after this resolves.
 */
import type { Pool, PoolClient } from '../db/pool';
import type { DeadLetterCode, Reading } from './reading';

/** A message that could not be ingested. */
export interface DeadLetter {
  source: string;
  /** Where it came from, e.g. `{ mqttTopic, messageId }` or `{ topic, partition, offset }`. */
  origin: Record<string, unknown>;
  payload: Uint8Array;
  code: DeadLetterCode;
  reason: string;
  /** Natural key of the message so a redelivery is not dead-lettered twice. */
  dedupeKey: string;
}

/** Input of {@link writeBatch}. */
export interface Batch {
  source: string;
  /** Consumer identity (client id / group member), for lineage. */
  consumer: string;
  readings: Reading[];
  deadLetters: DeadLetter[];
}

/** What a committed batch did. */
export interface BatchResult {
  batchId: number;
  messages: number;
  inserted: number;
  /** Readings already present (redeliveries or repeated device sends). */
  duplicates: number;
  deadLettered: number;
}

/**
 * Inserts readings with one `INSERT … SELECT FROM unnest(…)` (a single round trip for any batch size)
 * and dead letters likewise, then records the batch in `ingest.batches`; all in one transaction.
 * Extra statements inside the same transaction can be added with `within` (e.g. storing Kafka offsets).
 * @throws the database error; the transaction is rolled back and nothing is written.
 */
export async function writeBatch(pool: Pool, batch: Batch, within?: (client: PoolClient) => Promise<void>): Promise<BatchResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: string }>("SELECT nextval('ingest.batches_id_seq') AS id");
    const batchId = Number(rows[0]?.id);
    const r = batch.readings;
    const inserted = r.length
      ? ((
          await client.query(
            `INSERT INTO ingest.sensor_readings
               (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio, batch_id)
             SELECT s, d, to_timestamp(t / 1000.0), te, hu, li, co, hr, $9
               FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[])
                 AS u(s, d, t, te, hu, li, co, hr)
             ON CONFLICT (source, device_id, event_time) DO NOTHING`,
            [
              r.map((x) => x.source),
              r.map((x) => x.deviceId),
              r.map((x) => x.eventTime),
              r.map((x) => x.temperature),
              r.map((x) => x.humidity),
              r.map((x) => x.light),
              r.map((x) => x.co2),
              r.map((x) => x.humidityRatio),
              batchId,
            ],
          )
        ).rowCount ?? 0)
      : 0;
    const d = batch.deadLetters;
    const deadLettered = d.length
      ? ((
          await client.query(
            `INSERT INTO ingest.dead_letters (source, origin, payload, error_code, reason, dedupe_key, batch_id)
             SELECT s, o::jsonb, p, c, r, k, $7
               FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[]) AS u(s, o, p, c, r, k)
             ON CONFLICT (dedupe_key) DO NOTHING`,
            [
              d.map((x) => x.source),
              d.map((x) => JSON.stringify(x.origin)),
              d.map((x) => Buffer.from(x.payload)),
              d.map((x) => x.code),
              d.map((x) => x.reason),
              d.map((x) => x.dedupeKey),
              batchId,
            ],
          )
        ).rowCount ?? 0)
      : 0;
    if (within) await within(client);
    let first = Infinity;
    let last = -Infinity;
    for (const x of r) {
      if (x.eventTime < first) first = x.eventTime;
      if (x.eventTime > last) last = x.eventTime;
    }
    const messages = r.length + d.length;
    await client.query(
      `INSERT INTO ingest.batches (id, source, consumer, messages, rows_inserted, duplicates, dead_letters, first_event, last_event)
       VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0), to_timestamp($9 / 1000.0))`,
      [
        batchId,
        batch.source,
        batch.consumer,
        messages,
        inserted,
        r.length - inserted,
        deadLettered,
        r.length ? first : null,
        r.length ? last : null,
      ],
    );
    await client.query('COMMIT');
    return { batchId, messages, inserted, duplicates: r.length - inserted, deadLettered };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
