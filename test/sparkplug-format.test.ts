/**
 * `format: sparkplug_b` through a compiled source, without servers: payloads written by Eclipse Tahu's
 * encoder (`sparkplug-payload`) become rows by the shipped `sources/sparkplug-plant.yaml`; the session
 * effects (state to store, rebirth requests to publish, connection changes by device id) come with the
 * batch; state restored into a new compile resumes the session; bad declarations are refused.
 */
import path from 'node:path';
import { decodePayload, encodePayload, type UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../src/config/env';
import type { MappedBatch, SourceMessage } from '../src/sources/compile';
import { loadDeclaration, loadSources, SourceFileError } from '../src/sources/load';

const shipped = loadSources(path.join(ROOT_DIR, 'sources')).get('sparkplug-plant')!;
const T0 = 1764744000000;
const G = 'spBv1.0/Plant1';

const msg = (topic: string, p: UPayload, arrivalTime = T0 + 60_000): SourceMessage => ({
  topic,
  payload: encodePayload(p),
  arrivalTime,
  identity: topic,
});

const nbirth = (seq = 0): UPayload => ({
  timestamp: T0,
  seq,
  metrics: [
    { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
    { name: 'Supply/Voltage', alias: 1, type: 'Float', value: 230.5 },
    { name: 'bdSeq', type: 'UInt64', value: 3 },
  ],
});
const dbirth = (seq: number): UPayload => ({
  timestamp: T0 + 1,
  seq,
  metrics: [
    { name: 'Inputs/Temperature', alias: 10, type: 'Double', value: 21.5 },
    { name: 'Counters/Starts', alias: 12, type: 'UInt32', value: 7 },
    { name: 'Properties/Model', alias: 13, type: 'String', value: 'P-200' },
  ],
});

function fresh() {
  return loadDeclaration(structuredClone(shipped.declaration), 'test');
}
const map = (s: ReturnType<typeof fresh>, m: SourceMessage[]) => s.map(m, T0 + 120_000) as MappedBatch;

describe('format sparkplug_b', () => {
  it('maps births and data by alias to rows by device and metric time; undeclared metrics by name in attributes; control metrics left out', () => {
    const s = fresh();
    const b = map(s, [
      msg(`${G}/NBIRTH/Edge-A`, nbirth()),
      msg(`${G}/DBIRTH/Edge-A/Pump-1`, dbirth(1)),
      // Data by alias, two timestamps in one message (one historical), as a store-and-forward node sends.
      msg(`${G}/DDATA/Edge-A/Pump-1`, {
        timestamp: T0 + 2000,
        seq: 2,
        metrics: [
          { alias: 10, type: 'Double', value: 22.5 },
          { alias: 12, type: 'UInt32', value: 8, timestamp: T0 + 500, isHistorical: true },
        ],
      }),
    ]);
    expect(b.rejected).toEqual([]);
    const col = (n: string) => s.measurements.findIndex((m) => m.name === n);
    expect(
      b.rows.map((r) => [
        r.deviceId,
        r.eventTime - T0,
        r.values[col('message_type')],
        r.values[col('seq')],
        r.values[col('is_historical')],
        r.values[col('supply_voltage')],
        r.values[col('temperature')],
        r.values[col('starts')],
        r.attributes,
      ]),
    ).toEqual([
      ['Edge-A', 0, 'NBIRTH', 0, false, 230.5, null, null, null],
      ['Edge-A/Pump-1', 1, 'DBIRTH', 1, false, null, 21.5, 7, '{"Properties/Model":"P-200"}'],
      ['Edge-A/Pump-1', 2000, 'DDATA', 2, false, null, 22.5, null, null],
      ['Edge-A/Pump-1', 500, 'DDATA', 2, true, null, null, 8, null],
    ]);
    expect(b.session!.connections).toEqual([
      { deviceId: 'Edge-A', online: true, at: T0, cause: 'NBIRTH' },
      { deviceId: 'Edge-A/Pump-1', online: true, at: T0 + 1, cause: 'DBIRTH' },
    ]);
    expect(b.session!.publish).toEqual([]);
    expect(b.session!.state.map((x) => x.key)).toEqual(['Plant1/Edge-A']);
  });

  it('a sequence gap is dead-lettered with the reason and one rebirth request; a restored session carries on after the last commit', () => {
    const s = fresh();
    const first = map(s, [msg(`${G}/NBIRTH/Edge-A`, nbirth()), msg(`${G}/DBIRTH/Edge-A/Pump-1`, dbirth(1))]);
    const stored = first.session!.state.map((x) => JSON.parse(JSON.stringify(x.value)) as unknown);

    const gap = map(s, [
      msg(`${G}/DDATA/Edge-A/Pump-1`, { timestamp: T0 + 5, seq: 3, metrics: [{ alias: 10, type: 'Double', value: 99 }] }),
      msg(`${G}/DDATA/Edge-A/Pump-1`, { timestamp: T0 + 6, seq: 4, metrics: [{ alias: 10, type: 'Double', value: 98 }] }),
    ]);
    expect(gap.rows).toEqual([]);
    expect(gap.rejected.map((r) => [r.index, r.code, r.reason])).toEqual([
      [
        0,
        'sparkplug_session',
        'sequence gap from edge node Plant1/Edge-A: expected seq 2, received 3 on DDATA of Pump-1; rebirth requested',
      ],
      [
        1,
        'sparkplug_session',
        'Edge-A awaits its rebirth: sequence gap from edge node Plant1/Edge-A: expected seq 2, received 3 on DDATA of Pump-1',
      ],
    ]);
    expect(gap.session!.publish).toHaveLength(1);
    const ncmd = gap.session!.publish[0]!;
    expect([ncmd.topic, ncmd.qos, ncmd.retain]).toEqual(['spBv1.0/Plant1/NCMD/Edge-A', 0, false]);
    expect(decodePayload(ncmd.payload).metrics).toEqual([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);

    // A new consumer with the state of the last commit (before the gap): seq 2 by alias is accepted.
    const again = fresh();
    again.session!.restore(stored);
    const ok = map(again, [
      msg(`${G}/DDATA/Edge-A/Pump-1`, { timestamp: T0 + 7, seq: 2, metrics: [{ alias: 10, type: 'Double', value: 23 }] }),
    ]);
    expect(ok.rejected).toEqual([]);
    expect(ok.rows.map((r) => r.values[again.measurements.findIndex((m) => m.name === 'temperature')])).toEqual([23]);
  });

  it('deaths by bdSeq take the node and its devices offline; STATE and commands land nothing; bad topics and payloads are refused with a reason', () => {
    const s = fresh();
    map(s, [msg(`${G}/NBIRTH/Edge-A`, nbirth()), msg(`${G}/DBIRTH/Edge-A/Pump-1`, dbirth(1))]);
    const b = map(s, [
      msg('spBv1.0/STATE/scada-1', { metrics: [] }),
      msg(`${G}/NCMD/Edge-A`, { metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }),
      msg(`${G}/NDEATH/Edge-A`, { timestamp: T0 + 9, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 2 }] }),
      msg(`${G}/NDEATH/Edge-A`, { timestamp: T0 + 10, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 3 }] }),
      msg(`${G}/NDATA`, { metrics: [] }),
      { topic: `${G}/NDATA/Edge-B`, payload: new TextEncoder().encode('{"not":"protobuf"}'), arrivalTime: T0, identity: 'x' },
    ]);
    expect(b.rows).toEqual([]);
    expect(b.session!.connections).toEqual([
      { deviceId: 'Edge-A', online: false, at: T0 + 10, cause: 'NDEATH' },
      { deviceId: 'Edge-A/Pump-1', online: false, at: T0 + 10, cause: 'NDEATH' },
    ]);
    expect(b.rejected.map((r) => [r.index, r.code])).toEqual([
      [4, 'topic'],
      [5, 'schema'],
    ]);
    expect(b.rejected[0]!.reason).toBe(
      'topic spBv1.0/Plant1/NDATA: expected spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]',
    );
    expect(b.rejected[1]!.reason).toMatch(/^not a Sparkplug B payload: /);
  });

  it('a string with U+0000 is refused (PostgreSQL cannot store it), not a failed batch', () => {
    const s = fresh();
    const b = map(s, [
      msg(`${G}/NBIRTH/Edge-A`, nbirth()),
      msg(`${G}/DBIRTH/Edge-A/Pump-1`, {
        timestamp: T0,
        seq: 1,
        metrics: [{ name: 'Info/Label', alias: 13, type: 'String', value: 'a\u0000b' }],
      }),
    ]);
    expect(b.rejected.map((r) => [r.index, r.code, r.reason])).toEqual([
      [1, 'schema', 'metric Info/Label: contains U+0000, which PostgreSQL cannot store'],
    ]);
  });

  it('is MQTT only, read by one consumer in order', () => {
    const base = structuredClone(shipped.declaration) as Record<string, unknown>;
    expect(() => loadDeclaration({ ...base, mqtt: undefined, kafka: { topics: ['plant'] } }, 'k.yaml')).toThrow(SourceFileError);
    expect(() => loadDeclaration({ ...base, mqtt: undefined, kafka: { topics: ['plant'] } }, 'k.yaml')).toThrow(
      /Sparkplug B is an MQTT specification/,
    );
    expect(() => loadDeclaration({ ...base, mqtt: { topic: 'spBv1.0/#', share_group: 'g' } }, 's.yaml')).toThrow(
      /reads each edge node in order \(sequence numbers\): remove share_group/,
    );
  });
});
