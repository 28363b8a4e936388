/**
 * Declared sources without servers: the shipped files and the payloads real producers send, every
 * timestamp form, tolerant and strict readers, coercion, CSV, JSONata, errors that name file:line,
 * SQL names that cannot escape the ingest schema, and a generated-input test of the mapping engine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { parse } from 'csv-parse/sync';
import { compileFormat } from '../src/sources/formats/index';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';
import type { SourceMessage } from '../src/sources/compile';
import { createStatements } from '../src/sources/table';
import { compileTimeParser } from '../src/sources/timestamps';
import { loadSources, parseSourceFile, SourceFileError, type LoadedSource } from '../src/sources/load';
import { messageMaker, payloadBytes } from './support/source-messages';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const msg = messageMaker(NOW, 'sensor_data_topic/0/42');
async function mapOne(s: LoadedSource, m: SourceMessage) {
  return s.map([m], NOW);
}

const shipped = loadSources(path.join(ROOT_DIR, 'sources'));

/** A source from YAML text (file name `t.yaml`). */
function source(yaml: string): LoadedSource {
  return parseSourceFile('sources/t.yaml', yaml);
}

const BASE = `name: t
mqtt: { topic: "sensors/{site}/{device}/data" }
device_id: { topic: device }
`;

describe('shipped sources and the payloads of the original producers', () => {
  it('lands the Python MQTT sensor (epoch seconds as a float) on sensors/data', async () => {
    const s = shipped.get('mqtt-sensor-data')!;
    expect(s.mqttFilter).toBe('sensors/data');
    const r = await mapOne(
      s,
      msg({ sensor_id: 'sensor_1', timestamp: 1764744000.123, temperature: 25.1, humidity: 40.2 }, { topic: 'sensors/data' }),
    );
    expect(r.rejected).toEqual([]);
    expect(r.rows).toEqual([
      {
        deviceId: 'sensor_1',
        eventTime: 1764744000123,
        timeOrigin: 'payload',
        recordKey: '',
        values: [25.1, 40.2],
        attributes: null,
        outOfRange: null,
      },
    ]);
  });

  it('lands the Kafka producer with a numeric id and no timestamp at the record time', async () => {
    const s = shipped.get('kafka-sensor-data')!;
    const r = await mapOne(s, msg({ sensor_id: 1, temperature: 25.4 }));
    expect(r.rows).toEqual([
      {
        deviceId: '1',
        eventTime: NOW - 1000,
        timeOrigin: 'arrival',
        recordKey: 'sensor_data_topic/0/42',
        values: [25.4],
        attributes: null,
        outOfRange: null,
      },
    ]);
  });

  it('lands the modem producer: numeric strings, memory in MB, naive local time in the declared zone', async () => {
    const s = shipped.get('modem-evg')!;
    const r = await mapOne(
      s,
      msg({
        model: 'EVG2000',
        deviceid: 'dvc1234',
        interface: 'eth4.1',
        interfacestatus: 'connected',
        cpuusage: '73',
        memoryusage: '1234',
        event_time: '2026-12-03 06:40:00',
      }),
    );
    expect(r.rejected).toEqual([]);
    // 06:40 in Berlin in December (CET, UTC+1) is 05:40 UTC; memory keeps its MB (no 0–100 % range).
    expect(r.rows[0]).toMatchObject({
      deviceId: 'dvc1234',
      eventTime: Date.parse('2026-12-03T05:40:00Z'),
      values: ['EVG2000', 'eth4.1', 'connected', 73, 1234],
    });
    expect(r.rows[0]!.outOfRange).toBeNull();
  });
});

