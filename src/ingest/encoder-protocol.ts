/**
 * Messages between the ingest path and an encoder thread (`encoder-pool.ts` ↔ `encoder-thread.ts`).
 * A batch's payloads travel as ONE buffer plus end positions, transferred, not copied: one
 * `postMessage` per batch, not per message.
 */
import type { EncodedPayloads } from './record-encoding';

/**
 * Map and encode one batch through a declared source (`sources/`): the declaration travels as JSON
 * (compiled once per thread and declaration), the payloads packed like {@link EncodeRequest}'s, with
 * each message's transport metadata.
 */
export interface DeclaredEncodeRequest {
  id: number;
  /** The source file as applied, `JSON.stringify`d: with `source`, the thread's cache key. */
  declaration: string;
  /** The stream's source, carried by a template's rows (`LoadedSource.source`). */
  source: string;
  now: number;
  batchId: number;
  data: Uint8Array;
  ends: Uint32Array;
  /** The Kafka topic (one per batch) and partition: a message's identity is `<topic>/<partition>/<offset>`. */
  topic: string;
  partition: number;
  /** Per message: offset, record timestamp (the arrival time, epoch ms). */
  offsets: Float64Array;
  arrivals: Float64Array;
  /** Record keys packed like the payloads; `keyNull[i]` = 1 for a record without a key. */
  keyData: Uint8Array;
  keyEnds: Uint32Array;
  keyNull: Uint8Array;
  /** Per message headers (UTF-8), only when some message has any. */
  headers?: Array<Record<string, string> | undefined>;
}

/** The answer to a {@link DeclaredEncodeRequest} with the same id. */
export type EncodeResponse = { id: number; result: EncodedPayloads } | { id: number; error: string };

/** Packs payloads into one buffer (own memory, so it can be transferred) and their end offsets. */
export function packPayloads(payloads: Uint8Array[]): { data: Uint8Array<ArrayBuffer>; ends: Uint32Array<ArrayBuffer> } {
  let total = 0;
  for (const p of payloads) total += p.byteLength;
  const data = new Uint8Array(total);
  const ends = new Uint32Array(payloads.length);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    data.set(p, at);
    at += p.byteLength;
    ends[i] = at;
  }
  return { data, ends };
}

/** The payloads of {@link packPayloads}, as views into `data` (no copies). */
export function unpackPayloads(data: Uint8Array, ends: Uint32Array): Uint8Array[] {
  const out = new Array<Uint8Array>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    out[i] = data.subarray(start, end);
    start = end;
  }
  return out;
}
