/**
 * Dead letters, listed and re-driven (what Kafka Connect's DLQ and Firehose's error prefix leave to the
 * operator): once the cause is fixed — a device clock that ran ahead, a validation rule that was too
 * strict — the dead letters are validated again with the current code, and the ones that now pass are
 * written through the batch writer exactly like live messages (same natural keys, `ON CONFLICT`, device
 * status, a lineage row in `ingest.batches` with consumer `redrive`). Each re-driven letter keeps its
 * row, marked with `redriven_at` and `redriven_batch_id`, so nothing is lost and a second re-drive does
 * not write it again. Letters that still fail stay as they are and are reported with today's reason.
 *
 * Every letter is mapped through the source file it was rejected by, as the file is now (`sources`), so
 * fixing a source file recovers what it rejected: its kind `source:<name>` (recorded since migration 060;
 * the built-in kinds `sensor`, `modem` and `gps` became the shipped files of those names in migration
 * 090), else the caller's `kind`, else an MQTT origin topic (`sensors/…` sensor, `modems/…` modem,
 * `fleet/…` gps). A template's rows take the letter's source; a letter that came over Kafka is mapped
 * as that topic's stream would map it (`bind.ts`). Its arrival time is the letter's `received_at` when
 * the payload has no event time.
 */
import type { Pool, PoolClient } from '../db/pool';
import { bindToStream } from '../sources/bind';
import { findSource, loadDeclaration, SourceFileError, type LoadedSource } from '../sources/load';
import { applyTable } from '../sources/table';
import { insertEncoded, nextBatchIds, withTransaction } from './batch-writer';
import { mqttPayloadHash, sourceFromTopic } from './mqtt-consumer';

/** The kinds of message streams carried before they became the shipped source files of the same names. */
export const BUILT_IN_KINDS = ['sensor', 'modem', 'gps'] as const;

/** Which dead letters to take. Filters combine with AND; re-driven letters are never taken again. */
export interface DeadLetterFilter {
  ids?: number[];
  source?: string;
  /** Error code, e.g. `future_timestamp`, `schema`. */
  code?: string;
  /** Letters that arrived at or after this time. */
  since?: Date;
}

/** A dead letter as listed. */
export interface DeadLetterRow {
  id: number;
  source: string;
  /** The source file that rejected it, `source:<name>`, or null (letters from before kinds were recorded). */
  kind: string | null;
  errorCode: string;
  reason: string;
  origin: Record<string, unknown>;
  payload: Buffer;
  receivedAt: Date;
  redrivenAt: Date | null;
  redrivenBatchId: number | null;
}

/** Options of {@link redriveDeadLetters}. */
export interface RedriveOptions extends DeadLetterFilter {
  /** Source file (by name) for letters that carry no kind and whose origin does not tell. */
  kind?: string;
  /** Most letters taken in one call (oldest first). @default every matching letter */
  limit?: number;
  /**
   * Letters per transaction: each page is locked, validated, written and marked in a transaction of
   * its own, so a large re-drive holds no long transaction and a failure keeps the pages before it.
   * @default {@link REDRIVE_PAGE_SIZE}
   */
  pageSize?: number;
  /** Validate and count, then roll back: nothing is written or marked. @default false */
  dryRun?: boolean;
  /** Clock for the future-timestamp check, epoch ms. @default Date.now() */
  now?: number;
  /**
   * The source files as they are now, by name; their tables must be up to date (`applyTable`). A letter
   * whose source file is not here is reported in `unknownKind`.
   * @default {@link resolveRedriveSources}: the files the open letters name, found in `SOURCES_DIR`, then
   *   the shipped ones, their tables brought up to date
   */
  sources?: Map<string, LoadedSource>;
}

/** What a re-drive did (or, with `dryRun`, would do). */
export interface RedriveResult {
  /** Open letters matching the filter (at most `limit`). */
  examined: number;
  /** Transactions (pages) it took; each committed (or, with `dryRun`, rolled back) on its own. */
  pages: number;
  /** Letters that now pass validation and were written (or would be). */
  redriven: number;
  /** Rows inserted by them (fewer than `redriven` when some records were already present). */
  inserted: number;
  /** Letters that still fail, with today's code and reason (at most 50 listed). */
  stillInvalid: Array<{ id: number; code: string; reason: string }>;
  stillInvalidCount: number;
  /** Letters whose kind is unknown: pass `kind`. */
  unknownKind: number[];
  /** Lineage rows written, one per (source, kind); empty for a dry run. */
  batchIds: number[];
  dryRun: boolean;
}

