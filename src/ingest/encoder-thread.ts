/**
 * The body of an encoder thread (started by `encoder-pool.ts` through `encoder-thread.mjs`): answers
 * each {@link EncodeRequest} with the validated, binary-encoded batch, handing the COPY payloads back
 * without copying them.
 */
import { parentPort } from 'node:worker_threads';
import type { LoadedSource } from '../sources/load';
import { unpackPayloads, type DeclaredEncodeRequest, type EncodeRequest, type EncodeResponse } from './encoder-protocol';
import { validateAndEncode, type EncodedPayloads } from './record-encoding';

const port = parentPort;
if (!port) throw new Error('encoder-thread.ts runs as a worker thread (see encoder-pool.ts)');

/** Compiled declared sources by their JSON (a thread serves every stream of its process). */
const declared = new Map<string, Promise<LoadedSource>>();

function sourceOf(json: string): Promise<LoadedSource> {
  let s = declared.get(json);
  if (!s) {
    // Loaded on the first declared batch only: the fixed kinds never pay for JSONata and Luxon.
    s = import('../sources/load').then(({ loadDeclaration }) => loadDeclaration(JSON.parse(json) as unknown, 'declaration'));
    declared.set(json, s);
    if (declared.size > 64) declared.delete(declared.keys().next().value!);
  }
  return s;
}

async function encodeDeclared(req: DeclaredEncodeRequest): Promise<EncodedPayloads> {
  const s = await sourceOf(req.declaration);
  const payloads = unpackPayloads(req.data, req.ends);
  const keys = unpackPayloads(req.keyData, req.keyEnds);
  const { topic, partition, offsets } = req;
  const mapped = await s.map(
    payloads.map((payload, i) => ({
      payload,
      topic,
      key: req.keyNull[i] ? null : keys[i]!,
      headers: req.headers?.[i],
      arrivalTime: req.arrivals[i]!,
      // Built only for rows whose time is the arrival time.
      get identity() {
        return `${topic}/${partition}/${offsets[i]}`;
      },
    })),
    req.now,
  );
  return { records: s.encode(mapped.rows, req.batchId), rejected: mapped.rejected };
}

port.on('message', (req: EncodeRequest | DeclaredEncodeRequest) => {
  void (async () => {
    let res: EncodeResponse;
    let transfer: ArrayBuffer[] = [];
    try {
      const result =
        'declaration' in req
          ? await encodeDeclared(req)
          : validateAndEncode(req.kind, req.source, unpackPayloads(req.data, req.ends), req.now, req.batchId);
      res = { id: req.id, result };
      transfer = result.records.tables.map((t) => t.data.buffer as ArrayBuffer);
    } catch (e) {
      res = { id: req.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    port.postMessage(res, transfer);
  })();
});
