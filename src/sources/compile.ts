/**
 * A source declaration compiled, once, into its validator and row encoder (like a Telegraf parser or
 * a Kafka Connect converter): payload → records (the format) → rows of the source's table, or a
 * dead-letter code and a reason naming the field.
 *
 * Plain field paths become direct property reads; JSONata (the `jsonata` library) is compiled and
 * evaluated only where an `expression:` is declared, with `$topic` (the named topic segments), `$key`
 * (Kafka record key), `$headers` and `$arrival` (epoch ms) bound. Its evaluation is asynchronous, so a
 * source without expressions maps a batch synchronously.
 *
 * A row: `device_id`, `event_time` (from the payload, or the arrival time: MQTT receipt by the
 * consumer, or the Kafka record timestamp; `time_origin` says which), `record_key` (empty when the time
 * comes from the payload, so a device re-sending a reading is stored once; with arrival time, the
 * message's transport identity and record index), one column per measurement, `attributes` (the
 * undeclared fields, `jsonb`), `out_of_range` (names of measurements outside their range, kept raw).
 */
import jsonata from 'jsonata';
import type { Rejected } from '../ingest/payload';
import { MAX_FUTURE_SKEW_MS, type DeadLetterCode } from '../ingest/payload';
import { sourceKind, sourceTable, type MeasurementDeclaration, type MeasurementType, type SourceDeclaration } from './declaration';
import {
  compileFormat,
  type FormatSession,
  type MqttOutgoing,
  type PayloadFormat,
  type PayloadRecord,
  type SessionEffects,
} from './formats/index';
import { compileTimeParser, TimeFormatError, type TimeParser } from './timestamps';
import { compileTopic, TopicTemplateError, type TopicTemplate } from './topic';
import { describeValue, kindOf } from './values';

/** One message as a declared source receives it. */
export interface SourceMessage {
  payload: Uint8Array;
  /** MQTT topic the message was published to, or the Kafka topic. */
  topic?: string;
  /** Kafka record key. */
  key?: Uint8Array | null;
  /** Kafka record headers (UTF-8). */
  headers?: Record<string, string>;
  /** Arrival time, epoch ms: receipt by the MQTT consumer, or the Kafka record timestamp. */
  arrivalTime: number;
  /** The broker re-sent it after an unacknowledged delivery (MQTT `DUP`); read by session formats. */
  redelivered?: boolean;
  /**
   * Transport identity of the message (Kafka `topic/partition/offset`; MQTT a hash of topic and
   * payload), for `record_key`; read only for rows whose time is the arrival time (may be a getter).
   */
  readonly identity: string;
}

/** A validated row of a source's table. */
export interface SourceRow {
  deviceId: string;
  /** Epoch ms (fractional to the µs). */
  eventTime: number;
  timeOrigin: 'payload' | 'arrival';
  recordKey: string;
  /** Measurement values in declaration order: numbers, strings, booleans, epoch ms (timestamptz), JSON text (jsonb), or null. */
  values: Array<number | string | boolean | null>;
  /** Undeclared fields as JSON text, or null. */
  attributes: string | null;
  /** Measurements outside their declared range (kept), or null. */
  outOfRange: string[] | null;
}

/** A device that came online or went offline (a session format's birth or death), by the source's device id. */
export interface MappedConnection {
  deviceId: string;
  online: boolean;
  /** Epoch ms. */
  at: number;
  /** What said so, e.g. `NBIRTH`, `NDEATH`. */
  cause: string;
}

/** What mapping a batch gives. */
export interface MappedBatch {
  rows: SourceRow[];
  /** Messages to dead-letter, by index into the batch. */
  rejected: Rejected[];
  /**
   * For a format with a session (Sparkplug B): state to store in the batch's transaction, messages to
   * publish after it commits, and connection changes; see `formats/index.ts` `FormatSession`.
   */
  session?: { state: SessionEffects['state']; publish: MqttOutgoing[]; connections: MappedConnection[] };
}

/** A measurement as compiled. */
export interface CompiledMeasurement {
  name: string;
  type: MeasurementType;
  declaration: MeasurementDeclaration;
}

