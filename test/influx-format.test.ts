/**
 * `format: influx` without servers: the escaping examples of the InfluxDB v2 line protocol reference,
 * every field type, precisions and exact µs event times, comments and blank lines, rejections naming
 * the line and field, integers beyond 2^53, `namepass`, and generated points through a serializer and
 * back (round trip), plus arbitrary text that must never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFormat } from '../src/sources/formats/index';
import {
  influxTimestampToMs,
  LineProtocolError,
  parseLineProtocol,
  serializeLineProtocol,
  type InfluxPoint,
  type InfluxPrecision,
} from '../src/sources/formats/influx';
import { parseSourceFile } from '../src/sources/load';
import { messageMaker, payloadBytes } from './support/source-messages';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const msg = messageMaker(NOW, 'telegraf/0/1');
const plain = (p: InfluxPoint) => JSON.parse(JSON.stringify(p)) as unknown;
const lp = (text: string, precision?: InfluxPrecision) => parseLineProtocol(text, precision).map(plain);

describe('line protocol: the reference examples', () => {
  it('reads measurement, tag set, field set and timestamp', () => {
    expect(lp('myMeasurement,tag1=value1,tag2=value2 fieldKey="fieldValue" 1556813561098000000')).toEqual([
      {
        measurement: 'myMeasurement',
        tags: { tag1: 'value1', tag2: 'value2' },
        fields: { fieldKey: 'fieldValue' },
        timestamp: 1556813561098,
      },
    ]);
  });

  it('unescapes commas, spaces and equals signs where the reference escapes them', () => {
    expect(lp('my\\ Measurement fieldKey="string value"')).toEqual([
      { measurement: 'my Measurement', tags: {}, fields: { fieldKey: 'string value' } },
    ]);
    expect(lp('myMeasurement,tag\\ Key1=tag\\ Value1,tag\\ Key2=tag\\ Value2 fieldKey=100')).toEqual([
      { measurement: 'myMeasurement', tags: { 'tag Key1': 'tag Value1', 'tag Key2': 'tag Value2' }, fields: { fieldKey: 100 } },
    ]);
    expect(lp('my\\,Measurement,tag\\=key=a\\,b field\\ \\=key=1i')).toEqual([
      { measurement: 'my,Measurement', tags: { 'tag=key': 'a,b' }, fields: { 'field =key': 1 } },
    ]);
    // An equals sign needs no escape in a measurement; a backslash before other characters is literal.
    expect(lp('a=b,path=C:\\Users f=1')).toEqual([{ measurement: 'a=b', tags: { path: 'C:\\Users' }, fields: { f: 1 } }]);
    expect(lp('myMeasurement,tagKey=🍭 fieldKey="Launch 🚀" 1556813561098000000')[0]).toMatchObject({
      tags: { tagKey: '🍭' },
      fields: { fieldKey: 'Launch 🚀' },
    });
  });

  it('unescapes double quotes and backslashes in string fields (the reference table of backslashes)', () => {
    expect(lp('m fieldKey="\\"string\\" within a string"')[0]).toMatchObject({ fields: { fieldKey: '"string" within a string' } });
    const s = (raw: string) => (parseLineProtocol(`m f="${raw}"`)[0]!.fields.f as string).length;
    // Line protocol \ \\ \\\ \\\\ \\\\\ (before the closing quote: no lone trailing one) → 1, 1, 2, 2, 3 backslashes.
    expect(['\\x', '\\\\', '\\\\\\x', '\\\\\\\\', '\\\\\\\\\\x'].map((r) => s(r) - (r.endsWith('x') ? 1 : 0))).toEqual([1, 1, 2, 2, 3]);
  });

  it('reads every field type', () => {
    const [p] = parseLineProtocol(
      'm f1=1,f2=-1.5,f3=1e-3,f4=.5,f5=-12i,f6=12u,f7="s",b1=t,b2=T,b3=true,b4=True,b5=TRUE,b6=f,b7=F,b8=false,b9=False,b10=FALSE,big=1.5E+10',
    );
    expect(plain(p!)).toEqual({
      measurement: 'm',
      tags: {},
      fields: {
        f1: 1,
        f2: -1.5,
        f3: 0.001,
        f4: 0.5,
        f5: -12,
        f6: 12,
        f7: 's',
        b1: true,
        b2: true,
        b3: true,
        b4: true,
        b5: true,
        b6: false,
        b7: false,
        b8: false,
        b9: false,
        b10: false,
        big: 1.5e10,
      },
    });
  });

  it('skips comments and blank lines, reads CRLF, and numbers lines for its errors', () => {
    const text = '# a comment\n\n  cpu,host=a usage=1 10\r\n   # another\ncpu,host=b usage=2 20\n\n';
    expect(lp(text, 's').map((p) => (p as { timestamp: number }).timestamp)).toEqual([10_000, 20_000]);
    expect(() => parseLineProtocol('# c\n\ncpu f=1\ncpu f=oops\n')).toThrowError(/^line 4, column 7: field f: "oops" is not a field value/);
    // A string field may span lines: the count follows.
    expect(() => parseLineProtocol('m s="a\nb"\nm f=\n')).toThrowError(/^line 3, column 5: field f: has no value/);
  });

  it('rejects what is not line protocol, naming the line, column and element', () => {
    const err = (t: string) => {
      try {
        parseLineProtocol(t);
      } catch (e) {
        expect(e).toBeInstanceOf(LineProtocolError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(err('cpu')).toBe('line 1, column 4: field set: missing: a line needs at least one field after a space');
    expect(err('cpu,host f=1')).toBe('line 1, column 9: tag host: expected = and a value');
    expect(err('cpu,host= f=1')).toBe('line 1, column 10: tag host: is empty');
    expect(err('cpu f="abc')).toBe('line 1, column 7: field f: the string has no closing double quote');
    expect(err('cpu f=1 12x')).toMatch(/^line 1, column 9: timestamp: "12x" is not an integer timestamp/);
    expect(err('cpu f=1 1 2')).toMatch(/^line 1, column 11: timestamp: unexpected "2"/);
    expect(err('cpu f=1ii')).toMatch(/field f: "1ii" is not an integer \(digits, then i\)/);
    expect(err('cpu f=NaN')).toMatch(/field f: "NaN" is not a field value/);
    expect(err('cpu f=1e999')).toBe('line 1, column 7: field f: 1e999 is outside the range of a 64-bit float');
    expect(err('cpu f=9223372036854775808i')).toMatch(/outside the signed 64-bit range/);
    expect(err('cpu f=-1u')).toMatch(/is not an unsigned integer/);
    expect(err('cpu f=18446744073709551616u')).toMatch(/outside the unsigned 64-bit range/);
    expect(err('cpu f="a\u0000"')).toMatch(/NUL/);
  });
});

describe('timestamps and precision', () => {
  it('turns each precision into epoch ms with the µs as fraction, exactly (ns rounded half up)', () => {
    expect(influxTimestampToMs('1764744000123456789', 'ns')).toBe(1764744000123.457);
    expect(influxTimestampToMs('1764744000123456499', 'ns')).toBe(1764744000123.456);
    expect(influxTimestampToMs('1764744000123456', 'us')).toBe(1764744000123.456);
    expect(influxTimestampToMs('1764744000123', 'ms')).toBe(1764744000123);
    expect(influxTimestampToMs('1764744000', 's')).toBe(1764744000000);
    expect(influxTimestampToMs('-1500', 'ns')).toBe(-0.001);
    expect(influxTimestampToMs('9223372036854775807', 's')).toMatch(/outside the range of event times/);
  });

  it('feeds event_time to the µs through a source file (what timestamptz keeps)', async () => {
    const s = parseSourceFile(
      'sources/t.yaml',
      `name: t
mqtt: { topic: 'telegraf/{host}/cpu' }
format: { type: influx, precision: ns }
device_id: { field: tags.cpu }
event_time: { field: timestamp, format: epoch_ms }
measurements:
  usage_idle: { field: fields.usage_idle }
`,
    );
    const r = await s.map([msg('cpu,cpu=cpu0,host=h usage_idle=97.5 1764744000123456789', { topic: 'telegraf/h/cpu' })], NOW);
    expect(r.rejected).toEqual([]);
    expect(r.rows[0]).toMatchObject({ deviceId: 'cpu0', eventTime: 1764744000123.457, timeOrigin: 'payload', values: [97.5] });
    // µs survive the row encoding's conversion (µs since 2000-01-01, rounded).
    expect(Math.round((r.rows[0]!.eventTime - Date.UTC(2000, 0, 1)) * 1000) % 1000).toBe(457);
  });
});

describe('format: influx in a source file', () => {
  const file = (format: string, measurements = 'usage: { field: fields.usage }\n  n: { field: fields.n, type: bigint }') =>
    parseSourceFile(
      'sources/t.yaml',
      `name: t
kafka: { topics: [telegraf] }
format: ${format}
device_id: { field: tags.host }
event_time: { field: timestamp, format: epoch_ms }
measurements:
  ${measurements}
`,
    );

  it('accepts format: influx and { type: influx, precision, namepass } and refuses an unknown precision', () => {
    expect(file('influx').declaration.format).toEqual({ type: 'influx', precision: 'ns', namepass: undefined });
    expect(file('{ type: influx, precision: s, namepass: [cpu, "mem*"] }').declaration.format).toEqual({
      type: 'influx',
      precision: 's',
      namepass: ['cpu', 'mem*'],
    });
    expect(() => file('{ type: influx, precision: m }')).toThrowError(/format/);
  });

  it('maps several lines of one payload as records; one bad line dead-letters the payload with its line', async () => {
    const s = file('{ type: influx, precision: s }');
    const ok = await s.map([msg('x,host=a usage=1,n=2i 100\nx,host=b usage=3,n=4i 100\n')], NOW);
    expect(ok.rejected).toEqual([]);
    expect(ok.rows.map((r) => [r.deviceId, r.eventTime, r.values])).toEqual([
      ['a', 100_000, [1, 2]],
      ['b', 100_000, [3, 4]],
    ]);
    const bad = await s.map([msg('x,host=a usage=1 100\nx,host=b usage=,n=4i 100\n')], NOW);
    expect(bad.rows).toEqual([]);
    expect(bad.rejected).toEqual([{ index: 0, code: 'schema', reason: 'not line protocol: line 2, column 16: field usage: has no value' }]);
    // A line that parses but does not map rejects the payload too, naming the record and field.
    const unmapped = await s.map([msg('x,host=a usage=1 100\nx,host=b usage="high" 100\n')], NOW);
    expect(unmapped.rejected[0]).toMatchObject({
      code: 'schema',
      reason: 'record 2 of 2: usage: expected a number, received the string "high" (set coerce: true to accept numeric strings)',
    });
  });

  it('keeps integers exact within ±(2^53 − 1) and dead-letters a bigint measurement beyond it', async () => {
    const s = file('{ type: influx, precision: s }');
    const max = await s.map([msg('x,host=a n=9007199254740991i 1')], NOW);
    expect(max.rows[0]!.values).toEqual([null, 9007199254740991]);
    const beyond = await s.map([msg('x,host=a n=9007199254740993i 1')], NOW);
    expect(beyond.rows).toEqual([]);
    expect(beyond.rejected[0]).toMatchObject({
      code: 'schema',
      reason: expect.stringMatching(/^n: .* is not an integer within ±2\^53$/) as unknown,
    });
    const unsigned = await s.map([msg('x,host=a n=18446744073709551615u 1')], NOW);
    expect(unsigned.rejected[0]!.reason).toMatch(/not an integer within ±2\^53/);
  });

  it('with namepass keeps only the named measurements and skips the others deliberately', async () => {
    const s = file('{ type: influx, namepass: ["cpu*"] }', 'usage: { field: fields.usage }');
    const r = await s.map(
      [msg('cpu,host=a usage=1\nmem,host=a used=2\ncpu2,host=b usage=3\n'), msg('mem,host=a used=5\n'), msg('disk,host=a usage=\n')],
      NOW,
    );
    expect(r.rows.map((x) => x.deviceId)).toEqual(['a', 'b']);
    // The mem-only payload lands nothing and is no dead letter; a broken line is one whatever its measurement.
    expect(r.rejected.map((x) => x.index)).toEqual([2]);
    // Without namepass a line without any declared field is a dead letter with a reason.
    const all = await file('influx', 'usage: { field: fields.usage }').map([msg('mem,host=a used=2\n')], NOW);
    expect(all.rejected[0]!.reason).toMatch(/no measurement/);
  });

  it('dead-letters bytes that are not UTF-8', () => {
    const f = compileFormat({ type: 'influx', precision: 'ns', namepass: undefined });
    expect(f.decode(new Uint8Array([0x63, 0x20, 0xff]))).toMatchObject({ ok: false, code: 'invalid_utf8' });
  });
});

describe('line protocol on generated input', () => {
  // Names: any text without control characters; a measurement may not start with #.
  const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
  const special = fc.constantFrom(',', ' ', '=', '\\', '"', '#', 'é', 'a', '\\\\', '\\,', '1');
  const name = fc.oneof(
    text,
    fc.array(special, { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
  );
  const measurement = name.filter((s) => !s.startsWith('#'));
  const value = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.string({ maxLength: 20 }).filter((s) => !s.includes('\u0000')),
    fc.oneof(name, fc.constantFrom('\\', '"', '\\"', 'a\nb')),
  );
  const point = fc.record({
    measurement,
    tags: fc.dictionary(name, name, { maxKeys: 4 }),
    fields: fc.dictionary(name, value, { minKeys: 1, maxKeys: 5 }),
    ints: fc.dictionary(name, fc.maxSafeInteger(), { maxKeys: 2 }),
    timestamp: fc.option(
      fc.integer({ min: -1e15, max: 4e15 }).map((us) => us / 1000),
      {
        nil: undefined,
      },
    ),
  });

  it('reads back what the serializer writes (escapes of every element, every type, each precision)', () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 5 }), fc.constantFrom<InfluxPrecision>('ns', 'us'), (gen, precision) => {
        const points = gen.map((g) => {
          const fields = Object.assign(Object.create(null) as Record<string, number | string | boolean>, g.fields);
          for (const [k, v] of Object.entries(g.ints)) fields[k] = v;
          const tags = Object.assign(Object.create(null) as Record<string, string>, g.tags);
          const p: InfluxPoint & { integers: Set<string> } = {
            measurement: g.measurement,
            tags,
            fields,
            integers: new Set(Object.keys(g.ints)),
          };
          if (g.timestamp !== undefined) p.timestamp = g.timestamp;
          return p;
        });
        const text = serializeLineProtocol(points, precision);
        const back = parseLineProtocol(text, precision);
        expect(back.map(plain)).toEqual(points.map(({ integers: _, ...p }) => plain(p)));
        // Integers written with i come back as integers; floats as the same double.
        for (let i = 0; i < back.length; i++) for (const k of points[i]!.integers) expect(back[i]!.fields[k]).toBe(points[i]!.fields[k]);
      }),
      { numRuns: 1500 },
    );
  });

  it('an unterminated string that crosses lines is reported at its opening quote (found by the property below)', () => {
    expect(() => parseLineProtocol('m m="\n')).toThrow('line 1, column 5: field m: the string has no closing double quote');
    expect(() => parseLineProtocol('m a=1\nm b="x\ny\nz')).toThrow('line 2, column 5: field b: the string has no closing double quote');
  });

  it('never throws anything but LineProtocolError on arbitrary text, and the format always answers', () => {
    const f = compileFormat({ type: 'influx', precision: 'ns', namepass: undefined });
    const lpish = fc.array(fc.constantFrom('m', ',', ' ', '=', '"', '\\', '\n', '\r', '#', 'i', 'u', 't', '1', '.', '-', 'e', '\t'), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          lpish.map((a) => a.join('')),
        ),
        (s) => {
          try {
            parseLineProtocol(s);
          } catch (e) {
            expect(e).toBeInstanceOf(LineProtocolError);
            const { line, column } = e as LineProtocolError;
            // The position is inside the text: a real line, a column from 1 to one past its end.
            const lines = s.split('\n');
            expect(line).toBeGreaterThanOrEqual(1);
            expect(line).toBeLessThanOrEqual(lines.length);
            expect(column).toBeGreaterThanOrEqual(1);
            expect(column).toBeLessThanOrEqual(lines[line - 1]!.length + 1);
          }
          const d = f.decode(payloadBytes(s));
          if (!d.ok) expect(d.reason).toMatch(/^not line protocol: line \d+, column \d+: /);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