/** Most still-invalid letters listed in a {@link RedriveResult}. */
export const MAX_LISTED_INVALID = 50;

/** Letters per re-drive transaction. @default 1000 */
export const REDRIVE_PAGE_SIZE = 1000;

/** A letter's kind from its MQTT origin topic, when the topic says. */
export function kindFromOrigin(origin: Record<string, unknown>): (typeof BUILT_IN_KINDS)[number] | undefined {
  const topic = origin.mqttTopic;
  if (typeof topic !== 'string') return undefined;
  const prefix = topic.split('/')[0];
  return prefix === 'sensors' ? 'sensor' : prefix === 'modems' ? 'modem' : prefix === 'fleet' ? 'gps' : undefined;
}

function where(f: DeadLetterFilter, openOnly: boolean, afterId?: number): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    clauses.push(clause.replace('?', `$${params.length}`));
  };
  if (openOnly) clauses.push('redriven_at IS NULL');
  if (f.ids?.length) add('id = ANY(?::bigint[])', f.ids);
  if (f.source !== undefined) add('source = ?', f.source);
  if (f.code !== undefined) add('error_code = ?', f.code);
  if (f.since !== undefined) add('received_at >= ?', f.since);
  if (afterId !== undefined) add('id > ?', afterId);
  return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

interface RawRow {
  id: string;
  source: string;
  kind: string | null;
  error_code: string;
  reason: string;
  origin: Record<string, unknown>;
  payload: Buffer;
  dedupe_key: string | null;
  received_at: Date;
  redriven_at: Date | null;
  redriven_batch_id: string | null;
}

const COLUMNS = 'id, source, kind, error_code, reason, origin, payload, dedupe_key, received_at, redriven_at, redriven_batch_id';

function toRow(r: RawRow): DeadLetterRow {
  return {
    id: Number(r.id),
    source: r.source,
    // Every kind is `source:<name>` since migration 090; older NULLs stay null.
    kind: r.kind,
    errorCode: r.error_code,
    reason: r.reason,
    origin: r.origin,
    payload: r.payload,
    receivedAt: r.received_at,
    redrivenAt: r.redriven_at,
    redrivenBatchId: r.redriven_batch_id === null ? null : Number(r.redriven_batch_id),
  };
}

/**
 * Dead letters matching `filter`, newest first.
 * @param o.includeRedriven also list letters already re-driven. @default false
 * @param o.limit @default 50
 */
export async function listDeadLetters(
  pool: Pool,
  filter: DeadLetterFilter = {},
  o: { includeRedriven?: boolean; limit?: number } = {},
): Promise<DeadLetterRow[]> {
  const w = where(filter, !o.includeRedriven);
  const r = await pool.query<RawRow>(
    `SELECT ${COLUMNS} FROM ingest.dead_letters ${w.sql} ORDER BY id DESC LIMIT ${o.limit ?? 50}`,
    w.params,
  );
  return r.rows.map(toRow);
}

/**
 * Validates the open dead letters matching `o` again and writes those that pass, oldest first, in
 * pages of `pageSize` letters: each page's rows, lineage and marks commit in ONE transaction (letters
 * locked with `FOR UPDATE SKIP LOCKED`, so concurrent re-drives never take the same letter). Letters
 * that still fail stay open; the next page starts after the last id seen.
 * @throws the database error (that page is rolled back, earlier pages stay committed; re-running the
 *   re-drive takes the rest).
 * @throws Error when `limit` or `pageSize` is not a positive integer.
 */
