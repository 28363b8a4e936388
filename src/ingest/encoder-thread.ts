/**
 * The body of an encoder thread (started by `encoder-pool.ts` through `encoder-thread.mjs`): answers
 * each {@link DeclaredEncodeRequest} with the validated, binary-encoded batch, handing the COPY payloads back
 * without copying them.
 */
import { parentPort } from 'node:worker_threads';
import type { LoadedSource } from '../sources/load';
import { unpackPayloads, type DeclaredEncodeRequest, type EncodeResponse } from './encoder-protocol';
import type { EncodedPayloads } from './record-encoding';

const port = parentPort;
if (!port) throw new Error('encoder-thread.ts runs as a worker thread (see encoder-pool.ts)');

/** Compiled declared sources by their JSON (a thread serves every stream of its process). */
const declared = new Map<string, Promise<LoadedSource>>();

function sourceOf(json: string, source: string): Promise<LoadedSource> {
  const key = `${source}\0${json}`;
  let s = declared.get(key);
  if (!s) {
    s = import('../sources/load').then(({ loadDeclaration }) => {
      const d = JSON.parse(json) as { template?: boolean };
      return loadDeclaration(d, 'declaration', d.template ? { source } : {});
    });
    declared.set(key, s);
    if (declared.size > 64) declared.delete(declared.keys().next().value!);
  }
  return s;
}

async function encodeDeclared(req: DeclaredEncodeRequest): Promise<EncodedPayloads> {
  const s = await sourceOf(req.declaration, req.source);
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

port.on('message', (req: DeclaredEncodeRequest) => {
  void (async () => {
    let res: EncodeResponse;
    let transfer: ArrayBuffer[] = [];
    try {
      const result = await encodeDeclared(req);
      res = { id: req.id, result };
      transfer = result.records.tables.map((t) => t.data.buffer as ArrayBuffer);
    } catch (e) {
      res = { id: req.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    port.postMessage(res, transfer);
  })();
});