describe('event times', () => {
  const at = (format: string, zone?: string) =>
    source(`${BASE}event_time: { field: t, format: "${format}"${zone ? `, zone: ${zone}` : ''} }\nmeasurements: { v: {} }\n`);
  const time = async (s: LoadedSource, t: unknown) => {
    const r = await mapOne(s, msg({ t, v: 1 }, { topic: 'sensors/lab/d1/data' }));
    if (r.rejected.length) return r.rejected[0]!.reason;
    return new Date(r.rows[0]!.eventTime).toISOString();
  };

  it('reads epoch s (float), ms, µs and ns, by declaration and by magnitude', async () => {
    const iso = '2026-12-03T06:40:00.123Z';
    const ms = Date.parse(iso);
    expect(await time(at('epoch_s'), ms / 1000)).toBe(iso);
    expect(await time(at('epoch_ms'), ms)).toBe(iso);
    expect(await time(at('epoch_us'), ms * 1000)).toBe(iso);
    expect(await time(at('epoch_ns'), `${ms}000000`)).toBe(iso);
    const auto = at('auto');
    for (const v of [ms / 1000, ms, ms * 1000, ms * 1e6, String(ms)]) expect(await time(auto, v)).toBe(iso);
  });

  it('reads ISO 8601 with an offset, and without one in the declared zone', async () => {
    expect(await time(at('iso8601'), '2026-12-03T07:40:00+01:00')).toBe('2026-12-03T06:40:00.000Z');
    expect(await time(at('iso8601'), '2026-12-03T06:40:00')).toBe('2026-12-03T06:40:00.000Z');
    expect(await time(at('iso8601', 'America/New_York'), '2026-12-03T06:40:00')).toBe('2026-12-03T11:40:00.000Z');
    expect(await time(at('iso8601'), 'yesterday')).toMatch(/^event_time: "yesterday" is not an ISO 8601 time/);
  });

  it('reads naive local times with a pattern and an IANA zone, across DST gaps and folds', async () => {
    const s = at('dd/MM/yyyy HH:mm', 'Europe/Berlin');
    expect(await time(s, '03/12/2026 06:40')).toBe('2026-12-03T05:40:00.000Z');
    expect(await time(s, '03/07/2026 06:40')).toBe('2026-07-03T04:40:00.000Z');
    // 29 March 2026 02:30 does not exist in Berlin (clocks jump 02:00 → 03:00): it moves forward by the gap.
    expect(await time(s, '29/03/2026 02:30')).toBe('2026-03-29T01:30:00.000Z');
    // 25 October 2026 02:30 happens twice: the later one (CET, UTC+1, after the clocks went back) is taken.
    expect(await time(s, '25/10/2026 02:30')).toBe('2026-10-25T01:30:00.000Z');
    expect(await time(s, '2026-12-03 06:40')).toMatch(/does not match the format dd\/MM\/yyyy HH:mm/);
  });

  it('reads the common ISO forms directly exactly as Luxon reads them (generated times, offsets, fractions)', () => {
    const utc = compileTimeParser('iso8601');
    const berlin = compileTimeParser('iso8601', 'Europe/Berlin');
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.constantFrom('Z', '+01:00', '-05:30', '+14:00', ''),
        fc.constantFrom('', '.5', '.123', '.120'),
        fc.constantFrom('T', ' '),
        (d, offset, fraction, sep) => {
          const s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}${sep}${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction}${offset}`;
          const luxon = (zone: string) => {
            const t = DateTime.fromISO(s.replace(' ', 'T'), { zone });
            return t.toMillis();
          };
          expect(utc(s)).toEqual({ ok: true, epochMs: luxon('UTC') });
          expect(berlin(s)).toEqual({ ok: true, epochMs: luxon('Europe/Berlin') });
        },
      ),
      { numRuns: 2000 },
    );
    expect(utc('2026-12-03T06:40:00.123456Z')).toEqual({ ok: true, epochMs: Date.parse('2026-12-03T06:40:00.123Z') + 0.456 });
    expect(utc('2026-02-30T00:00:00Z')).toMatchObject({ ok: false });
    expect(utc('2024-02-29T00:00:00Z')).toEqual({ ok: true, epochMs: Date.parse('2024-02-29T00:00:00Z') });
  });

  it('takes the arrival time when the payload has none, and says so', async () => {
    const r = await mapOne(at('auto'), msg({ v: 1 }, { topic: 'sensors/lab/d1/data', identity: 'h1' }));
    expect(r.rows[0]).toMatchObject({ eventTime: NOW - 1000, timeOrigin: 'arrival', recordKey: 'h1' });
  });

  it('rejects times more than a day ahead as future_timestamp', async () => {
    const r = await mapOne(at('epoch_ms'), msg({ t: NOW + 2 * 86_400_000, v: 1 }, { topic: 'sensors/lab/d1/data' }));
    expect(r.rejected[0]).toMatchObject({ code: 'future_timestamp' });
  });

  it('refuses an unknown zone or a pattern without date tokens at load, naming the line', () => {
    expect(() => at('auto', 'Mars/Olympus')).toThrow(/sources\/t\.yaml:4:\d+: event_time\.zone: "Mars\/Olympus" is not an IANA time zone/);
    expect(() => at('whenever')).toThrow(/event_time\.format: "whenever" is neither auto/);
  });
});

describe('tolerant reader, strict, coercion, formats', () => {
  const s = source(`${BASE}measurements:
  temperature: { type: double, unit: degC, range: [-40, 85] }
  count: { type: bigint }
  ok: { type: boolean, coerce: true }
  level: { type: double, coerce: true, scale: { multiply: 0.1 } }
`);
  const topic = 'sensors/lab/d1/data';

  it('keeps undeclared fields and the named topic segments in attributes', async () => {
    const r = await mapOne(s, msg({ temperature: 20, firmware: '1.2.3', battery: { pct: 80 } }, { topic }));
    expect(JSON.parse(r.rows[0]!.attributes!)).toEqual({ firmware: '1.2.3', battery: { pct: 80 }, site: 'lab' });
  });

  it('keeps an undeclared field named __proto__ as data', async () => {
    const r = await mapOne(s, msg('{"temperature": 20, "__proto__": {"x": 1}, "constructor": "c"}', { topic }));
    expect(JSON.parse(r.rows[0]!.attributes!)).toEqual(JSON.parse('{"__proto__": {"x": 1}, "constructor": "c", "site": "lab"}'));
  });

  it('with strict: true dead-letters an undeclared field, naming it', async () => {
    const strict = source(`${BASE}strict: true\nmeasurements: { temperature: {} }\n`);
    const r = await mapOne(strict, msg({ temperature: 20, firmware: '1.2.3' }, { topic }));
    expect(r.rejected[0]?.code).toBe('schema');
    expect(r.rejected[0]?.reason).toMatch(/^firmware: not a declared field \(strict: true\)/);
  });

  it('coerces numeric strings only where declared', async () => {
    const ok = await mapOne(s, msg({ level: '73', ok: 'true' }, { topic }));
    expect(ok.rows[0]!.values).toEqual([null, null, true, 7.300000000000001]);
    const bad = await mapOne(s, msg({ temperature: '21.5' }, { topic }));
    expect(bad.rejected[0]!.reason).toBe(
      'temperature: expected a number, received the string "21.5" (set coerce: true to accept numeric strings)',
    );
    const int = await mapOne(s, msg({ count: 1.5 }, { topic }));
    expect(int.rejected[0]!.reason).toBe('count: expected an integer, received number 1.5');
  });

  it('flags out-of-range values and keeps them, or dead-letters them when declared', async () => {
    const r = await mapOne(s, msg({ temperature: 120 }, { topic }));
    expect(r.rows[0]).toMatchObject({ values: [120, null, null, null], outOfRange: ['temperature'] });
    const dl = source(`${BASE}out_of_range: dead_letter\nmeasurements: { temperature: { range: [-40, 85] } }\n`);
    expect((await mapOne(dl, msg({ temperature: 120 }, { topic }))).rejected[0]).toMatchObject({ code: 'out_of_range' });
  });

  it('dead-letters a topic outside the template and a payload without any measurement', async () => {
    const r = await s.map([msg({ temperature: 1 }, { topic: 'sensors/lab/d1' }), msg({ other: 1 }, { topic })], NOW);
    expect(r.rejected).toEqual([
      { index: 0, code: 'topic', reason: 'topic sensors/lab/d1 does not match sensors/{site}/{device}/data' },
      { index: 1, code: 'schema', reason: 'no measurement: at least one of temperature, count, ok, level is required' },
    ]);
  });

  it('reads CSV with a header row or declared columns; a bad line dead-letters its whole message', async () => {
    const csv = source(`name: csv-t
mqtt: { topic: "lab/csv" }
format: { type: csv }
device_id: { field: id }
event_time: { field: ts, format: epoch_s }
measurements: { temperature: {}, humidity: {} }
`);
    const r = await mapOne(csv, msg('id,ts,temperature,humidity\nd1,1764744000,21.5,40\nd2,1764744001,,41\n', { topic: 'lab/csv' }));
    expect(r.rows.map((x) => [x.deviceId, x.values])).toEqual([
      ['d1', [21.5, 40]],
      ['d2', [null, 41]],
    ]);
    const bad = await mapOne(csv, msg('id,ts,temperature,humidity\nd1,1764744000,21.5,40\nd2,1764744001,warm,41\n', { topic: 'lab/csv' }));
    expect(bad.rows).toEqual([]);
    expect(bad.rejected[0]!.reason).toBe('record 2 of 2: temperature: expected a number, received the string "warm"');
    const cols = source(`name: csv-c
mqtt: { topic: "lab/csv" }
format: { type: csv, header: false, columns: [id, temperature], delimiter: ";" }
device_id: { field: id }
measurements: { temperature: {} }
`);
    expect((await mapOne(cols, msg('d1;21,5', { topic: 'lab/csv' }))).rejected[0]!.reason).toMatch(/temperature: expected a number/);
    expect((await mapOne(cols, msg('d1;21.5', { topic: 'lab/csv' }))).rows[0]!.values).toEqual([21.5]);
  });

  it('evaluates JSONata expressions with the topic and key bound', async () => {
    const j = source(`${BASE}measurements:
  temperature_f: { expression: "temperature_c * 9 / 5 + 32" }
  site_name: { type: text, expression: "$uppercase($topic.site)" }
  temperature_c: {}
`);
    expect(j.async).toBe(true);
    const r = await mapOne(j, msg({ temperature_c: 20 }, { topic }));
    expect(r.rows[0]!.values).toEqual([68, 'LAB', 20]);
    expect(() => source(`${BASE}measurements: { x: { expression: "a +" } }\n`)).toThrow(
      /measurements\.x\.expression: is not a JSONata expression/,
    );
  });
});

describe('source files: errors name the file, line and field; SQL names stay in the ingest schema', () => {
  it('points at the line of a wrong field and says what to do', () => {
    let err: SourceFileError | undefined;
    try {
      source(`${BASE}measurements:\n  temperature:\n    type: float\n`);
    } catch (e) {
      err = e as SourceFileError;
    }
    expect(err).toBeInstanceOf(SourceFileError);
    expect(err!.problems[0]).toMatchObject({ file: 'sources/t.yaml', line: 6, field: 'measurements.temperature.type' });
    expect(err!.message).toMatch(
      /^sources\/t\.yaml:6:11: measurements\.temperature\.type: Invalid option: expected one of "double"\|"bigint"/,
    );
  });

  it('refuses table and column names that are not plain identifiers, and the project’s own tables', () => {
    expect(() => source(`${BASE}table: 'public.x'\nmeasurements: { v: {} }\n`)).toThrow(/table: table must be a lower-case SQL identifier/);
    expect(() => source(`${BASE}table: 'x"; DROP TABLE ingest.batches; --'\nmeasurements: { v: {} }\n`)).toThrow(
      /table must be a lower-case SQL identifier/,
    );
    expect(() => source(`${BASE}measurements: { 'a"b': {} }\n`)).toThrow(/a measurement name must be a lower-case SQL identifier/);
    expect(() => source(`${BASE}table: dead_letters\nmeasurements: { v: {} }\n`)).toThrow(
      /ingest\.dead_letters is one of the project's own tables/,
    );
    expect(() => source(`${BASE}measurements: { batch_id: {} }\n`)).toThrow(/is a column every source table has/);
    // Every statement names the ingest schema and quotes the identifiers.
    for (const st of createStatements(source(`${BASE}measurements: { v: {} }\n`))) expect(st).toMatch(/ingest\."t"/);
  });

  it('lists the problems of every file of a folder, and refuses duplicate names', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sources-'));
    fs.writeFileSync(path.join(dir, 'a.yaml'), `${BASE}measurements: { v: {} }\n`);
    fs.writeFileSync(path.join(dir, 'b.yaml'), `${BASE}measurements: { v: {} }\n`);
    fs.writeFileSync(path.join(dir, 'c.yaml'), 'name: c\nmqtt: { topic: x }\n');
    expect(() => loadSources(dir)).toThrow(/b\.yaml: name: t is already declared in .*a\.yaml[\s\S]*c\.yaml:1:1: device_id/);
  });
});

describe('mapping engine on generated input', () => {
  const s = source(`${BASE}event_time: { field: ts }
measurements:
  temperature: { range: [-40, 85] }
  count: { type: bigint, coerce: true }
  label: { type: text }
  on: { type: boolean, coerce: true }
  raw: { type: jsonb }
  at: { type: timestamptz }
`);
  const codes = new Set(['oversized', 'invalid_utf8', 'not_json', 'schema', 'non_finite', 'future_timestamp', 'topic', 'out_of_range']);
  const check = async (messages: SourceMessage[]) => {
    const r = await s.map(messages, NOW);
    for (const x of r.rejected) {
      expect(codes.has(x.code)).toBe(true);
      expect(x.reason.length).toBeGreaterThan(3);
    }
    // Every message is either a row or a dead letter (one record per JSON object).
    expect(r.rows.length + r.rejected.length).toBe(messages.length);
    const ids = new Set(r.rejected.map((x) => x.index));
    expect(ids.size).toBe(r.rejected.length);
  };

  it('never throws and gives every rejected payload a reason (objects of any shape)', async () => {
    const value = fc.oneof(fc.jsonValue(), fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null));
    const record = fc.record(
      {
        ts: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.double(),
          fc.string(),
          fc.integer(),
        ),
        temperature: value,
        count: value,
        label: value,
        on: value,
        raw: fc.jsonValue(),
        at: value,
        extra: value,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 20 }),
        fc.constantFrom('sensors/lab/d1/data', 'sensors/x', 'sensors/a/b/data/c'),
        async (recs, topic) => {
          await check(recs.map((r) => msg(r, { topic })));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), async (payloads) => {
        await check(payloads.map((p) => ({ payload: p, topic: 'sensors/lab/d1/data', arrivalTime: NOW, identity: 'x' })));
      }),
      { numRuns: 300 },
    );
  });
});

describe('CSV without quotes', () => {
  it('splits into the same records csv-parse reads (generated lines, spaces, empty cells and lines)', () => {
    const cell = fc.stringMatching(/^[A-Za-z0-9 .:_-]{0,8}$/);
    fc.assert(
      fc.property(
        fc.constantFrom(',', ';', '\t', '|'),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.oneof(fc.constant(null), fc.array(cell, { minLength: 5, maxLength: 5 })), { maxLength: 6 }),
        (delimiter, width, lines) => {
          const header = Array.from({ length: width }, (_, i) => `c${i}`);
          const text = [header.join(delimiter), ...lines.map((l) => (l === null ? '   ' : l.slice(0, width).join(delimiter)))].join('\n');
          const decoded = compileFormat({ type: 'csv', delimiter, header: true, columns: undefined }).decode(payloadBytes(text));
          const rows: string[][] = parse(text, { delimiter, skip_empty_lines: true, trim: true, bom: true });
          const body = rows.slice(1);
          if (!body.length) {
            expect(decoded).toMatchObject({ ok: false, reason: 'no data line' });
          } else {
            const expected = body.map((r) =>
              Object.fromEntries(r.map((v, i): [string, string] => [header[i]!, v]).filter(([, v]) => v !== '')),
            );
            expect(decoded).toEqual({ ok: true, records: expected });
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('README examples', () => {
  it('every source file in "Connect your own devices" loads, and the CSV one maps its sample line', async () => {
    const readme = fs.readFileSync(path.join(ROOT_DIR, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Connect your own devices'), readme.indexOf('## From Airflow'));
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBe(4);
    const loaded = blocks.map((b, i) => parseSourceFile(`README.md block ${i + 1}`, b));
    // The shipped files are the ones the README shows.
    const withoutDescriptions = (v: unknown) =>
      JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'description' ? undefined : x))) as unknown;
    expect(withoutDescriptions(loaded[0]!.declaration)).toEqual(withoutDescriptions(shipped.get('mqtt-sensor-data')!.declaration));
    expect(withoutDescriptions(loaded[2]!.declaration)).toEqual(withoutDescriptions(shipped.get('modem-evg')!.declaration));
    // The Sparkplug one is the shipped file abridged: the same stream, format, mapping and key, some of its measurements.
    const sparkplug = loaded[3]!.declaration;
    const full = shipped.get('sparkplug-plant')!.declaration;
    for (const k of ['name', 'mqtt', 'format', 'device_id', 'event_time', 'key'] as const) expect(sparkplug[k]).toEqual(full[k]);
    for (const [name, m] of Object.entries(sparkplug.measurements)) {
      expect(withoutDescriptions(m)).toEqual(withoutDescriptions(full.measurements[name]));
    }
    const csv = loaded[1]!;
    const r = await mapOne(csv, msg('station,time,CO(GT),T,RH\nrome-1,2004-03-10 18:00,2.6,13.6,48.9\n', { topic: 'stations/rome/csv' }));
    expect(r.rejected).toEqual([]);
    expect(r.rows[0]).toMatchObject({ deviceId: 'rome-1', eventTime: Date.parse('2004-03-10T17:00:00Z'), values: [2.6, 13.6, 56.48] });
    expect(JSON.parse(r.rows[0]!.attributes!)).toEqual({ RH: '48.9', site: 'rome' });
  });
});
