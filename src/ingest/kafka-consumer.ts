/**
 * A Kafka consumer-group member that writes each fetched batch into PostgreSQL with exactly-once
 * effect: in ONE transaction it locks the partition's stored position (`kafka-offsets.ts`), skips the
 * messages below it (already written by an earlier owner of the partition), writes records, dead
 * letters (origin topic/partition/offset, deduplicated on it), device status, and the next offset.
 * Only after the commit is the offset committed to Kafka (a copy for lag tools). After a rebalance or
 * restart, assigned partitions are sought to the stored positions.
 *
 * Messages are validated and binary-encoded ahead of their transaction on an encoder thread
 * (`encoder-pool.ts`) while earlier batches are written, so this thread mostly fetches and writes.
 *
 * kafkajs is used with `autoCommit: false` and `eachBatchAutoResolve: false`; it stays behind
 * {@link StreamConsumer} so another client can be swapped in.
 */
import { PartitionAssigners, type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import { isTransientDbError } from '../db/errors';
import type { Pool } from '../db/pool';
import { insertEncoded, nextBatchIds, withTransaction, type BatchResult, type DeadLetter } from './batch-writer';
import type { DeviceActivitySink } from './device-activity';
import { subscriptionRoundRobinAssigner } from './kafka-assigner';
import { metrics, observeCommittedBatch } from '../observability/metrics';
import { tracer } from '../observability/tracing';
import { createKafka, highWatermarks } from './kafka-client';
import { lockOffset, pinStartOffsets, storedOffsets, storeOffset } from './kafka-offsets';
import { EncoderUnavailableError, sharedEncoderPool, type EncoderPool } from './encoder-pool';
import { RateWindow } from './rate';
import type { EncodedPayloads } from './record-encoding';
import type { LoadedSource } from '../sources/load';
import type { SourceMessage } from '../sources/compile';
import type { StreamBinding } from '../sources/bind';

/** Message counters of a stream: of one consumer, one activity run, or a workflow's whole life. */
export interface StreamCounters {
  received: number;
  committed: number;
  inserted: number;
  duplicates: number;
  deadLettered: number;
  batches: number;
}

/** What every stream consumer exposes to its activity (MQTT and Kafka). */
export interface StreamConsumer {
  readonly stats: StreamCounters;
  readonly rate: RateWindow;
  waitingReason: string | undefined;
  waitingSince: number | undefined;
  lastError: string | undefined;
  readonly error: Error | undefined;
  start(): Promise<void>;
  stop(o?: { flush?: boolean }): Promise<void>;
}

/** Options of {@link KafkaBatchConsumer}. */
export interface KafkaConsumerOptions {
  brokers: string[];
  groupId: string;
  topic: string;
  /** Source name recorded with every row. */
  source: string;
  /**
   * The source file the topic carries, by name, when `declared` is not given: found like a stream's
   * kind (`findSource`) and bound to this consumer's source, topic and group. @default 'modem'
   */
  kind?: string;
  /**
   * The source (`sources/*.yaml`, compiled and bound to the stream): its mapping validates the records
   * (with their key, headers and timestamp) and its table receives the rows; mapped on an encoder
   * thread (or this one), ahead of the transaction.
   */
  declared?: LoadedSource;
  /** Client id of this member. @default `iot-pipelines-<groupId>` */
  clientId?: string;
  /** Largest transaction, in messages (a fetched batch is split). @default 5000 */
  batchSize?: number;
  /** Longest broker wait for a fetch to fill, ms. @default 500 */
  flushIntervalMs?: number;
  /** Partitions processed in parallel by this member. @default 4 */
  partitionsConsumedConcurrently?: number;
  /**
   * Where a stream that has never consumed starts (Kafka's `auto.offset.reset`): `earliest`, or
   * `latest` = the end of every partition at the stream's first start, pinned in PostgreSQL then
   * (`pinStartOffsets`), so later restarts never skip what arrived in between. Partitions added to the
   * topic later start at their beginning. With `latest`, starting needs the topic to exist and
   * PostgreSQL to answer (else `start` throws and the activity is retried). @default 'earliest'
   */
  startFrom?: 'earliest' | 'latest';
  /** Group session timeout, ms: a dead member's partitions move after this. @default 10000 */
  sessionTimeoutMs?: number;
  /**
   * Where batches are validated and encoded before their transaction: an encoder thread pool, so this
   * consumer's thread only fetches and writes (`encoder-pool.ts`), or `null` for this thread. Either
   * way the rows are the same; if the pool fails, batches are encoded on this thread.
   * @default the process-wide pool, `sharedEncoderPool()`
   */
  encoder?: EncoderPool | null;
  deviceSink?: DeviceActivitySink;
  onBatch?: (r: BatchResult) => void;
}

const EMPTY = Buffer.alloc(0);

interface Msg {
  offset: string;
  value: Buffer | null;
  key: Buffer | null;
  /** Record timestamp, epoch ms as a string. */
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Kafka headers as text (the last value of a repeated header). */
function headerStrings(h: NonNullable<Msg['headers']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
}

/**
 * The source file named `kind` bound to a Kafka stream (`sources/bind.ts`), compiled. The sources
 * module is loaded here, on first use, so importing the consumer stays cheap.
 * @throws Error when no source file has that name
 */
async function resolveSource(kind: string, b: StreamBinding & { stream: 'kafka' }): Promise<LoadedSource> {
  const { findSource, loadDeclaration } = await import('../sources/load');
  const { bindToStream } = await import('../sources/bind');
  const file = findSource(kind);
  if (!file) throw new Error(`no source file is named ${JSON.stringify(kind)}; add sources/${kind}.yaml`);
  return loadDeclaration(bindToStream(file.declaration, b), file.file, file.declaration.template ? { source: b.source } : {});
}

/** A Kafka record as a declared source reads it. */
function sourceMessage(topic: string, partition: number, m: Msg): SourceMessage {
  const headers = m.headers && hasKeys(m.headers) ? headerStrings(m.headers) : undefined;
  return {
    payload: m.value ?? EMPTY,
    topic,
    key: m.key,
    headers,
    arrivalTime: Number(m.timestamp),
    identity: `${topic}/${partition}/${m.offset}`,
  };
}

/**
 * The write queue of one partition: batches are written in order, one at a time. Queued work carries
 * the epoch it was queued in and is dropped once the epoch moves on (a failure or a rebalance).
 */
interface Lane {
  tail: Promise<void>;
  epoch: number;
}

/** A chunk validated and encoded ahead of its transaction, with the batch id its rows carry. */
interface Prepared {
  batchId: number;
  encoded: EncodedPayloads;
}

/** See the module comment. */
export class KafkaBatchConsumer implements StreamConsumer {
  readonly stats = { received: 0, committed: 0, inserted: 0, duplicates: 0, deadLettered: 0, batches: 0 };
  readonly rate = new RateWindow(60);
  waitingReason: string | undefined;
  waitingSince: number | undefined;
  lastError: string | undefined;
  /** Lag per partition (`<topic>/<partition>` → messages), refreshed by {@link refreshLag}. */
  lag: Record<string, number> = {};
  /** Partitions assigned to this member at the last rebalance. */
  assigned: number[] = [];
  /** Next offset per partition (`<topic>/<partition>` → offset) stored by this consumer's last commit on it. */
  readonly positions: Record<string, number> = {};
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private fatal: Error | undefined;
  private stopping = false;
  /** Write queue per partition (see {@link onBatch}). */
  private readonly lanes = new Map<number, Lane>();
  /** No duplicates in the last batch: the next one tries the plain INSERT (see `Batch.assumeNew`). */
  private assumeNew = true;
  private readonly encoder: EncoderPool | null;
  /** The declared source as JSON, for the encoder threads (computed once). */
  private declarationJson: string | undefined;
  /** The source the records are mapped through (set by `start`). */
  private declared: LoadedSource | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly o: KafkaConsumerOptions,
  ) {
    this.encoder = o.encoder === undefined ? sharedEncoderPool() : o.encoder;
  }

  get error(): Error | undefined {
    return this.fatal;
  }

  /** Joins the group and starts consuming. @throws when the brokers cannot be reached. */
  async start(): Promise<void> {
    this.declared ??=
      this.o.declared ??
      (await resolveSource(this.o.kind ?? 'modem', {
        stream: 'kafka',
        source: this.o.source,
        topic: this.o.topic,
        groupId: this.o.groupId,
        startFrom: this.o.startFrom,
      }));
    const kafka = createKafka(this.o.brokers, this.o.clientId ?? `iot-pipelines-${this.o.groupId}`);
    const consumer = kafka.consumer({
      groupId: this.o.groupId,
      // Members of one group may subscribe to different topics (one workflow per topic and group).
      // kafkajs's round robin stays second choice so members of an older release can still join.
      partitionAssigners: [subscriptionRoundRobinAssigner, PartitionAssigners.roundRobin],
      sessionTimeout: this.o.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: 30_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: this.o.flushIntervalMs ?? 500,
      // 2 MiB per partition (≈10k records of 200 B): the first rows reach PostgreSQL sooner than with
      // 8 MiB, and more throughput in `npm run bench` (1 MiB: more, smaller transactions, less).
      maxBytesPerPartition: 2 * 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    this.consumer = consumer;
    this.admin = kafka.admin();
    this.encoder?.warmUp();
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // A new generation reads from Kafka's committed copy of the positions: batches queued before it are dropped.
      for (const lane of this.lanes.values()) lane.epoch++;
      const parts = (e.payload.memberAssignment[this.o.topic] ?? []).slice().sort((a, b) => a - b);
      this.assigned = parts;
      void this.seekToStored(parts);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.lastError = `kafka: ${e.payload.error.message}`;
    });
    await consumer.connect();
    await this.admin.connect();
    if (this.o.startFrom === 'latest') {
      await pinStartOffsets(this.pool, this.o.groupId, this.o.topic, await highWatermarks(this.admin, this.o.topic));
    }
    await consumer.subscribe({ topics: [this.o.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently ?? 4,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  /** After a rebalance or restart, starts each assigned partition at the position PostgreSQL holds. */
  private async seekToStored(partitions: number[]): Promise<void> {
    try {
      const stored = await storedOffsets(this.pool, this.o.groupId, this.o.topic);
      for (const p of partitions) {
        const next = stored.get(p);
        if (next !== undefined) this.consumer?.seek({ topic: this.o.topic, partition: p, offset: String(next) });
      }
    } catch (e) {
      // Not fatal: batches below the stored position are skipped inside the transaction anyway.
      this.lastError = `seek: ${(e as Error).message}`;
    }
  }

  /** The lane of `partition` (created on first use). */
  private lane(partition: number): Lane {
    let lane = this.lanes.get(partition);
    if (!lane) this.lanes.set(partition, (lane = { tail: Promise.resolve(), epoch: 0 }));
    return lane;
  }

  /**
   * Takes a fetched batch: queues it on its partition's lane and returns once the partition's previous
   * batch is written, so kafkajs fetches the next batch while this one's transactions run (kafkajs
   * fetches again only when every batch of a fetch has returned). The fetch position is resolved at
   * once; it is only where kafkajs reads next: nothing is committed by kafkajs (`autoCommit: false`),
   * and the position stored in PostgreSQL stays the truth (`writeFetched` seeks back on a failure,
   * a rebalance restarts from Kafka's committed copy, at or below it).
   */
  // kafkajs hands these over as closures, not methods: destructuring them is safe.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  private async onBatch({ batch, heartbeat, resolveOffset, isStale }: EachBatchPayload): Promise<void> {
    if (this.fatal) throw this.fatal;
    const all = batch.messages as Msg[];
    if (!all.length || isStale() || this.stopping) return;
    this.stats.received += all.length;
    const lane = this.lane(batch.partition);
    const previous = lane.tail;
    const epoch = lane.epoch;
    resolveOffset(all[all.length - 1]!.offset);
    lane.tail = previous.then(() => this.writeFetched(batch.topic, batch.partition, all, epoch, heartbeat));
    // Back-pressure: per partition, one batch is written while the next one waits.
    await previous;
  }

  /**
   * Writes one fetched batch of a partition in transactions of up to `batchSize` messages, then copies
   * each committed position to Kafka. Never rejects: on any failure (database, rebalance, broker) it
   * drops what its lane has queued (the lane's epoch moves on) and seeks the partition back to the first
   * message not committed, so kafkajs reads it again; messages written meanwhile by another member are
   * skipped inside the transaction. Stopping ends it quietly (a restart seeks to the stored positions).
   */
  private async writeFetched(topic: string, partition: number, all: Msg[], epoch: number, heartbeat: () => Promise<void>): Promise<void> {
    const lane = this.lane(partition);
    const size = this.o.batchSize ?? 5000;
    const chunks: Msg[][] = [];
    for (let i = 0; i < all.length; i += size) chunks.push(all.slice(i, i + size));
    const prepared = this.prepare(chunks, partition);
    for (const [c, chunk] of chunks.entries()) {
      if (lane.epoch !== epoch || this.stopping) return;
      // Where kafkajs must read again if anything below fails: this chunk, or after it once committed.
      let resumeAt = chunk[0]!.offset;
      try {
        await this.commitChunk(partition, chunk, heartbeat, prepared[c]);
        const next = String(Number(chunk[chunk.length - 1]!.offset) + 1);
        resumeAt = next;
        await this.consumer?.commitOffsets([{ topic, partition, offset: next }]).catch((e: unknown) => {
          // The stored position in PostgreSQL is the truth; Kafka's copy catches up with the next batch.
          this.lastError = `kafka commit: ${(e as Error).message}`;
        });
        await heartbeat();
      } catch (e) {
        if (this.stopping || lane.epoch !== epoch) return;
        lane.epoch++;
        this.lastError = `partition ${partition}: ${(e as Error).message}`;
        try {
          this.consumer?.seek({ topic, partition, offset: resumeAt });
        } catch {
          // Not running any more: a restart seeks to the stored positions.
        }
        return;
      }
    }
  }

  /**
   * Starts validating and encoding `chunks` on the encoder pool, with batch ids drawn for them, while
   * earlier chunks are written. A chunk whose preparation failed (no ids because PostgreSQL is down, or
   * the pool failed) resolves to undefined and is encoded inside its transaction instead.
   */
  private prepare(chunks: Msg[][], partition: number): Array<Promise<Prepared | undefined>> {
    const declared = this.declared!;
    if (!chunks.length) return [];
    const ids = nextBatchIds(this.pool, chunks.length);
    const encoder = this.encoder;
    return chunks.map(async (chunk, i) => {
      try {
        const batchId = (await ids)[i]!;
        // On an encoder thread when there is one (the same mapping; this thread then only fetches and writes).
        const encoded = encoder
          ? await encoder.encodeDeclared(
              (this.declarationJson ??= JSON.stringify(declared.declaration)),
              declared.source,
              {
                topic: this.o.topic,
                partition,
                records: chunk.map((m) => ({
                  value: m.value,
                  key: m.key,
                  offset: Number(m.offset),
                  timestamp: Number(m.timestamp),
                  headers: m.headers && hasKeys(m.headers) ? headerStrings(m.headers) : undefined,
                })),
              },
              Date.now(),
              batchId,
            )
          : await this.mapChunk(declared, partition, chunk, batchId);
        return { batchId, encoded };
      } catch (e) {
        if (e instanceof EncoderUnavailableError || !isTransientDbError(e)) this.lastError = `mapping: ${(e as Error).message}`;
        return undefined;
      }
    });
  }

  /** Maps and encodes `chunk` through the source, on this thread. */
  private async mapChunk(declared: LoadedSource, partition: number, chunk: Msg[], batchId: number): Promise<EncodedPayloads> {
    const mapped = await declared.map(
      chunk.map((m) => sourceMessage(this.o.topic, partition, m)),
      Date.now(),
    );
    return { records: declared.encode(mapped.rows, batchId), rejected: mapped.rejected };
  }

  private async commitChunk(
    partition: number,
    chunk: Msg[],
    heartbeat: () => Promise<void>,
    prepared?: Promise<Prepared | undefined>,
  ): Promise<void> {
    const { groupId, topic } = this.o;
    const declared = this.declared!;
    const source = declared.source;
    const kind = declared.kind as DeadLetter['kind'];
    const first = Number(chunk[0]!.offset);
    const nextOffset = Number(chunk[chunk.length - 1]!.offset) + 1;
    const pre = prepared ? await prepared : undefined;
    // Origin and dedupe key are built only for dead letters.
    const deadLetter = (m: Msg, code: DeadLetter['code'], reason: string): DeadLetter => {
      const offset = Number(m.offset);
      return {
        source,
        origin: { topic, partition, offset, key: m.key ? m.key.toString('utf8') : null },
        payload: m.value ?? EMPTY,
        code,
        reason,
        dedupeKey: `kafka:${topic}:${partition}:${offset}`,
        kind,
      };
    };
    let delay = 500;
    for (;;) {
      const span = tracer.startSpan('ingest.commit', {
        attributes: { 'iot.source': source, 'iot.transport': 'kafka', 'iot.messages': chunk.length, 'iot.partition': partition },
      });
      try {
        const t0 = performance.now();
        const result = await withTransaction(this.pool, async (client) => {
          const stored = await lockOffset(client, groupId, topic, partition);
          // Messages below the stored position were written by an earlier owner of the partition:
          // skipped, and the rest validated here (the prepared encoding covers the whole chunk).
          let messages = chunk;
          let batchId: number;
          let encoded: EncodedPayloads;
          if (pre && stored <= first) ({ batchId, encoded } = pre);
          else {
            if (stored > first) messages = chunk.filter((m) => Number(m.offset) >= stored);
            batchId = (await nextBatchIds(client, 1))[0]!;
            encoded = await this.mapChunk(declared, partition, messages, batchId);
          }
          const r = await insertEncoded(client, {
            source,
            consumer: `${this.o.clientId ?? groupId}/${topic}/${partition}`,
            batchId,
            records: encoded.records,
            deadLetters: encoded.rejected.map((x) => deadLetter(messages[x.index]!, x.code, x.reason)),
            skipped: chunk.length - messages.length,
            assumeNew: this.assumeNew,
          });
          if (nextOffset > stored) await storeOffset(client, groupId, topic, partition, nextOffset);
          return { ...r, position: Math.max(stored, nextOffset) };
        });
        span.setAttributes({ 'iot.rows': result.inserted, 'iot.dead_letters': result.deadLettered, 'iot.batch_id': result.batchId });
        span.end();
        observeCommittedBatch({
          source,
          transport: 'kafka',
          messages: result.messages,
          inserted: result.inserted,
          duplicates: result.duplicates,
          deadLettersByCode: result.deadLettersByCode,
          seconds: (performance.now() - t0) / 1000,
        });
        this.positions[`${topic}/${partition}`] = result.position;
        this.setWaiting(undefined);
        this.assumeNew = result.duplicates === result.skipped;
        this.stats.committed += result.messages;
        this.stats.inserted += result.inserted;
        this.stats.duplicates += result.duplicates;
        this.stats.deadLettered += result.deadLettered;
        this.stats.batches++;
        this.rate.add(result.messages);
        this.o.onBatch?.(result);
        if (this.o.deviceSink && result.devices.length) {
          this.o.deviceSink.onCommitted(result.devices).catch((e: unknown) => {
            this.lastError = `device sink: ${(e as Error).message}`;
          });
        }
        return;
      } catch (e) {
        span.recordException(e as Error);
        span.end();
        if (!isTransientDbError(e)) {
          this.fatal = e as Error;
          throw e;
        }
        if (this.stopping) throw e;
        this.lastError = `database: ${(e as Error).message}`;
        this.setWaiting(
          `database unavailable: ${(e as Error).message}; holding ${chunk.length} uncommitted messages of partition ${partition}, retrying in ${delay} ms`,
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5_000);
        // Keeps the group membership while waiting; throws on a rebalance (the batch is then re-read).
        await heartbeat();
      }
    }
  }

  private setWaiting(reason: string | undefined): void {
    if (reason === undefined) this.waitingSince = undefined;
    else this.waitingSince ??= Date.now();
    this.waitingReason = reason;
  }

  /**
   * Recomputes lag per partition: the topic's high watermark minus the position stored in PostgreSQL
   * (all partitions of the topic, whichever member owns them).
   */
  async refreshLag(): Promise<Record<string, number>> {
    if (!this.admin) return this.lag;
    const [high, stored] = await Promise.all([
      highWatermarks(this.admin, this.o.topic),
      storedOffsets(this.pool, this.o.groupId, this.o.topic),
    ]);
    const lag: Record<string, number> = {};
    for (const [p, h] of high) {
      const n = Math.max(0, h - (stored.get(p) ?? 0));
      lag[`${this.o.topic}/${p}`] = n;
      metrics.kafkaLag.set(
        { source: this.declared?.source ?? this.o.source, group: this.o.groupId, topic: this.o.topic, partition: String(p) },
        n,
      );
    }
    this.lag = lag;
    return lag;
  }

  /** Leaves the group. In-flight transactions either commit (then are acknowledged) or roll back. */
  async stop(_o: { flush?: boolean } = {}): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
  }
}
