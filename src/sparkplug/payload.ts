/**
 * Sparkplug B payloads: the protobuf `Payload` of the specification's `sparkplug_b.proto`, decoded by
 * the Eclipse Tahu JavaScript library's generated code (`sparkplug-payload`), and each metric's value
 * read by its datatype (Eclipse Sparkplug 3.0 §6.4.16 "Datatype Details").
 *
 * The value is read by the datatype the metric carries or, in data messages, the one its birth
 * certificate declared (the specification advises data messages to omit it: §6.4.4); the Tahu
 * library's own `decodePayload` needs it in the message, so only its protobuf code is used here.
 *
 * - Compressed payloads (Tahu's `SPBV1.0_COMPRESSED` uuid, `algorithm` metric `DEFLATE` (zlib) or
 *   `GZIP`, the body the compressed inner payload) are inflated with `node:zlib` and decoded.
 * - 64-bit integers are numbers when within ±(2^53 − 1), else decimal strings (never rounded).
 * - Numeric, DateTime and String arrays (datatypes 22–34) are read from `bytes_value` (little-endian,
 *   strings NUL-terminated UTF-8); BooleanArray, DataSet, Template, PropertySet(List), Bytes and File
 *   become JSON (bytes as base64).
 */
import zlib from 'node:zlib';
import Long from 'long';
import * as sparkplugProto from 'sparkplug-payload/lib/sparkplugPayloadProto.js';

/**
 * The generated protobuf code is CommonJS without named exports Node can detect: under Node's ESM
 * loader (the compiled CLI and worker) its exports are the default export, under a bundler's interop
 * the namespace itself.
 */
const { org } = (sparkplugProto as unknown as { default?: typeof sparkplugProto }).default ?? sparkplugProto;
type ProtoPayload = sparkplugProto.org.eclipse.tahu.protobuf.Payload;
/** A metric as protobuf decodes it. */
export type ProtoMetric = sparkplugProto.org.eclipse.tahu.protobuf.Payload.IMetric;
const Payload = org.eclipse.tahu.protobuf.Payload;

/** Datatype names by number (Sparkplug 3.0 §6.4.16). */
export const DATATYPES: Readonly<Record<number, string>> = {
  1: 'Int8',
  2: 'Int16',
  3: 'Int32',
  4: 'Int64',
  5: 'UInt8',
  6: 'UInt16',
  7: 'UInt32',
  8: 'UInt64',
  9: 'Float',
  10: 'Double',
  11: 'Boolean',
  12: 'String',
  13: 'DateTime',
  14: 'Text',
  15: 'UUID',
  16: 'DataSet',
  17: 'Bytes',
  18: 'File',
  19: 'Template',
  20: 'PropertySet',
  21: 'PropertySetList',
  22: 'Int8Array',
  23: 'Int16Array',
  24: 'Int32Array',
  25: 'Int64Array',
  26: 'UInt8Array',
  27: 'UInt16Array',
  28: 'UInt32Array',
  29: 'UInt64Array',
  30: 'FloatArray',
  31: 'DoubleArray',
  32: 'BooleanArray',
  33: 'StringArray',
  34: 'DateTimeArray',
};

/** The column a datatype's values are stored in (`bigint`, `double`, `boolean`, `text`, `timestamptz`, `jsonb`). */
export type SparkplugColumn = 'bigint' | 'double' | 'boolean' | 'text' | 'timestamptz' | 'jsonb';

/**
 * The column of a datatype: integers → `bigint` (a UInt64 above 2^63 − 1 cannot be stored there and is
 * rejected when read), Float/Double → `double`, Boolean, String/Text/UUID → `text`, DateTime →
 * `timestamptz`, everything structured or an array → `jsonb`.
 */
export function columnOf(datatype: number): SparkplugColumn | undefined {
  if (datatype >= 1 && datatype <= 8) return 'bigint';
  if (datatype === 9 || datatype === 10) return 'double';
  if (datatype === 11) return 'boolean';
  if (datatype === 12 || datatype === 14 || datatype === 15) return 'text';
  if (datatype === 13) return 'timestamptz';
  if (datatype >= 16 && datatype <= 34) return 'jsonb';
  return undefined;
}

