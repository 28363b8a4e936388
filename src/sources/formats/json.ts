/**
 * `format: json`: one JSON object per payload, or a JSON array of objects (several records). The checks
 * every JSON kind shares come first (size, UTF-8, NaN/Infinity, NUL: `decodeJsonPayload`).
 */
import { decodeJsonPayload } from '../../ingest/payload';
import { kindOf } from '../values';
import type { DecodeResult, FormatFactory, PayloadRecord } from './index';

function isRecord(v: unknown): v is PayloadRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** See the module comment. */
export const jsonFormat: FormatFactory = () => ({
  textual: false,
  decode(payload): DecodeResult {
    const d = decodeJsonPayload(payload);
    if (!d.ok) return d;
    const json = d.json;
    if (isRecord(json)) return { ok: true, records: [json] };
    if (Array.isArray(json)) {
      if (!json.length) return { ok: false, code: 'schema', reason: '(root): an empty array carries no record' };
      const bad = json.findIndex((x) => !isRecord(x));
      if (bad >= 0) return { ok: false, code: 'schema', reason: `[${bad}]: expected an object, received ${kindOf(json[bad])}` };
      return { ok: true, records: json as PayloadRecord[] };
    }
    return { ok: false, code: 'schema', reason: `(root): expected an object or an array of objects, received ${kindOf(json)}` };
  },
});
