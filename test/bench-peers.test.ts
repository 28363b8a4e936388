/**
 * The peers bench's pure parts (no broker or database): Telegraf's configurations and the log line it
 * counts commits by, the CPU reading of a process, and the report of a peer that could not run.
 */
import { describe, expect, it } from 'vitest';
import type { PeersBenchResult } from '../bench/peers/main';
import { pidCpuMs } from '../bench/peers/proc';
import { kafkaConfig, mqttConfig, wroteBatch } from '../bench/peers/telegraf';
import { renderPeers } from '../bench/report';

describe('bench peers', () => {
  it('counts the rows of Telegraf output batches from its debug log', () => {
    expect(wroteBatch('2026-12-03T10:42:01Z D! [outputs.postgresql] Wrote batch of 5000 metrics in 41.2ms')).toBe(5000);
    expect(wroteBatch('2026-12-03T10:42:01Z D! [outputs.postgresql] Buffer fullness: 0 / 1000000 metrics')).toBe(0);
  });

  it('configures Telegraf for QoS 1 with a persistent session and for Kafka from the oldest offset', () => {
    const common = {
      databaseUrl: 'postgres://u:p@127.0.0.1:5432/db',
      schema: 'bench_peers',
      source: 's',
      batchSize: 5000,
      flushInterval: '50ms',
      maxUndelivered: 10_000,
    };
    const m = mqttConfig({ ...common, brokerUrl: 'mqtt://127.0.0.1:1903', topic: 'sensors/s/+', clientId: 'c1', table: 't' });
    expect(m).toContain('servers = ["tcp://127.0.0.1:1903"]');
    expect(m).toMatch(/qos = 1\n\s+persistent_session = true\n\s+client_id = "c1"/);
    expect(m).toContain('metric_batch_size = 5000');
    const k = kafkaConfig({ ...common, brokers: ['127.0.0.1:9112'], topic: 'tp', group: 'g1', table: 't' });
    expect(k).toContain('consumer_group = "g1"');
    expect(k).toContain('offset = "oldest"');
    expect(k).toContain('rename = "device_id"');
  });

  it('reads the CPU time of a process from /proc', () => {
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    const ms = pidCpuMs(process.pid);
    if (process.platform === 'linux') expect(ms).toBeGreaterThan(0);
    expect(pidCpuMs(2 ** 22 + 12345)).toBeUndefined();
  });

  it('reports a peer that could not run with what was tried, in one table cell', () => {
    const r: PeersBenchResult = {
      startedAt: '2026-12-03T10:00:00.000Z',
      machine: { cpus: 2, cpuModel: 'cpu', loadAverage1m: 1 },
      mqttMessages: 10,
      kafkaRecords: 10,
      repeats: 1,
      warmup: 0,
      rows: [
        { path: 'MQTT → PostgreSQL', tool: 'ours: x', ours: true, how: 'h', delivery: 'd', messages: 10, perSecond: 100, runs: [100] },
        { path: 'MQTT → PostgreSQL', tool: 'peer', ours: false, how: 'h', delivery: 'd', messages: 10, error: '`a | b` failed:\nline 2' },
      ],
      goals: [{ goal: 'g', measured: 'not measured', met: undefined }],
    };
    const md = renderPeers(r).join('\n');
    const row = md.split('\n').find((l) => l.startsWith('| MQTT → PostgreSQL | peer |'));
    expect(row).toContain('**Failed:** `a \\| b` failed: line 2');
    expect(md).toContain('| g | not measured | not measured |');
  });
});