/** A compiled source; see the module comment. */
export interface CompiledSource {
  declaration: SourceDeclaration;
  name: string;
  /**
   * What its rows and dead letters carry as `source`: the source's name, or for a template
   * (`template: true`) the stream's own source name. @default the name
   */
  source: string;
  /** Dead-letter kind of its letters (`source:<name>`). */
  kind: string;
  /** Table in the `ingest` schema (unquoted, validated identifier). */
  table: string;
  measurements: CompiledMeasurement[];
  /** MQTT subscription filter, when the transport is MQTT. */
  mqttFilter?: string;
  /** True when mapping needs `await` (a JSONata expression is declared). */
  async: boolean;
  /** Maps a batch (synchronously when {@link async} is false: the returned value is then not a promise). */
  map(messages: SourceMessage[], now: number): MappedBatch | Promise<MappedBatch>;
  /** The format's session, for formats that are protocols with sessions (Sparkplug B): restore its state before the first batch. */
  session?: FormatSession;
}

/** A part of a declaration that cannot be compiled: `path` names the field, as in the file. */
export class SourceCompileError extends Error {
  override readonly name = 'SourceCompileError';
  constructor(
    readonly path: Array<string | number>,
    message: string,
  ) {
    super(message);
  }
}

type Ctx = { record: PayloadRecord; message: SourceMessage; topic: Record<string, string>; expr: unknown[] };
type Getter = (c: Ctx) => unknown;

const keyDecoder = new TextDecoder();

/** A getter for a dotted path (`a.b.0`): direct property reads. */
function pathGetter(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) {
    const k = parts[0]!;
    return (c) => c.record[k];
  }
  return (c) => {
    let v: unknown = c.record;
    for (const p of parts) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[p];
    }
    return v;
  };
}

const describe = (v: unknown) => describeValue(v, 60);

type Reject = { code: DeadLetterCode; reason: string };
type Value = number | string | boolean | null;
/** Reads one measurement value: the value, or a rejection. */
type Reader = (v: unknown) => Value | Reject;

const BOOL_STRINGS: Record<string, boolean> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
  yes: true,
  no: false,
  on: true,
  off: false,
};
const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
const INTEGER = /^\s*[-+]?\d+\s*$/;

function isReject(v: unknown): v is Reject {
  return typeof v === 'object' && v !== null && 'code' in v && 'reason' in v;
}

function reader(name: string, m: MeasurementDeclaration, textual: boolean): Reader {
  const coerce = m.coerce || textual;
  const mul = m.scale?.multiply ?? 1;
  const add = m.scale?.add ?? 0;
  const scaled = mul !== 1 || add !== 0;
  const bad = (v: unknown, what: string): Reject => ({
    code: 'schema',
    reason: `${name}: expected ${what}, received ${typeof v === 'string' ? `the string ${describe(v)}${coerce ? '' : ' (set coerce: true to accept numeric strings)'}` : `${kindOf(v)} ${describe(v)}`}`,
  });
  switch (m.type) {
    case 'double':
      return (v) => {
        let n: number;
        if (typeof v === 'number') n = v;
        else if (typeof v === 'string' && coerce && NUMERIC.test(v)) n = Number(v);
        else return bad(v, 'a number');
        return scaled ? n * mul + add : n;
      };
    case 'bigint':
      return (v) => {
        let n: number;
        if (typeof v === 'number' && Number.isInteger(v)) n = v;
        else if (typeof v === 'string' && coerce && INTEGER.test(v)) n = Number(v);
        else return bad(v, 'an integer');
        if (scaled) n = n * mul + add;
        if (!Number.isSafeInteger(n)) return { code: 'schema', reason: `${name}: ${describe(v)} is not an integer within ±2^53` };
        return n;
      };
    case 'boolean':
      return (v) => {
        if (typeof v === 'boolean') return v;
        if (coerce && (typeof v === 'string' || typeof v === 'number')) {
          const b = BOOL_STRINGS[String(v).trim().toLowerCase()];
          if (b !== undefined) return b;
        }
        return bad(v, 'a boolean');
      };
    case 'text':
      return (v) => {
        if (typeof v === 'string') return v;
        if (typeof v === 'number' || typeof v === 'boolean') return String(v);
        return bad(v, 'text');
      };
    case 'timestamptz': {
      const parse = compileTimeParser('auto');
      return (v) => {
        const t = parse(v);
        return t.ok ? t.epochMs : { code: 'schema', reason: `${name}: ${t.reason}` };
      };
    }
    case 'jsonb':
      return (v) => JSON.stringify(v) ?? null;
  }
}