export async function redriveDeadLetters(pool: Pool, o: RedriveOptions = {}): Promise<RedriveResult> {
  const limit = o.limit ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(limit) || limit <= 0) throw new Error(`limit must be a positive integer, got ${limit}`);
  const pageSize = o.pageSize ?? REDRIVE_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize <= 0) throw new Error(`pageSize must be a positive integer, got ${pageSize}`);
  const now = o.now ?? Date.now();
  const dryRun = o.dryRun ?? false;
  if (!o.sources) o = { ...o, sources: await resolveRedriveSources(pool, o.kind) };
  const total = emptyResult(0, dryRun);
  let afterId: number | undefined;
  while (total.examined < limit) {
    const take = Math.min(pageSize, limit - total.examined);
    const page = await redrivePage(pool, o, { take, afterId, now, dryRun });
    if (!page.result.examined) break;
    total.pages++;
    total.examined += page.result.examined;
    total.redriven += page.result.redriven;
    total.inserted += page.result.inserted;
    total.stillInvalidCount += page.result.stillInvalidCount;
    total.stillInvalid.push(...page.result.stillInvalid.slice(0, MAX_LISTED_INVALID - total.stillInvalid.length));
    total.unknownKind.push(...page.result.unknownKind);
    total.batchIds.push(...page.result.batchIds);
    afterId = page.lastId;
    if (page.result.examined < take) break;
  }
  return total;
}

/**
 * The source files that open letters name (kind `source:<name>`), or that letters without a name fall
 * back to (`kind`, the built-in kinds), as they are now: `SOURCES_DIR` first, then the shipped files
 * ({@link findSource}); their tables are brought up to date (`applyTable`) first. A file with problems
 * is reported through `onProblem` and left out, so its letters stay open.
 * @param onProblem @default console.error
 * @throws the database error of `applyTable`
 */
export async function resolveRedriveSources(
  pool: Pool,
  kind: string | undefined,
  onProblem: (message: string) => void = (m) => console.error(m),
): Promise<Map<string, LoadedSource>> {
  const { rows } = await pool.query<{ kind: string }>(
    "SELECT DISTINCT kind FROM ingest.dead_letters WHERE redriven_at IS NULL AND kind LIKE 'source:%'",
  );
  const names = new Set([...rows.map((r) => r.kind.slice('source:'.length)), ...BUILT_IN_KINDS, ...(kind ? [kind] : [])]);
  const wanted = new Map<string, LoadedSource>();
  for (const name of names) {
    try {
      const s = findSource(name);
      if (s) wanted.set(name, s);
    } catch (e) {
      if (!(e instanceof SourceFileError)) throw e;
      onProblem(`Source files with problems; letters of ${name} stay open:\n${e.message}`);
    }
  }
  for (const s of wanted.values()) await applyTable(pool, s);
  return wanted;
}

/** A {@link RedriveResult} with nothing done yet. */
function emptyResult(pages: number, dryRun: boolean): RedriveResult {
  return { examined: 0, pages, redriven: 0, inserted: 0, stillInvalid: [], stillInvalidCount: 0, unknownKind: [], batchIds: [], dryRun };
}

/** Marks `passed` letters re-driven by `batch` and counts them into `result`. */
async function markRedriven(
  client: PoolClient,
  result: RedriveResult,
  batch: { batchId: number; inserted: number },
  passed: number[],
): Promise<void> {
  await client.query('UPDATE ingest.dead_letters SET redriven_at = now(), redriven_batch_id = $1 WHERE id = ANY($2::bigint[])', [
    batch.batchId,
    passed,
  ]);
  result.redriven += passed.length;
  result.inserted += batch.inserted;
  result.batchIds.push(batch.batchId);
}