/** A payload that is not Sparkplug B, or a metric value that does not suit its datatype. */
export class SparkplugPayloadError extends Error {
  override readonly name = 'SparkplugPayloadError';
}

/** A decoded payload: message timestamp and sequence number (ms / 0–255, absent when not sent) and the metrics. */
export interface DecodedPayload {
  timestamp?: number;
  seq?: number;
  uuid?: string;
  metrics: ProtoMetric[];
}

const COMPRESSED = 'SPBV1.0_COMPRESSED';

const has = (m: object, k: string) => Object.prototype.hasOwnProperty.call(m, k);

/** A protobuf uint64 (Long or number) as a number, when exactly representable; else undefined. */
function u64(v: Long | number | null | undefined, signed = false): number | string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const l = signed ? Long.fromBits(v.low, v.high, false) : Long.fromBits(v.low, v.high, true);
  const n = l.toNumber();
  return Number.isSafeInteger(n) ? n : l.toString();
}

/**
 * Decodes one payload (inflating a compressed one).
 * @throws SparkplugPayloadError when it is not a Sparkplug B protobuf payload
 */
export function decodeSparkplugPayload(bytes: Uint8Array): DecodedPayload {
  let p: ProtoPayload;
  try {
    p = Payload.decode(bytes);
  } catch (e) {
    throw new SparkplugPayloadError(`not a Sparkplug B payload: ${(e as Error).message}`);
  }
  if (p.uuid === COMPRESSED) {
    const algorithm = p.metrics.find((m) => m.name === 'algorithm')?.stringValue ?? 'DEFLATE';
    if (!p.body?.length) throw new SparkplugPayloadError('a compressed payload without a body');
    let inner: Buffer;
    try {
      if (algorithm.toUpperCase() === 'GZIP') inner = zlib.gunzipSync(p.body);
      else if (algorithm.toUpperCase() === 'DEFLATE') inner = zlib.inflateSync(p.body);
      else throw new SparkplugPayloadError(`compression algorithm ${JSON.stringify(algorithm)} is neither DEFLATE nor GZIP`);
    } catch (e) {
      if (e instanceof SparkplugPayloadError) throw e;
      throw new SparkplugPayloadError(`compressed payload (${algorithm}) does not inflate: ${(e as Error).message}`);
    }
    return decodeSparkplugPayload(inner);
  }
  const out: DecodedPayload = { metrics: p.metrics };
  if (has(p, 'timestamp')) out.timestamp = u64(p.timestamp) as number;
  if (has(p, 'seq')) {
    const s = u64(p.seq);
    if (typeof s === 'number') out.seq = s;
  }
  if (p.uuid) out.uuid = p.uuid;
  return out;
}

/** A metric value as the row takes it: number, decimal string (64-bit beyond 2^53), boolean, text, epoch ms, JSON-able, or null. */
export type MetricValue = number | string | boolean | null | Record<string, unknown> | unknown[];

function arrayValue(datatype: number, b: Uint8Array): unknown[] | Record<string, unknown> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width: Record<number, number> = { 22: 1, 23: 2, 24: 4, 25: 8, 26: 1, 27: 2, 28: 4, 29: 8, 30: 4, 31: 8, 34: 8 };
  if (datatype === 33) {
    const text = Buffer.from(b).toString('utf8');
    const parts = text.split('\0');
    if (parts[parts.length - 1] === '') parts.pop();
    return parts;
  }
  const w = width[datatype];
  if (!w) return { datatype: DATATYPES[datatype], bytes_base64: Buffer.from(b).toString('base64') };
  if (b.byteLength % w)
    throw new SparkplugPayloadError(`${DATATYPES[datatype]}: ${b.byteLength} bytes is not a whole number of ${w}-byte values`);
  const out: unknown[] = [];
  for (let o = 0; o < b.byteLength; o += w) {
    switch (datatype) {
      case 22:
        out.push(dv.getInt8(o));
        break;
      case 23:
        out.push(dv.getInt16(o, true));
        break;
      case 24:
        out.push(dv.getInt32(o, true));
        break;
      case 26:
        out.push(dv.getUint8(o));
        break;
      case 27:
        out.push(dv.getUint16(o, true));
        break;
      case 28:
        out.push(dv.getUint32(o, true));
        break;
      case 30:
        out.push(dv.getFloat32(o, true));
        break;
      case 31:
        out.push(dv.getFloat64(o, true));
        break;
      default: {
        const big = datatype === 29 ? dv.getBigUint64(o, true) : dv.getBigInt64(o, true);
        out.push(big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString());
      }
    }
  }
  return out;
}