/** The value getter of a `{ field | topic | key | header | expression }` block. */
function valueGetter(
  from: Record<string, unknown>,
  path: Array<string | number>,
  topic: TopicTemplate | undefined,
  exprs: jsonata.Expression[],
): { get: Getter; field?: string; segment?: string } {
  if (typeof from.field === 'string') return { get: pathGetter(from.field), field: from.field.split('.')[0] };
  if (typeof from.topic === 'string') {
    const name = from.topic;
    if (!topic) throw new SourceCompileError([...path, 'topic'], 'topic segments exist only on an MQTT source');
    if (!topic.names.includes(name)) {
      throw new SourceCompileError(
        [...path, 'topic'],
        `the topic has no segment {${name}}; it has ${topic.names.map((n) => `{${n}}`).join(', ') || 'none'}`,
      );
    }
    return { get: (c) => c.topic[name], segment: name };
  }
  if (from.key === true) return { get: (c) => (c.message.key ? keyDecoder.decode(c.message.key) : undefined) };
  if (typeof from.header === 'string') {
    const h = from.header;
    return { get: (c) => c.message.headers?.[h] };
  }
  if (typeof from.expression === 'string') {
    let e: jsonata.Expression;
    try {
      e = jsonata(from.expression);
    } catch (err) {
      const x = err as { message?: string; position?: number };
      throw new SourceCompileError(
        [...path, 'expression'],
        `is not a JSONata expression: ${x.message ?? String(err)}${x.position !== undefined ? ` (at character ${x.position})` : ''}`,
      );
    }
    const i = exprs.push(e) - 1;
    return { get: (c) => c.expr[i] };
  }
  throw new SourceCompileError(path, 'give one of field, topic, key, header or expression');
}

/**
 * Compiles a validated declaration.
 * @throws SourceCompileError naming the field (a bad topic template, time format, zone or expression, a topic segment the topic lacks)
 */
