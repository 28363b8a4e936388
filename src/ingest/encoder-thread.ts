/**
 * The body of an encoder thread (started by `encoder-pool.ts` through `encoder-thread.mjs`): answers
 * each {@link EncodeRequest} with the validated, binary-encoded batch, handing the COPY payloads back
 * without copying them.
 */
import { parentPort } from 'node:worker_threads';
import { unpackPayloads, type EncodeRequest, type EncodeResponse } from './encoder-protocol';
import { validateAndEncode } from './record-encoding';

const port = parentPort;
if (!port) throw new Error('encoder-thread.ts runs as a worker thread (see encoder-pool.ts)');

port.on('message', (req: EncodeRequest) => {
  let res: EncodeResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    const result = validateAndEncode(req.kind, req.source, unpackPayloads(req.data, req.ends), req.now, req.batchId);
    res = { id: req.id, result };
    transfer = result.records.tables.map((t) => t.data.buffer as ArrayBuffer);
  } catch (e) {
    res = { id: req.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(res, transfer);
});
