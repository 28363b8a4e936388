/**
 * Sparkplug B topics and payloads. The payloads are written by Eclipse Tahu's own JavaScript encoder
 * (`sparkplug-payload`'s `encodePayload`, what its edge node client `sparkplug-client` publishes), and
 * the compressed ones as Tahu's client makes them (its DEFLATE is zlib's format).
 */
import zlib from 'node:zlib';
import fc from 'fast-check';
import Long from 'long';
import { encodePayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { describe, expect, it } from 'vitest';
import { columnOf, decodeSparkplugPayload, metricValue, SparkplugPayloadError } from '../src/sparkplug/payload';
import { hostStateTopic, nodeCommandTopic, parseSparkplugTopic } from '../src/sparkplug/topic';

/** Datatype numbers (Sparkplug 3.0 §6.4.16). */
const T = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  DataSet: 16,
  Template: 19,
};

describe('Sparkplug B topics', () => {
  it('parses node, device and STATE topics', () => {
    expect(parseSparkplugTopic('spBv1.0/Plant1/NBIRTH/Edge-A')).toEqual({
      ok: true,
      topic: { kind: 'edge', groupId: 'Plant1', messageType: 'NBIRTH', edgeNodeId: 'Edge-A' },
    });
    expect(parseSparkplugTopic('spBv1.0/Plant1/DDATA/Edge-A/pump-3')).toEqual({
      ok: true,
      topic: { kind: 'edge', groupId: 'Plant1', messageType: 'DDATA', edgeNodeId: 'Edge-A', deviceId: 'pump-3' },
    });
    expect(parseSparkplugTopic('spBv1.0/STATE/scada-1')).toEqual({ ok: true, topic: { kind: 'state', hostId: 'scada-1' } });
    expect(nodeCommandTopic('Plant1', 'Edge-A')).toBe('spBv1.0/Plant1/NCMD/Edge-A');
    expect(hostStateTopic('scada-1')).toBe('spBv1.0/STATE/scada-1');
  });

  it.each([
    ['spAv1.0/Plant1/NDATA/Edge-A', 'does not start with spBv1.0/'],
    ['spBv1.0/Plant1/NDATA', 'expected spBv1.0/<group_id>'],
    ['spBv1.0/Plant1/NREPORT/Edge-A', '"NREPORT" is not a message type'],
    ['spBv1.0/Plant1/DDATA/Edge-A', 'DDATA needs a device id level'],
    ['spBv1.0/Plant1/NDATA/Edge-A/pump', 'NDATA has no device id level'],
    ['spBv1.0//NDATA/Edge-A', 'is empty'],
    ['spBv1.0/STATE', 'STATE topic is spBv1.0/STATE/<host_id>'],
  ])('rejects %s with a reason', (topic, reason) => {
    const r = parseSparkplugTopic(topic);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});

describe('Sparkplug B payloads', () => {
  const birth = {
    timestamp: 1764744000123,
    seq: 0,
    metrics: [
      { name: 'Inputs/Int8', alias: 1, type: 'Int8' as const, value: -7 },
      { name: 'Inputs/Int16', alias: 2, type: 'Int16' as const, value: -30000 },
      { name: 'Inputs/Int32', alias: 3, type: 'Int32' as const, value: -2_000_000_000 },
      { name: 'Inputs/Int64', alias: 4, type: 'Int64' as const, value: Long.fromString('-9007199254740993') },
      { name: 'Inputs/Int64small', alias: 5, type: 'Int64' as const, value: -42 },
      { name: 'Inputs/UInt8', alias: 6, type: 'UInt8' as const, value: 250 },
      { name: 'Inputs/UInt16', alias: 7, type: 'UInt16' as const, value: 65000 },
      { name: 'Inputs/UInt32', alias: 8, type: 'UInt32' as const, value: 4_000_000_000 },
      { name: 'Inputs/UInt64', alias: 9, type: 'UInt64' as const, value: Long.fromString('18446744073709551615', true) },
      { name: 'Inputs/Float', alias: 10, type: 'Float' as const, value: 1.5 },
      { name: 'Inputs/Double', alias: 11, type: 'Double' as const, value: 21.123456789 },
      { name: 'Inputs/Boolean', alias: 12, type: 'Boolean' as const, value: true },
      { name: 'Properties/Name', alias: 13, type: 'String' as const, value: 'Pump 3 — Süd' },
      { name: 'Inputs/Since', alias: 14, type: 'DateTime' as const, value: 1764744000000 },
      { name: 'Inputs/Unset', alias: 15, type: 'Double' as const, value: null },
      {
        name: 'Inputs/Table',
        alias: 16,
        type: 'DataSet' as const,
        value: {
          numOfColumns: 2,
          columns: ['step', 'ok'],
          types: ['Int32' as const, 'Boolean' as const],
          rows: [
            [1, true],
            [2, false],
          ],
        },
      },
    ],
  };

  it('decodes every scalar datatype Tahu encodes, with its column', () => {
    const p = decodeSparkplugPayload(encodePayload(birth));
    expect(p.timestamp).toBe(1764744000123);
    expect(p.seq).toBe(0);
    const got = Object.fromEntries(p.metrics.map((m) => [m.name ?? '', metricValue(m, m.datatype!)] as const));
    expect(got).toEqual({
      'Inputs/Int8': -7,
      'Inputs/Int16': -30000,
      'Inputs/Int32': -2_000_000_000,
      'Inputs/Int64': '-9007199254740993',
      'Inputs/Int64small': -42,
      'Inputs/UInt8': 250,
      'Inputs/UInt16': 65000,
      'Inputs/UInt32': 4_000_000_000,
      'Inputs/UInt64': '18446744073709551615',
      'Inputs/Float': 1.5,
      'Inputs/Double': 21.123456789,
      'Inputs/Boolean': true,
      'Properties/Name': 'Pump 3 — Süd',
      'Inputs/Since': 1764744000000,
      'Inputs/Unset': null,
      'Inputs/Table': {
        columns: ['step', 'ok'],
        types: ['Int32', 'Boolean'],
        rows: [
          [1, true],
          [2, false],
        ],
      },
    });
    expect(p.metrics.map((m) => columnOf(m.datatype!))).toEqual([
      ...(Array(9).fill('bigint') as string[]),
      'double',
      'double',
      'boolean',
      'text',
      'timestamptz',
      'double',
      'jsonb',
    ]);
  });

  it("reads a data message's alias-only metrics by the datatype of their birth", () => {
    // A producer that follows the specification's advice sends no datatype in NDATA: encode one with
    // the type only to pick the value field, then strip the datatype as such a producer would.
    const data = decodeSparkplugPayload(
      encodePayload({ timestamp: 1764744001000, seq: 1, metrics: [{ alias: 3, type: 'Int32', value: -5 }] }),
    );
    const m = data.metrics[0]!;
    delete (m as { datatype?: number }).datatype;
    expect(m.name ?? undefined).toBeFalsy();
    expect(Number(m.alias)).toBe(3);
    expect(metricValue(m, T.Int32)).toBe(-5);
    expect(() => metricValue(m, T.Boolean)).toThrow(/Boolean metric carries a int value/);
  });

  it('inflates compressed payloads (DEFLATE and GZIP), as Tahu sends them', () => {
    const inner = encodePayload({ timestamp: 1764744002000, seq: 7, metrics: [{ name: 'x', type: 'Double', value: 2.5 }] });
    for (const [algorithm, body] of [
      ['DEFLATE', zlib.deflateSync(inner)],
      ['GZIP', zlib.gzipSync(inner)],
    ] as const) {
      const outer = encodePayload({
        uuid: 'SPBV1.0_COMPRESSED',
        body,
        metrics: [{ name: 'algorithm', type: 'String', value: algorithm }],
      });
      const p = decodeSparkplugPayload(outer);
      expect(p.seq).toBe(7);
      expect(metricValue(p.metrics[0]!, T.Double)).toBe(2.5);
    }
  });

  it('reads numeric and string arrays from bytes_value (little-endian, NUL-terminated strings)', () => {
    const ints = Buffer.alloc(8);
    ints.writeInt16LE(-2, 0);
    ints.writeInt16LE(300, 2);
    ints.writeInt32LE(-1, 4);
    const p = decodeSparkplugPayload(
      encodePayload({
        metrics: [
          { name: 'i16', type: 'Bytes', value: new Uint8Array(ints.subarray(0, 4)) },
          { name: 's', type: 'Bytes', value: new Uint8Array(Buffer.from('ab\0\0c\0')) },
        ],
      }),
    );
    expect(metricValue(p.metrics[0]!, 23)).toEqual([-2, 300]);
    expect(metricValue(p.metrics[1]!, 33)).toEqual(['ab', '', 'c']);
    expect(() => metricValue(p.metrics[0]!, 25)).toThrow(/4 bytes is not a whole number of 8-byte values/);
  });

  it('rejects what is not a Sparkplug B payload, saying so', () => {
    expect(() => decodeSparkplugPayload(Buffer.from('{"temperature": 21}'))).toThrow(SparkplugPayloadError);
    const outer = encodePayload({
      uuid: 'SPBV1.0_COMPRESSED',
      body: new Uint8Array([1, 2, 3]),
      metrics: [{ name: 'algorithm', type: 'String', value: 'GZIP' }],
    });
    expect(() => decodeSparkplugPayload(outer)).toThrow(/compressed payload \(GZIP\) does not inflate/);
  });

  it('round-trips any Int32, Int64 and Double through Tahu’s encoder', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.double({ noNaN: true }),
        (i32, i64, d) => {
          const p = decodeSparkplugPayload(
            encodePayload({
              metrics: [
                { name: 'a', type: 'Int32', value: i32 },
                { name: 'b', type: 'Int64', value: Long.fromString(i64.toString()) },
                { name: 'c', type: 'Double', value: d },
              ],
            }),
          );
          const [a, b, c] = p.metrics.map((m) => metricValue(m, m.datatype!));
          expect(a).toBe(i32);
          expect(typeof b === 'number' ? BigInt(b) : BigInt(b as string)).toBe(i64);
          if (typeof b === 'number') expect(Number.isSafeInteger(b)).toBe(true);
          expect(Object.is(c, d) || (c === 0 && d === 0)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