export function compileSource(d: SourceDeclaration, o: { source?: string } = {}): CompiledSource {
  let topic: TopicTemplate | undefined;
  if (d.mqtt) {
    try {
      topic = compileTopic(d.mqtt.topic);
    } catch (e) {
      if (e instanceof TopicTemplateError) throw new SourceCompileError(['mqtt', 'topic'], e.message);
      throw e;
    }
  }
  let format: PayloadFormat;
  try {
    format = compileFormat(d.format);
  } catch (e) {
    throw new SourceCompileError(['format'], (e as Error).message);
  }
  const exprs: jsonata.Expression[] = [];
  /** Top-level fields a plain path reads: not undeclared. */
  const consumed = new Set<string>(d.ignore);
  const device = valueGetter(d.device_id, ['device_id'], topic, exprs);
  if (device.field) consumed.add(device.field);
  /** Topic segments read as the device id or time: not attributes. */
  const usedSegments = new Set<string>();
  if (device.segment) usedSegments.add(device.segment);

  let time: { get: Getter; parse: TimeParser } | undefined;
  if (!('arrival' in d.event_time)) {
    const et = d.event_time;
    const g = valueGetter(et, ['event_time'], topic, exprs);
    if (g.field) consumed.add(g.field);
    if (g.segment) usedSegments.add(g.segment);
    try {
      time = { get: g.get, parse: compileTimeParser(et.format, et.zone) };
    } catch (e) {
      if (e instanceof TimeFormatError) throw new SourceCompileError(['event_time', e.field], e.message);
      throw e;
    }
  }

  const measurements: CompiledMeasurement[] = [];
  const readers: Array<{
    name: string;
    get: Getter;
    read: Reader;
    required: boolean;
    range?: [number | null, number | null];
    fallback: Value | undefined;
  }> = [];
  for (const [name, m] of Object.entries(d.measurements)) {
    if (m.type === 'bigint' && m.scale && (m.scale.multiply % 1 !== 0 || m.scale.add % 1 !== 0)) {
      throw new SourceCompileError(
        ['measurements', name, 'scale'],
        'a bigint measurement takes only an integer scale; declare type: double',
      );
    }
    if (m.range && m.type !== 'double' && m.type !== 'bigint') {
      throw new SourceCompileError(['measurements', name, 'range'], `a range applies to numbers; ${name} is ${m.type}`);
    }
    const from = m.expression ? { expression: m.expression } : { field: m.field ?? name };
    const g = valueGetter(from, ['measurements', name], topic, exprs);
    if (g.field) consumed.add(g.field);
    measurements.push({ name, type: m.type, declaration: m });
    const read = reader(name, m, format.textual);
    let fallback: Value | undefined;
    if (m.default !== undefined) {
      const x = read(m.default);
      if (isReject(x)) throw new SourceCompileError(['measurements', name, 'default'], `does not suit type ${m.type}: ${x.reason}`);
      fallback = x;
    }
    readers.push({ name, get: g.get, read, required: m.required, range: m.range, fallback });
  }
  const names = measurements.map((m) => m.name).join(', ');
  // `{source}` names the stream's source (bound by a template's stream, `bind.ts`), never an attribute.
  const topicNames = (topic?.names ?? []).filter((n) => !usedSegments.has(n) && n !== 'source');
  const usesExpr = exprs.length > 0;

  /** One record → a row, or a rejection. `now` for the future-timestamp check. */
  const mapRecord = (c: Ctx, index: number, now: number): SourceRow | Reject => {
    let rawId = device.get(c);
    if (typeof rawId === 'number' && Number.isFinite(rawId)) rawId = String(rawId);
    if (typeof rawId !== 'string' || !rawId.trim()) {
      return {
        code: 'schema',
        reason:
          rawId === undefined
            ? `device_id: missing (declared ${JSON.stringify(d.device_id)})`
            : `device_id: expected a non-empty string or a number, received ${kindOf(rawId)} ${describe(rawId)}`,
      };
    }
    if (rawId.length > 200) return { code: 'schema', reason: `device_id: longer than 200 characters` };
    let eventTime: number;
    let origin: SourceRow['timeOrigin'] = 'payload';
    if (time) {
      const raw = time.get(c);
      if (raw === undefined || raw === null) {
        origin = 'arrival';
        eventTime = c.message.arrivalTime;
      } else {
        const t = time.parse(raw);
        if (!t.ok) return { code: 'schema', reason: `event_time: ${t.reason}` };
        eventTime = t.epochMs;
        if (eventTime > now + MAX_FUTURE_SKEW_MS) {
          return { code: 'future_timestamp', reason: `event_time: ${new Date(eventTime).toISOString()} is more than 24 h in the future` };
        }
      }
    } else {
      origin = 'arrival';
      eventTime = c.message.arrivalTime;
    }
    const values: Value[] = new Array<Value>(readers.length);
    let present = 0;
    let outOfRange: string[] | null = null;
    for (let i = 0; i < readers.length; i++) {
      const r = readers[i]!;
      const v = r.get(c);
      if (v === undefined || v === null) {
        if (r.fallback !== undefined) {
          values[i] = r.fallback;
          continue;
        }
        if (r.required) return { code: 'schema', reason: `${r.name}: required, but missing` };
        values[i] = null;
        continue;
      }
      const x = r.read(v);
      if (isReject(x)) return x;
      values[i] = x;
      present++;
      if (r.range && typeof x === 'number') {
        const [lo, hi] = r.range;
        if ((lo !== null && x < lo) || (hi !== null && x > hi)) {
          if (d.out_of_range === 'dead_letter') {
            return {
              code: 'out_of_range',
              reason: `${r.name}: ${x} is outside its range [${lo ?? '-∞'}, ${hi ?? '∞'}] (out_of_range: dead_letter)`,
            };
          }
          (outOfRange ??= []).push(r.name);
        }
      }
    }
    if (!present) return { code: 'schema', reason: `no measurement: at least one of ${names} is required` };
    let attributes: string | null = null;
    // No prototype: a field named `__proto__` (JSON.parse makes it an own property) is kept like any other.
    const extra = Object.create(null) as Record<string, unknown>;
    let extras = 0;
    for (const k in c.record) {
      if (consumed.has(k)) continue;
      if (d.strict) {
        return {
          code: 'schema',
          reason: `${k}: not a declared field (strict: true); declare it as a measurement or set strict: false to keep it in attributes`,
        };
      }
      extra[k] = c.record[k];
      extras++;
    }
    for (const n of topicNames) {
      if (c.topic[n] !== undefined && !(n in extra)) {
        extra[n] = c.topic[n];
        extras++;
      }
    }
    if (extras) attributes = JSON.stringify(extra);
    return {
      deviceId: rawId,
      eventTime,
      timeOrigin: origin,
      recordKey: origin === 'payload' ? '' : index ? `${c.message.identity}#${index}` : c.message.identity,
      values,
      attributes,
      outOfRange,
    };
  };

  const topicOf = (m: SourceMessage): Record<string, string> | Reject => {
    if (!topic) return {};
    const t = m.topic === undefined ? undefined : topic.match(m.topic);
    return t ?? { code: 'topic', reason: `topic ${m.topic ?? '(none)'} does not match ${d.mqtt!.topic}` };
  };

  /** A message's topic segments and decoded records, or its rejection (pushed to `rejected`). */
  const decodeMessage = (
    m: SourceMessage,
    index: number,
    rejected: Rejected[],
  ): { t: Record<string, string>; records: PayloadRecord[] } | undefined => {
    const t = topicOf(m);
    if (isReject(t)) {
      rejected.push({ index, ...t });
      return undefined;
    }
    const dec = format.decode(m.payload, m);
    if (!dec.ok) {
      rejected.push({ index, code: dec.code, reason: dec.reason });
      return undefined;
    }
    return { t, records: dec.records };
  };

  const mapSync = (messages: SourceMessage[], now: number): MappedBatch => {
    const rows: SourceRow[] = [];
    const rejected: Rejected[] = [];
    for (let index = 0; index < messages.length; index++) {
      const m = messages[index]!;
      const dec = decodeMessage(m, index, rejected);
      if (!dec) continue;
      const ctx: Ctx = { record: {}, message: m, topic: dec.t, expr: [] };
      const n = dec.records.length;
      if (n === 1) {
        ctx.record = dec.records[0]!;
        const r = mapRecord(ctx, 0, now);
        if (isReject(r)) rejected.push({ index, code: r.code, reason: r.reason });
        else rows.push(r);
        continue;
      }
      // A message lands whole or is dead-lettered whole (a redrive then re-runs all of it).
      const mine: SourceRow[] = [];
      for (let i = 0; i < n; i++) {
        ctx.record = dec.records[i]!;
        const r = mapRecord(ctx, i, now);
        if (isReject(r)) {
          rejected.push({ index, code: r.code, reason: `record ${i + 1} of ${n}: ${r.reason}` });
          break;
        }
        mine.push(r);
      }
      if (mine.length === n) for (const r of mine) rows.push(r);
    }
    return { rows, rejected };
  };

  const mapAsync = async (messages: SourceMessage[], now: number): Promise<MappedBatch> => {
    const rows: SourceRow[] = [];
    const rejected: Rejected[] = [];
    for (let index = 0; index < messages.length; index++) {
      const m = messages[index]!;
      const dec = decodeMessage(m, index, rejected);
      if (!dec) continue;
      const { t } = dec;
      const n = dec.records.length;
      const bindings = { topic: t, key: m.key ? keyDecoder.decode(m.key) : undefined, headers: m.headers ?? {}, arrival: m.arrivalTime };
      const mine: SourceRow[] = [];
      for (let i = 0; i < n; i++) {
        const record = dec.records[i]!;
        const at = n > 1 ? `record ${i + 1} of ${n}: ` : '';
        let expr: unknown[];
        try {
          expr = await Promise.all(exprs.map((e) => e.evaluate(record, bindings)));
        } catch (e) {
          const x = e as { message?: string };
          rejected.push({ index, code: 'schema', reason: `${at}expression failed: ${x.message ?? String(e)}` });
          break;
        }
        const r = mapRecord({ record, message: m, topic: t, expr }, i, now);
        if (isReject(r)) {
          rejected.push({ index, code: r.code, reason: `${at}${r.reason}` });
          break;
        }
        mine.push(r);
      }
      if (mine.length === n) for (const r of mine) rows.push(r);
    }
    return { rows, rejected };
  };

  const session = format.session;
  /** Takes the session's effects of the batch just mapped, its connections by the source's device id. */
  const withSession = (b: MappedBatch): MappedBatch => {
    if (!session) return b;
    const e = session.takeEffects();
    const connections: MappedConnection[] = [];
    for (const c of e.connections) {
      const id = device.get({
        record: c.record,
        message: { payload: new Uint8Array(), arrivalTime: c.at, identity: '' },
        topic: {},
        expr: [],
      });
      const deviceId = typeof id === 'number' ? String(id) : id;
      if (typeof deviceId === 'string' && deviceId) connections.push({ deviceId, online: c.online, at: c.at, cause: c.cause });
    }
    b.session = { state: e.state, publish: e.publish, connections };
    return b;
  };
  let map: CompiledSource['map'] = usesExpr ? mapAsync : mapSync;
  if (session) {
    const inner = map;
    map = usesExpr
      ? async (messages, now) => withSession(await inner(messages, now))
      : (messages, now) => withSession(inner(messages, now) as MappedBatch);
  }

  return {
    declaration: d,
    name: d.name,
    source: o.source ?? d.name,
    kind: sourceKind(d.name),
    table: sourceTable(d),
    measurements,
    mqttFilter: topic?.filter,
    async: usesExpr,
    map,
    ...(session ? { session } : {}),
  };
}
