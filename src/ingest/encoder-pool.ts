/**
 * Encoder threads: mapping and binary encoding of ingest batches through their source (`sources/compile.ts`, `sources/encode.ts`) moved off
 * the consumer's JavaScript thread, which then only fetches from the broker and talks to PostgreSQL.
 * Measured on the Kafka → PostgreSQL path (`npm run bench`, 2 CPUs): once PostgreSQL's CPU per row was
 * halved (migration 070), that thread was the bound, and JSON parsing, validation and encoding were
 * most of its work; the thread gave 12–15 % more records per second (nothing before that change, when
 * PostgreSQL held the other CPU).
 *
 * A batch is one message each way (payloads packed into one transferred buffer, COPY payloads
 * transferred back). Threads start on first use and never keep the process alive when idle. A thread
 * that fails is replaced; after {@link MAX_THREAD_FAILURES} failures in a row without one answer the
 * pool gives up and `encodeDeclared` rejects with {@link EncoderUnavailableError}, so callers encode on their
 * own thread instead (the same functions; nothing is lost either way).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { packPayloads, type DeclaredEncodeRequest, type EncodeResponse } from './encoder-protocol';
import type { EncodedPayloads } from './record-encoding';

/** A Kafka record as {@link EncoderPool.encodeDeclared} takes it. */
export interface KafkaRecordInput {
  value: Uint8Array | null;
  key: Uint8Array | null;
  offset: number;
  /** Record timestamp, epoch ms. */
  timestamp: number;
  /** Headers (UTF-8), when the record has any. */
  headers?: Record<string, string>;
}

const EMPTY = new Uint8Array(0);

/** Thread failures in a row (no answer in between) after which the pool stops starting threads. */
export const MAX_THREAD_FAILURES = 3;

/** The pool cannot encode (its threads kept failing, or it was closed). */
export class EncoderUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`encoder threads unavailable: ${reason}`);
    this.name = 'EncoderUnavailableError';
  }
}

interface Pending {
  resolve(r: EncodedPayloads): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * The thread's entry: beside the compiled chunk when running from dist/ (`dist/encoder-thread.js`,
 * scripts/build.mjs), else the `.mjs` shim that runs the TypeScript source through tsx.
 */
const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './encoder-thread.mjs' : './encoder-thread.js', import.meta.url);

/** See the module comment. */
export class EncoderPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private failures = 0;
  private unavailable: string | undefined;

  /** @param size most threads. @default {@link defaultEncoderThreads} */
  constructor(readonly size = defaultEncoderThreads()) {}

  /**
   * Maps a Kafka batch through a declared source and encodes the rows (`LoadedSource.map` + `encode`)
   * on a pool thread, which compiles the declaration once.
   * @param declaration the source file as applied, `JSON.stringify`d
   * @param source the stream's source (a template's rows carry it)
   * @param records the batch of one partition: value, key, offset, record timestamp (epoch ms) and headers
   * @throws {EncoderUnavailableError} when the pool has given up or was closed
   * @throws Error when the thread failed on this batch (it is replaced)
   */
  encodeDeclared(
    declaration: string,
    source: string,
    batch: { topic: string; partition: number; records: KafkaRecordInput[] },
    now: number,
    batchId: number,
  ): Promise<EncodedPayloads> {
    const { records } = batch;
    const { data, ends } = packPayloads(records.map((r) => r.value ?? EMPTY));
    const keys = packPayloads(records.map((r) => r.key ?? EMPTY));
    const keyNull = new Uint8Array(records.length);
    const offsets = new Float64Array(records.length);
    const arrivals = new Float64Array(records.length);
    let headers: Array<Record<string, string> | undefined> | undefined;
    records.forEach((r, i) => {
      keyNull[i] = r.key ? 0 : 1;
      offsets[i] = r.offset;
      arrivals[i] = r.timestamp;
      if (r.headers) (headers ??= new Array<Record<string, string> | undefined>(records.length))[i] = r.headers;
    });
    return this.send(
      (id) => ({
        id,
        declaration,
        source,
        now,
        batchId,
        data,
        ends,
        topic: batch.topic,
        partition: batch.partition,
        offsets,
        arrivals,
        keyData: keys.data,
        keyEnds: keys.ends,
        keyNull,
        headers,
      }),
      [data.buffer, ends.buffer, keys.data.buffer, keys.ends.buffer, keyNull.buffer, offsets.buffer, arrivals.buffer],
    );
  }

  private send(build: (id: number) => DeclaredEncodeRequest, transfer: ArrayBuffer[]): Promise<EncodedPayloads> {
    if (this.unavailable !== undefined) return Promise.reject(new EncoderUnavailableError(this.unavailable));
    const slot = this.pick();
    const id = this.nextId++;
    const req = build(id);
    return new Promise<EncodedPayloads>((resolve, reject) => {
      if (!slot.pending.size) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      try {
        slot.worker.postMessage(req, transfer);
      } catch (e) {
        slot.pending.delete(id);
        if (!slot.pending.size) slot.worker.unref();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** Starts a thread now if none runs, so the first batch does not wait for one to load. */
  warmUp(): void {
    if (this.unavailable === undefined && !this.slots.length) this.spawn();
  }

  /** Stops the threads; pending requests reject. Later calls to `encode` reject. */
  async close(): Promise<void> {
    this.unavailable = 'closed';
    const slots = this.slots.splice(0);
    for (const s of slots) this.failAll(s, new EncoderUnavailableError('closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The least busy thread; a new one while all are busy and the pool is not full. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    // No inherited loader flags (e.g. `--import tsx`): the entry registers tsx itself.
    const worker = new Worker(ENTRY, { execArgv: [] });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    this.slots.push(slot);
    worker.on('message', (res: EncodeResponse) => {
      const p = slot.pending.get(res.id);
      if (!p) return;
      slot.pending.delete(res.id);
      if (!slot.pending.size) worker.unref();
      this.failures = 0;
      if ('error' in res) p.reject(new Error(`encoder thread: ${res.error}`));
      else p.resolve(res.result);
    });
    const fail = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      this.failAll(slot, new Error(`encoder thread stopped: ${why}`));
      if (++this.failures >= MAX_THREAD_FAILURES) this.unavailable = `${this.failures} threads failed in a row; last: ${why}`;
    };
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return slot;
  }

  private failAll(slot: Slot, e: Error): void {
    for (const p of slot.pending.values()) p.reject(e);
    slot.pending.clear();
  }
}

/**
 * Threads of the shared pool: one per CPU beyond the first (the consumer's own thread and PostgreSQL
 * need CPU too), between 1 and 4.
 */
export function defaultEncoderThreads(): number {
  return Math.min(4, Math.max(1, os.availableParallelism() - 1));
}

let shared: EncoderPool | undefined;

/** The process-wide pool, created on first use (threads start only when a batch is encoded). */
export function sharedEncoderPool(): EncoderPool {
  return (shared ??= new EncoderPool());
}
