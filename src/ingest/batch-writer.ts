/**
 * Writes one batch of records and dead letters to PostgreSQL in ONE transaction, idempotently: rows
 * are keyed by their source's natural key (`key:` of the source file), dead letters by a dedupe key,
 * all with `ON CONFLICT DO NOTHING` (record rows go to PostgreSQL in the binary COPY format, straight into the
 * table inside a savepoint when the caller expects no duplicates, see `EncodedBatch.assumeNew`), so a
 * redelivered batch changes nothing. The latest status per device is
 * upserted in the same transaction (a newer event time wins; older, out-of-order records never
 * overwrite it). The caller acknowledges the messages to the broker only after this resolves.
 */
import { copyBinary } from '../db/copy-binary';
import type { Pool, PoolClient } from '../db/pool';
import type { DeviceActivity } from './device-activity';
import type { DeadLetterCode } from './payload';
import type { EncodedRecords, TableTarget } from './record-encoding';

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
  /** The source file the stream maps by, `source:<name>`, so the letter can be validated again later (`redrive.ts`). */
  kind?: `source:${string}`;
}

/** Input of {@link writeBatch} and {@link insertEncoded}: one batch, its records already encoded (`CompiledSource.encode`). */
export interface EncodedBatch {
  source: string;
  /** Consumer identity (client id / group member), for lineage. */
  consumer: string;
  /** The `ingest.batches` id the rows were encoded with (see {@link nextBatchIds}). */
  batchId: number;
  records: EncodedRecords;
  deadLetters: DeadLetter[];
  /** Upsert the latest status of every device in the batch into `ingest.device_status`. @default true */
  deviceStatus?: boolean;
  /**
   * Messages of the batch that were skipped before writing because they were already committed (Kafka
   * offsets below the stored position); counted as duplicates in the lineage row. @default 0
   */
  skipped?: number;
  /**
   * Expect no duplicates: record rows are copied straight into their table (no staging table and no
   * `ON CONFLICT`: about a third less PostgreSQL CPU per row, measured in `npm run bench`) inside a
   * savepoint; a unique violation rolls back to the savepoint and the rows go through the staging table
   * with `ON CONFLICT DO NOTHING`, so the result is the same either way. Pass true while recent
   * batches had no duplicates. @default false
   */
  assumeNew?: boolean;
}

/** What a committed batch did. */
export interface BatchResult {
  batchId: number;
  /** Messages written (valid records + dead letters), not counting `skipped`. */
  messages: number;
  /** Rows inserted over all record tables. */
  inserted: number;
  /** Messages skipped before writing (see `EncodedBatch.skipped`). */
  skipped: number;
  /** Records already present (redeliveries or repeated device sends) plus skipped messages. */
  duplicates: number;
  deadLettered: number;
  /** Dead letters written (not already stored), by error code. */
  deadLettersByCode: Record<string, number>;
  /** One summary per device of the batch, for a {@link DeviceActivitySink}. */
  devices: DeviceActivity[];
}

/**
 * Runs `fn` in a transaction on one pooled connection.
 * @throws the error of `fn` or of COMMIT, after rolling back.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const r = await fn(client);
    await client.query('COMMIT');
    return r;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw e;
  } finally {
    // A connection that failed mid-transaction is not returned to the pool.
    client.release(broken);
  }
}

/**
 * A `float8[]` array literal (`{1.5,NULL,2}`) for a parameter. node-postgres would quote and
 * regex-escape every element; numbers need neither.
 */
function numberArray(values: Array<number | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += (i ? ',' : '') + (v === null || v === undefined ? 'NULL' : String(v));
  }
  return out + '}';
}

/** PostgreSQL's unique_violation (SQLSTATE 23505). */
const UNIQUE_VIOLATION = '23505';

/**
 * Writes the binary COPY payload `data` (`record-encoding.ts`) into `t` and returns the rows inserted.
 * With `assumeNew`, the rows are copied straight into the table inside a savepoint; on a unique
 * violation (a redelivered or repeated record) it rolls back to the savepoint.
 * Otherwise, or after that, they are copied into a session-local staging table (`pg_temp`, emptied at
 * commit) and moved with `INSERT … SELECT … ON CONFLICT DO NOTHING`, which also drops duplicates
 * inside the batch.
 */
