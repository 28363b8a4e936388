/**
 * The Sparkplug B host's per-edge-node rules (births, aliases, sequence numbers, deaths), fed with
 * payloads written by Eclipse Tahu's encoder (`sparkplug-payload`) in the order Tahu's edge node client
 * publishes them (its `seq` resets to 0 on NBIRTH and counts every later message; bdSeq on birth and death).
 */
import { encodePayload, type UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { describe, expect, it } from 'vitest';
import { REBIRTH_RETRY_MS, SparkplugHost, type EdgeNodeState, type HostOutcome } from '../src/sparkplug/host';
import { decodeSparkplugPayload } from '../src/sparkplug/payload';
import { parseSparkplugTopic } from '../src/sparkplug/topic';

const T0 = 1764744000000;

/** Sends one message through `host` as the consumer would: topic parsed, payload decoded from Tahu's bytes. */
function send(host: SparkplugHost, topic: string, p: UPayload, arrival = T0, redelivered = false): HostOutcome {
  const t = parseSparkplugTopic(topic);
  if (!t.ok) throw new Error(t.reason);
  return host.handle(t.topic, decodeSparkplugPayload(encodePayload(p)), arrival, redelivered);
}

const nbirth = (seq = 0, bdSeq = 0): UPayload => ({
  timestamp: T0,
  seq,
  metrics: [
    { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
    { name: 'Supply/Voltage', alias: 1, type: 'Float', value: 230.5 },
    { name: 'bdSeq', type: 'UInt64', value: bdSeq },
  ],
});
const dbirth = (seq: number): UPayload => ({
  timestamp: T0 + 1,
  seq,
  metrics: [
    { name: 'Inputs/Temperature', alias: 10, type: 'Double', value: 21.5 },
    { name: 'Inputs/Running', alias: 11, type: 'Boolean', value: true },
    { name: 'Counters/Starts', alias: 12, type: 'UInt32', value: 7 },
  ],
});
const N = 'spBv1.0/Plant1';

function metricsOf(o: HostOutcome) {
  if (o.kind !== 'metrics') throw new Error(`expected metrics, got ${JSON.stringify(o)}`);
  return o;
}

describe('Sparkplug B host', () => {
  it('resolves aliases from the births and takes the datatype from there', () => {
    const host = new SparkplugHost();
    const b = metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth()));
    expect(b.connections).toEqual([{ groupId: 'Plant1', edgeNodeId: 'Edge-A', online: true, at: T0, cause: 'NBIRTH' }]);
    expect(b.metrics.map((m) => [m.name, m.datatype, m.column, m.value])).toEqual([
      ['Node Control/Rebirth', 'Boolean', 'boolean', false],
      ['Supply/Voltage', 'Float', 'double', 230.5],
      ['bdSeq', 'UInt64', 'bigint', 0],
    ]);
    const d = metricsOf(send(host, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1)));
    expect(d.connections).toEqual([
      { groupId: 'Plant1', edgeNodeId: 'Edge-A', deviceId: 'pump-3', online: true, at: T0 + 1, cause: 'DBIRTH' },
    ]);
    const data = metricsOf(
      send(host, `${N}/DDATA/Edge-A/pump-3`, {
        timestamp: T0 + 2,
        seq: 2,
        metrics: [
          { alias: 10, type: 'Double', value: 22.25, timestamp: T0 + 1_500 },
          { alias: 12, type: 'UInt32', value: 8, isHistorical: true },
        ],
      }),
    );
    expect(data.metrics).toEqual([
      {
        name: 'Inputs/Temperature',
        alias: 10,
        datatype: 'Double',
        column: 'double',
        value: 22.25,
        timestamp: T0 + 1_500,
        isHistorical: false,
        isTransient: false,
      },
      {
        name: 'Counters/Starts',
        alias: 12,
        datatype: 'UInt32',
        column: 'bigint',
        value: 8,
        timestamp: T0 + 2,
        isHistorical: true,
        isTransient: false,
      },
    ]);
    // Node data by name works too.
    expect(
      metricsOf(send(host, `${N}/NDATA/Edge-A`, { seq: 3, metrics: [{ name: 'Supply/Voltage', type: 'Float', value: 229 }] })).metrics[0]
        ?.value,
    ).toBe(229);
  });

  it('wraps seq from 255 to 0', () => {
    const host = new SparkplugHost();
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth(250)));
    for (let i = 0; i < 300; i++) {
      const seq = (251 + i) % 256;
      metricsOf(send(host, `${N}/NDATA/Edge-A`, { seq, metrics: [{ alias: 1, type: 'Float', value: i }] }));
    }
  });

  it('dead-letters a sequence gap and what follows until the rebirth, asking for one rebirth', () => {
    const host = new SparkplugHost();
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth()));
    const gap = send(host, `${N}/NDATA/Edge-A`, { seq: 4, metrics: [{ alias: 1, type: 'Float', value: 1 }] }, T0 + 10);
    expect(gap).toEqual({
      kind: 'rejected',
      rebirth: true,
      reason: 'sequence gap from edge node Plant1/Edge-A: expected seq 1, received 4 on NDATA; rebirth requested',
    });
    const next = send(host, `${N}/NDATA/Edge-A`, { seq: 5, metrics: [{ alias: 1, type: 'Float', value: 2 }] }, T0 + 20);
    expect(next).toMatchObject({ kind: 'rejected', rebirth: false });
    expect((next as { reason: string }).reason).toMatch(/^Edge-A awaits its rebirth: sequence gap/);
    // Still no birth after the retry interval: ask again.
    expect(send(host, `${N}/NDATA/Edge-A`, { seq: 6, metrics: [] }, T0 + 10 + REBIRTH_RETRY_MS)).toMatchObject({ rebirth: true });
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth()));
    expect(host.node('Plant1', 'Edge-A')?.awaitingRebirth).toBeUndefined();
    metricsOf(send(host, `${N}/NDATA/Edge-A`, { seq: 1, metrics: [{ alias: 1, type: 'Float', value: 3 }] }));
  });

  it.each([
    [
      'data of an unknown alias',
      `${N}/NDATA/Edge-A`,
      { seq: 1, metrics: [{ alias: 99, type: 'Float', value: 1 }] },
      'NDATA: unknown alias 99 (not in the birth certificate)',
    ],
    [
      'a metric name not in the birth',
      `${N}/NDATA/Edge-A`,
      { seq: 1, metrics: [{ name: 'Other', type: 'Float', value: 1 }] },
      'unknown metric Other',
    ],
    [
      'a device without DBIRTH',
      `${N}/DDATA/Edge-A/valve-1`,
      { seq: 1, metrics: [{ alias: 10, type: 'Double', value: 1 }] },
      'which has no DBIRTH in this session',
    ],
    [
      'a device alias under the node',
      `${N}/DBIRTH/Edge-A/pump-3`,
      { seq: 1, metrics: [{ name: 'X', alias: 1, type: 'Double', value: 1 }] },
      'alias 1 of X is already Supply/Voltage',
    ],
    [
      'a datatype other than the birth certificate gave',
      `${N}/NDATA/Edge-A`,
      { seq: 1, metrics: [{ alias: 1, type: 'String', value: 'hot' }] },
      "metric Supply/Voltage: datatype String differs from its birth certificate's Float",
    ],
  ] as const)('refuses %s and asks for a rebirth', (_what, topic, p, reason) => {
    const host = new SparkplugHost();
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth()));
    const o = send(host, topic, p as unknown as UPayload);
    expect(o).toMatchObject({ kind: 'rejected', rebirth: true });
    expect((o as { reason: string }).reason).toContain(reason);
  });

  it('asks a node it has no birth of for one (a host started after the birth)', () => {
    const o = send(new SparkplugHost(), `${N}/NDATA/Edge-B`, { seq: 17, metrics: [{ alias: 1, type: 'Float', value: 1 }] });
    expect(o).toEqual({
      kind: 'rejected',
      rebirth: true,
      reason: 'no NBIRTH seen from edge node Plant1/Edge-B (its session is not known to this host); rebirth requested',
    });
  });

  it('takes a node and its devices offline on the NDEATH of the current bdSeq only', () => {
    const host = new SparkplugHost();
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth(0, 3)));
    metricsOf(send(host, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1)));
    // A will of the previous session, delivered late: ignored.
    expect(send(host, `${N}/NDEATH/Edge-A`, { timestamp: T0 + 5, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 2 }] })).toMatchObject({
      kind: 'ignored',
    });
    const death = metricsOf(
      send(host, `${N}/NDEATH/Edge-A`, { timestamp: T0 + 6, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 3 }] }),
    );
    expect(death.connections.map((c) => [c.deviceId ?? '(node)', c.online, c.cause])).toEqual([
      ['(node)', false, 'NDEATH'],
      ['pump-3', false, 'NDEATH'],
    ]);
    expect(host.node('Plant1', 'Edge-A')).toMatchObject({ online: false, devices: { 'pump-3': false } });
    // Data after the death is refused until a new birth.
    expect(send(host, `${N}/NDATA/Edge-A`, { seq: 2, metrics: [] })).toMatchObject({ kind: 'rejected' });
  });

  it('takes one device offline on DDEATH, and back online on its DBIRTH', () => {
    const host = new SparkplugHost();
    metricsOf(send(host, `${N}/NBIRTH/Edge-A`, nbirth()));
    metricsOf(send(host, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1)));
    expect(metricsOf(send(host, `${N}/DDEATH/Edge-A/pump-3`, { timestamp: T0 + 9, seq: 2 })).connections).toEqual([
      { groupId: 'Plant1', edgeNodeId: 'Edge-A', deviceId: 'pump-3', online: false, at: T0 + 9, cause: 'DDEATH' },
    ]);
    expect(send(host, `${N}/DDATA/Edge-A/pump-3`, { seq: 3, metrics: [{ alias: 10, type: 'Double', value: 1 }] })).toMatchObject({
      kind: 'rejected',
    });
  });

  it('keeps its state across a restart (what it stores is what it loads)', () => {
    const a = new SparkplugHost();
    metricsOf(send(a, `${N}/NBIRTH/Edge-A`, nbirth()));
    metricsOf(send(a, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1)));
    const stored = JSON.parse(JSON.stringify(a.takeChanged())) as EdgeNodeState[];
    expect(a.takeChanged()).toEqual([]);
    const b = new SparkplugHost(stored);
    expect(
      metricsOf(send(b, `${N}/DDATA/Edge-A/pump-3`, { seq: 2, metrics: [{ alias: 11, type: 'Boolean', value: false }] })).metrics[0],
    ).toMatchObject({
      name: 'Inputs/Running',
      value: false,
    });
  });

  it('ignores a redelivered message it applied before (committed, PUBACK lost in a crash), but not a new one out of sequence', () => {
    const host = new SparkplugHost();
    send(host, `${N}/NBIRTH/Edge-A`, nbirth());
    send(host, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1));
    const ddata = (seq: number): UPayload => ({ timestamp: T0 + seq, seq, metrics: [{ alias: 10, type: 'Double', value: seq }] });
    metricsOf(send(host, `${N}/DDATA/Edge-A/pump-3`, ddata(2)));
    // The broker re-sends seq 1 and 2 with DUP after a restart: already applied, no gap, no rebirth.
    expect(send(host, `${N}/DBIRTH/Edge-A/pump-3`, dbirth(1), T0, true)).toMatchObject({ kind: 'ignored' });
    expect(send(host, `${N}/DDATA/Edge-A/pump-3`, ddata(2), T0, true)).toMatchObject({ kind: 'ignored' });
    expect(host.node('Plant1', 'Edge-A')!.awaitingRebirth).toBeUndefined();
    // The next new message is in sequence.
    expect(metricsOf(send(host, `${N}/DDATA/Edge-A/pump-3`, ddata(3))).metrics[0]!.value).toBe(3);
    // Not redelivered and out of sequence: a gap.
    expect(send(host, `${N}/DDATA/Edge-A/pump-3`, ddata(2))).toMatchObject({ kind: 'rejected', rebirth: true });
  });

  it('ignores commands and STATE messages', () => {
    const host = new SparkplugHost();
    expect(send(host, `${N}/NCMD/Edge-A`, { metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })).toMatchObject({
      kind: 'ignored',
    });
    expect(host.handle({ kind: 'state', hostId: 'scada' }, { metrics: [] }, T0)).toMatchObject({ kind: 'ignored' });
  });
});
