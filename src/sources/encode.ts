/**
 * The row encoder of a declared source: its table as a COPY target and its rows in PostgreSQL's binary
 * COPY format (`db/copy-binary.ts`), with the per-device summaries and the event-time range the batch
 * writer records (`ingest/record-encoding.ts` `EncodedRecords`). Built once per compiled source.
 */
import { BinaryCopyWriter } from '../db/copy-binary';
import type { DeviceSummary, EncodedRecords, TableTarget } from '../ingest/record-encoding';
import type { CompiledSource, SourceRow } from './compile';
import { DEFAULT_KEY, sourceKey, type MeasurementType } from './declaration';
import { quoteIdent } from '../modelrunner/identifiers';

/** The columns every source table has before its measurements, in COPY order. */
export const LEADING_COLUMNS = ['source', 'device_id', 'event_time', 'time_origin', 'record_key'] as const;
/** The columns every source table has after its measurements, in COPY order. */
export const TRAILING_COLUMNS = ['attributes', 'out_of_range', 'batch_id'] as const;
/**
 * The natural key of a source table, time first: inserts land at the right edge of the key index, as
 * for `ingest.modem_telemetry` (migration 070: about half the PostgreSQL CPU per row of a device-first
 * key, measured in `npm run bench`).
 */
export const SOURCE_KEY = DEFAULT_KEY;

/** The COPY target of a source's table. */
export function sourceTarget(s: Pick<CompiledSource, 'table' | 'measurements' | 'declaration'>): TableTarget {
  return {
    table: `ingest.${quoteIdent(s.table)}`,
    columns: [...LEADING_COLUMNS, ...s.measurements.map((m) => m.name), ...TRAILING_COLUMNS].map((c) => quoteIdent(c)),
    key: sourceKey(s.declaration)
      .map((c) => quoteIdent(c))
      .join(', '),
    stage: `ingest_${s.table}_stage`.slice(0, 63),
  };
}

type Write = (w: BinaryCopyWriter, v: number | string | boolean) => void;

const WRITERS: Record<MeasurementType, Write> = {
  double: (w, v) => w.float8(v as number),
  bigint: (w, v) => w.int8(v as number),
  boolean: (w, v) => w.bool(v as boolean),
  text: (w, v) => w.text(v as string),
  timestamptz: (w, v) => w.timestamptz(v as number),
  jsonb: (w, v) => w.jsonb(v as string),
};

/** A compiled source's row encoder: rows → the batch writer's encoded records. */
export type SourceEncoder = (rows: SourceRow[], batchId: number) => EncodedRecords;

/** Builds the encoder of `s`. */
export function compileEncoder(
  s: Pick<CompiledSource, 'name' | 'source' | 'kind' | 'table' | 'measurements' | 'declaration'>,
): SourceEncoder {
  const target = sourceTarget(s);
  const writers = s.measurements.map((m) => WRITERS[m.type]);
  const fields = LEADING_COLUMNS.length + writers.length + TRAILING_COLUMNS.length;
  const names = s.measurements.map((m) => m.name);
  const jsonb = s.measurements.map((m) => m.type === 'jsonb');
  const source = s.source;
  // `ingest.device_status.kind`: the source file's name (`sensor`, `gps`, `mqtt-sensor-data`, …).
  const deviceKind = s.name;
  return (rows, batchId) => {
    const w = new BinaryCopyWriter(rows.length * 160);
    let first = Infinity;
    let last = -Infinity;
    const devices = new Map<string, { d: DeviceSummary; newest: SourceRow }>();
    for (const r of rows) {
      w.row(fields).text(source).text(r.deviceId).timestamptz(r.eventTime).text(r.timeOrigin).text(r.recordKey);
      for (let i = 0; i < writers.length; i++) {
        const v = r.values[i];
        if (v === null || v === undefined) w.null();
        else writers[i]!(w, v);
      }
      if (r.attributes === null) w.null();
      else w.jsonb(r.attributes);
      if (r.outOfRange === null) w.null();
      else w.textArray(r.outOfRange);
      w.int8(batchId);
      if (r.eventTime < first) first = r.eventTime;
      if (r.eventTime > last) last = r.eventTime;
      const e = devices.get(r.deviceId);
      if (!e) {
        devices.set(r.deviceId, {
          d: { source, deviceId: r.deviceId, count: 1, firstEventTime: r.eventTime, lastEventTime: r.eventTime, kind: deviceKind },
          newest: r,
        });
        continue;
      }
      e.d.count++;
      if (r.eventTime < e.d.firstEventTime) e.d.firstEventTime = r.eventTime;
      if (r.eventTime >= e.d.lastEventTime) {
        e.d.lastEventTime = r.eventTime;
        e.newest = r;
      }
    }
    const out: DeviceSummary[] = [];
    for (const { d, newest } of devices.values()) {
      const latest: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) {
        const v = newest.values[i] ?? null;
        latest[names[i]!] = jsonb[i] && typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
      }
      d.latest = latest as DeviceSummary['latest'];
      out.push(d);
    }
    out.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    return {
      tables: rows.length ? [{ kind: s.kind, target, data: w.finish() }] : [],
      valid: rows.length,
      devices: out,
      firstEvent: rows.length ? first : null,
      lastEvent: rows.length ? last : null,
    };
  };
}