/** One page of {@link redriveDeadLetters}: up to `take` open letters with ids above `afterId`. */
async function redrivePage(
  pool: Pool,
  o: RedriveOptions,
  p: { take: number; afterId: number | undefined; now: number; dryRun: boolean },
): Promise<{ result: RedriveResult; lastId: number | undefined }> {
  const { now, dryRun } = p;
  let lastId: number | undefined;
  const run = async (client: PoolClient): Promise<RedriveResult> => {
    const w = where(o, true, p.afterId);
    const { rows } = await client.query<RawRow>(
      `SELECT ${COLUMNS} FROM ingest.dead_letters ${w.sql} ORDER BY id LIMIT ${p.take} FOR UPDATE SKIP LOCKED`,
      w.params,
    );
    lastId = rows.length ? Number(rows[rows.length - 1]!.id) : undefined;
    const result = { ...emptyResult(1, dryRun), examined: rows.length };
    // Group by (source file, source, Kafka topic): one mapping and one batch each.
    const declaredGroups = new Map<string, { declared: LoadedSource; rows: RawRow[] }>();
    for (const r of rows) {
      if (r.error_code === 'topic') {
        // Rejected for its MQTT topic, not its payload: its source comes from the topic again.
        const source = typeof r.origin.mqttTopic === 'string' ? sourceFromTopic(r.origin.mqttTopic) : undefined;
        if (!source) {
          result.stillInvalidCount++;
          if (result.stillInvalid.length < MAX_LISTED_INVALID)
            result.stillInvalid.push({
              id: Number(r.id),
              code: 'topic',
              reason: `topic ${String(r.origin.mqttTopic)} is still not <prefix>/<source>/<device>`,
            });
          continue;
        }
        r.source = source;
      }
      const kind = r.kind?.startsWith('source:') ? r.kind.slice('source:'.length) : (o.kind ?? kindFromOrigin(r.origin));
      const file = kind === undefined ? undefined : o.sources?.get(kind);
      if (!file) {
        result.unknownKind.push(Number(r.id));
        continue;
      }
      const kafkaTopic =
        typeof r.origin.mqttTopic === 'string' ? undefined : typeof r.origin.topic === 'string' ? r.origin.topic : undefined;
      const key = `${file.name}\0${r.source}\0${kafkaTopic ?? ''}`;
      let g = declaredGroups.get(key);
      if (!g) {
        g = { declared: letterSource(file, r.source, kafkaTopic), rows: [] };
        declaredGroups.set(key, g);
      }
      g.rows.push(r);
    }
    for (const { declared, rows: letters } of declaredGroups.values()) {
      const mapped = await declared.map(letters.map(sourceMessageOf), now);
      const failed = new Map(mapped.rejected.map((x) => [x.index, x]));
      const passed = letters.filter((_, i) => !failed.has(i)).map((r) => Number(r.id));
      for (const [i, x] of failed) {
        result.stillInvalidCount++;
        if (result.stillInvalid.length < MAX_LISTED_INVALID)
          result.stillInvalid.push({ id: Number(letters[i]!.id), code: x.code, reason: x.reason });
      }
      if (!passed.length) continue;
      const [batchId] = await nextBatchIds(client, 1);
      const batch = await insertEncoded(client, {
        source: declared.source,
        consumer: 'redrive',
        batchId: batchId!,
        records: declared.encode(mapped.rows, batchId!),
        deadLetters: [],
      });
      await markRedriven(client, result, batch, passed);
    }
    return result;
  };
  if (!dryRun) return { result: await withTransaction(pool, run), lastId };
  // A dry run does all the work inside a transaction and rolls it back.
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await run(client);
    // Their lineage rows are rolled back with everything else.
    return { result: { ...result, batchIds: [] }, lastId };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/**
 * The source file `file` as a letter of `source` meets it again: a template's rows carry the letter's
 * source, and a letter from Kafka topic `kafkaTopic` is mapped as that topic's stream maps it.
 */
function letterSource(file: LoadedSource, source: string, kafkaTopic: string | undefined): LoadedSource {
  const template = file.declaration.template;
  if (!template && kafkaTopic === undefined) return file;
  const d =
    kafkaTopic === undefined || file.declaration.kafka
      ? file.declaration
      : bindToStream(file.declaration, { stream: 'kafka', source, topic: kafkaTopic, groupId: 'redrive' });
  return { ...loadDeclaration(d, file.file, template ? { source } : {}), file: file.file };
}

/**
 * A dead letter as its declared source receives it again: the topic, key and identity of its origin
 * (Kafka `topic/partition/offset`; MQTT the same payload hash the consumer uses), arrival = `received_at`.
 */
function sourceMessageOf(r: RawRow) {
  const o = r.origin;
  const mqttTopic = typeof o.mqttTopic === 'string' ? o.mqttTopic : undefined;
  const topic = mqttTopic ?? (typeof o.topic === 'string' ? o.topic : undefined);
  const identity =
    mqttTopic !== undefined
      ? mqttPayloadHash(mqttTopic, r.payload).slice(0, 32)
      : `${String(o.topic)}/${String(o.partition)}/${String(o.offset)}`;
  return {
    payload: r.payload,
    topic,
    key: typeof o.key === 'string' ? Buffer.from(o.key) : null,
    arrivalTime: r.received_at.getTime(),
    identity,
  };
}