async function insertRecords(client: PoolClient, t: TableTarget, data: Uint8Array, assumeNew: boolean): Promise<number> {
  if (assumeNew) {
    await client.query('SAVEPOINT insert_rows');
    try {
      const n = await copyBinary(client, t.table, t.columns, data);
      await client.query('RELEASE SAVEPOINT insert_rows');
      return n;
    } catch (e) {
      if ((e as { code?: unknown }).code !== UNIQUE_VIOLATION) throw e;
      await client.query('ROLLBACK TO SAVEPOINT insert_rows');
    }
  }
  const name = t.stage ?? `${t.table.replace('.', '_')}_stage`;
  const stage = `pg_temp.${name}`;
  const columns = t.columns.join(', ');
  // NOTICE "already exists, skipping" on later calls is expected; the table lives as long as the connection.
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${name} (LIKE ${t.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
  await client.query(`TRUNCATE ${stage}`);
  await copyBinary(client, stage, t.columns, data);
  const res = await client.query(`INSERT INTO ${t.table} (${columns}) SELECT ${columns} FROM ${stage} ON CONFLICT (${t.key}) DO NOTHING`);
  return res.rowCount ?? 0;
}

/**
 * Draws `n` ids for `ingest.batches` from its sequence. Called on the pool (sequences are not
 * transactional), it lets records be encoded before their transaction begins; an id whose transaction
 * rolls back is reused by its retry or left unused (sequences have gaps anyway).
 */
export async function nextBatchIds(db: Pool | PoolClient, n: number): Promise<number[]> {
  const { rows } = await db.query<{ id: string }>("SELECT nextval('ingest.batches_id_seq') AS id FROM generate_series(1, $1)", [n]);
  return rows.map((r) => Number(r.id));
}

/**
 * Writes `batch` on `client`, which must be inside a transaction (see {@link withTransaction}): record
 * rows (binary COPY, one round trip per table for any batch size, see `insertRecords`), dead letters,
 * device status upserts and the lineage row in `ingest.batches`.
 */
export async function insertEncoded(client: PoolClient, batch: EncodedBatch): Promise<BatchResult> {
  const { batchId, records } = batch;
  const assumeNew = batch.assumeNew ?? false;
  let inserted = 0;
  for (const t of records.tables) inserted += await insertRecords(client, t.target, t.data, assumeNew);
  const d = batch.deadLetters;
  const deadLettersByCode: Record<string, number> = {};
  const deadLettered = d.length
    ? (
        await client.query<{ error_code: string; n: string }>(
          `WITH written AS (
             INSERT INTO ingest.dead_letters (source, origin, payload, error_code, reason, dedupe_key, kind, batch_id)
             SELECT s, o::jsonb, p, c, r, k, ki, $8
               FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(s, o, p, c, r, k, ki)
             ON CONFLICT (dedupe_key) DO NOTHING
             RETURNING error_code)
           SELECT error_code, count(*) AS n FROM written GROUP BY error_code`,
          [
            d.map((x) => x.source),
            d.map((x) => JSON.stringify(x.origin)),
            d.map((x) => Buffer.from(x.payload)),
            d.map((x) => x.code),
            d.map((x) => x.reason),
            d.map((x) => x.dedupeKey),
            d.map((x) => x.kind ?? null),
            batchId,
          ],
        )
      ).rows.reduce((sum, r) => {
        deadLettersByCode[r.error_code] = Number(r.n);
        return sum + Number(r.n);
      }, 0)
    : 0;
  const devices = records.devices;
  if (devices.length && batch.deviceStatus !== false) {
    await client.query(
      `INSERT INTO ingest.device_status AS ds (source, device_id, kind, event_time, status)
       SELECT s, d, k, to_timestamp(t / 1000.0), st::jsonb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[]) AS u(s, d, k, t, st)
       ON CONFLICT (source, device_id) DO UPDATE
         SET kind = EXCLUDED.kind, event_time = EXCLUDED.event_time, status = EXCLUDED.status, updated_at = now()
         WHERE ds.event_time < EXCLUDED.event_time`,
      [
        devices.map((x) => x.source),
        devices.map((x) => x.deviceId),
        devices.map((x) => x.kind),
        numberArray(devices.map((x) => x.lastEventTime)),
        devices.map((x) => JSON.stringify(x.latest ?? {})),
      ],
    );
  }
  const valid = records.valid;
  const skipped = batch.skipped ?? 0;
  const messages = valid + d.length;
  await client.query(
    `INSERT INTO ingest.batches (id, source, consumer, messages, rows_inserted, duplicates, dead_letters, first_event, last_event)
     VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0), to_timestamp($9 / 1000.0))`,
    [
      batchId,
      batch.source,
      batch.consumer,
      messages + skipped,
      inserted,
      valid - inserted + skipped,
      deadLettered,
      records.firstEvent,
      records.lastEvent,
    ],
  );
  return {
    batchId,
    messages,
    inserted,
    skipped,
    duplicates: valid - inserted + skipped,
    deadLettered,
    deadLettersByCode,
    devices: devices.map(({ kind: _kind, ...rest }) => rest),
  };
}

/**
 * Writes `batch` in one transaction (see {@link insertEncoded}). Extra statements inside the same
 * transaction can be added with `within` (e.g. storing Kafka offsets).
 * @throws the database error; the transaction is rolled back and nothing is written.
 */
export async function writeBatch(pool: Pool, batch: EncodedBatch, within?: (client: PoolClient) => Promise<void>): Promise<BatchResult> {
  return withTransaction(pool, async (client) => {
    const result = await insertEncoded(client, batch);
    if (within) await within(client);
    return result;
  });
}