function toJson(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (Long.isLong(x)) return u64(x);
      if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
      return x;
    }),
  );
}

/**
 * The value of `m` read as `datatype` (the metric's own or its birth's).
 * @throws SparkplugPayloadError when the value field set does not suit the datatype
 */
export function metricValue(m: ProtoMetric, datatype: number): MetricValue {
  if (m.isNull) return null;
  const set = (
    [
      'intValue',
      'longValue',
      'floatValue',
      'doubleValue',
      'booleanValue',
      'stringValue',
      'bytesValue',
      'datasetValue',
      'templateValue',
      'extensionValue',
    ] as const
  ).find((k) => has(m, k) && m[k] !== null && m[k] !== undefined);
  if (!set) return null;
  const name = DATATYPES[datatype] ?? `datatype ${datatype}`;
  const wrong = () => new SparkplugPayloadError(`${name} metric carries a ${set.replace('Value', '')} value`);
  const raw = m[set];
  if (datatype >= 1 && datatype <= 8) {
    if (set === 'intValue') {
      const i = raw as number;
      // Signed types are sent as the 32-bit two's complement in the uint32 field.
      return datatype <= 4 ? i | 0 : i >>> 0;
    }
    if (set === 'longValue') {
      const v = u64(raw as Long | number, datatype <= 4);
      if (datatype === 8 && typeof v === 'string') return v;
      return v ?? null;
    }
    throw wrong();
  }
  switch (datatype) {
    case 9:
    case 10:
      if (set === 'floatValue' || set === 'doubleValue') return raw as number;
      throw wrong();
    case 11:
      if (set === 'booleanValue') return raw as boolean;
      throw wrong();
    case 12:
    case 14:
    case 15:
      if (set === 'stringValue') return raw as string;
      throw wrong();
    case 13:
      if (set === 'longValue' || set === 'intValue') return u64(raw as Long | number) ?? null;
      throw wrong();
    case 16:
      if (set !== 'datasetValue') throw wrong();
      return datasetValue(m.datasetValue!);
    case 19:
      if (set !== 'templateValue') throw wrong();
      return toJson(
        org.eclipse.tahu.protobuf.Payload.Template.toObject(m.templateValue as never, { longs: Number, defaults: false }),
      ) as Record<string, unknown>;
    case 20:
    case 21:
      return toJson(raw) as Record<string, unknown>;
    case 17:
    case 18:
      if (set !== 'bytesValue') throw wrong();
      return { datatype: name, bytes_base64: Buffer.from(raw as Uint8Array).toString('base64') };
    default:
      if (datatype >= 22 && datatype <= 34) {
        if (set !== 'bytesValue') throw wrong();
        return arrayValue(datatype, raw as Uint8Array);
      }
      throw new SparkplugPayloadError(`unknown datatype ${datatype}`);
  }
}

/** A DataSet as `{ columns, types, rows }` (types as names, cells by the column's type). */
function datasetValue(ds: sparkplugProto.org.eclipse.tahu.protobuf.Payload.IDataSet): Record<string, unknown> {
  const types = (ds.types ?? []).map((t) => t);
  const rows = (ds.rows ?? []).map((r) =>
    (r.elements ?? []).map((e, i) => {
      const t = types[i] ?? 0;
      const cell = { ...e, isNull: false } as ProtoMetric;
      return has(e, 'intValue') ||
        has(e, 'longValue') ||
        has(e, 'floatValue') ||
        has(e, 'doubleValue') ||
        has(e, 'booleanValue') ||
        has(e, 'stringValue')
        ? metricValue(cell, t)
        : null;
    }),
  );
  return { columns: ds.columns ?? [], types: types.map((t) => DATATYPES[t] ?? t), rows };
}
