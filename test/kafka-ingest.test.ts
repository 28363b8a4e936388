/**
 * Kafka ingest on the real stack: KRaft Kafka → consumer-group member activities → PostgreSQL,
 * supervised by the kafkaIngest workflow on the Temporal dev server. Worker processes are killed with
 * SIGKILL mid-stream; every record must land exactly once.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafkaIngestActivities } from '../src/activities/kafka-ingest';
import { kafkaBrokers, ROOT_DIR } from '../src/config/env';
import { MAX_PAYLOAD_BYTES } from '../src/ingest/payload';
import { createTopic } from '../src/ingest/kafka-client';
import { encodeTelemetry } from '../src/simulator/payloads';
import { produceRaw, produceTelemetry, telemetryRecord } from '../src/simulator/kafka-producer';
import { WORKER_TUNING } from '../src/workers/worker';
import { configure, pause, resume, status } from '../src/workflows/messages';
import { queryWorkflow } from '../src/client/query';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import { testPool, uniqueSuffix } from './support/db';
import { killHard, spawnStreamWorker, waitFor } from './support/processes';
import { recordHistory, withWorker, useTemporalClient } from './support/temporal';

const pool = testPool();
const brokers = kafkaBrokers();
const KAFKA_WORKFLOW = path.join(ROOT_DIR, 'src/workflows/kafka-ingest.ts');

/** A stream worker process (bench/streams/worker.ts) on `taskQueue`; resolves once it polls. */

async function count(table: string, source: string): Promise<number> {
  const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE source = $1`, [source]);
  return Number(r.rows[0]?.n);
}

afterAll(async () => {
  await pool.end();
});

describe('Kafka ingest', () => {
  const temporal = useTemporalClient();

  it('lands 100,000 records over 4 partitions exactly once across 5 worker kills and a member joining', { timeout: 300_000 }, async () => {
    const id = uniqueSuffix();
    const topic = `telemetry-eo-${id}`;
    const groupId = `eo-${id}`;
    const source = `modem-eo-${id}`;
    const total = 100_000;
    const devices = 500;
    const startTime = Date.UTC(2024, 4, 1);
    expect(await createTopic(brokers, topic, 4)).toBe(true);
    const taskQueue = `test-kafka-${id}`;
    const workers = [await spawnStreamWorker({ TASK_QUEUE: taskQueue }), await spawnStreamWorker({ TASK_QUEUE: taskQueue })];
    const workflowId = kafkaIngestWorkflowId(groupId, topic);
    const handle = await temporal().workflow.start('kafkaIngest', {
      workflowId,
      taskQueue,
      args: [{ topic, groupId, source, kind: 'modem', members: 1, batchSize: 2000, runForMs: 30_000 }],
    });
    try {
      // Produced while consuming, at a fixed rate, so the kills land mid-stream.
      const producing = produceTelemetry({ brokers, topic, count: total, devices, startTime, padTo: 200, rate: 2_200 });
      await waitFor('a first part of the records', async () => (await count('ingest.modem_telemetry', source)) >= 5_000, 60_000, 100);
      let kills = 0;
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 3_000 + 500 * k));
        if (k === 1) {
          // A second member joins the group: Kafka rebalances the 4 partitions across two members.
          const cfg = await handle.executeUpdate(configure, { args: [{ members: 2 }] });
          expect(cfg.members).toBe(2);
        }
        const victim = k % 2;
        await killHard(workers[victim]!);
        kills++;
        workers[victim] = await spawnStreamWorker({ TASK_QUEUE: taskQueue });
      }
      expect(kills).toBe(5);
      const produced = await producing;
      expect(produced.sent).toBe(total);
      await waitFor('every record', async () => (await count('ingest.modem_telemetry', source)) >= total, 150_000, 500).catch(
        async (e: unknown) => {
          throw new Error(
            `${String(e)}; ${await count('ingest.modem_telemetry', source)} of ${total}; worker output:\n${workers.map((w) => w.output().slice(-2000)).join('\n---\n')}`,
          );
        },
      );
      await new Promise((r) => setTimeout(r, 3_000));
      const rows = await pool.query<{ n: string; distinct_keys: string; cpu: number; mem: number }>(
        `SELECT count(*) AS n, count(DISTINCT (device_id, interface, event_time)) AS distinct_keys, sum(cpu_usage) AS cpu, sum(memory_usage) AS mem
           FROM ingest.modem_telemetry WHERE source = $1`,
        [source],
      );
      let cpu = 0;
      let mem = 0;
      for (let n = 0; n < total; n++) {
        const r = telemetryRecord(n, devices, startTime);
        cpu += r.cpuUsage;
        mem += r.memoryUsage;
      }
      expect(Number(rows.rows[0]!.n)).toBe(total);
      expect(Number(rows.rows[0]!.distinct_keys)).toBe(total);
      expect(rows.rows[0]!.cpu).toBeCloseTo(cpu, 3);
      expect(rows.rows[0]!.mem).toBeCloseTo(mem, 3);
      // Exactly once in effect, not only by the natural key: every message was written by one committed
      // batch, and the positions stored with them cover the topic exactly.
      const written = await pool.query<{ messages: string; inserted: string; skipped: string; consumers: string }>(
        `SELECT sum(messages - duplicates) AS messages, sum(rows_inserted) AS inserted, sum(duplicates) AS skipped, count(DISTINCT split_part(consumer, '/', 1)) AS consumers
           FROM ingest.batches WHERE source = $1`,
        [source],
      );
      expect(Number(written.rows[0]!.messages)).toBe(total);
      expect(Number(written.rows[0]!.inserted)).toBe(total);
      expect(Number(written.rows[0]!.consumers)).toBe(2);
      const offsets = await pool.query<{ partition: number; next_offset: string }>(
        'SELECT partition, next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2',
        [groupId, topic],
      );
      expect(offsets.rows).toHaveLength(4);
      expect(offsets.rows.reduce((s, r) => s + Number(r.next_offset), 0)).toBe(total);
      const statusRows = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ingest.device_status WHERE source = $1`, [source]);
      expect(Number(statusRows.rows[0]!.n)).toBe(devices);
      const latest = telemetryRecord(total - 1, devices, startTime);
      const st = await pool.query<{ event_time: Date; status: { cpu_usage: number } }>(
        'SELECT event_time, status FROM ingest.device_status WHERE source = $1 AND device_id = $2',
        [source, latest.deviceId],
      );
      expect(st.rows[0]!.event_time.getTime()).toBe(latest.eventTime);
      expect(st.rows[0]!.status.cpu_usage).toBe(latest.cpuUsage);
      const s = await queryWorkflow(handle, status, []);
      expect(s.state).toBe('running');
      expect(s.members).toBe(2);
      console.log(`[kafka exactly-once] ${total} records, 5 kills, batches skipped ${written.rows[0]!.skipped} already-committed re-reads`);
    } finally {
      await handle.terminate('test done').catch(() => undefined);
      for (const w of workers) await killHard(w);
    }
  });

  it('dead-letters malformed records of every kind with their origin, keeps the valid ones, and obeys pause/resume/configure', async () => {
    const id = uniqueSuffix();
    const topic = `telemetry-dlq-${id}`;
    const gpsTopic = `gps-dlq-${id}`;
    const groupId = `dlq-${id}`;
    const source = `modem-dlq-${id}`;
    const gpsSource = `gps-dlq-${id}`;
    await createTopic(brokers, topic, 2);
    await createTopic(brokers, gpsTopic, 1);
    const t0 = Date.UTC(2024, 4, 1, 12);
    const valid = (i: number, cpu = 10 + i) =>
      encodeTelemetry({
        deviceId: 'modem-1',
        eventTime: t0 + i * 1000,
        model: 'RUT955',
        interface: 'wan',
        interfaceStatus: 'up',
        cpuUsage: cpu,
        memoryUsage: 50,
      });
    const good = JSON.parse(valid(0)) as Record<string, unknown>;
    const bad: Array<[string, Buffer | string]> = [
      ['not_json', '{"model": "RUT955", "deviceid": '],
      ['schema', JSON.stringify({ ...good, cpuusage: 'high' })],
      ['schema', JSON.stringify({ ...good, deviceid: undefined })],
      ['oversized', JSON.stringify({ ...good, padding: 'x'.repeat(MAX_PAYLOAD_BYTES) })],
      ['invalid_utf8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
      ['non_finite', valid(0).replace('"memoryusage":50', '"memoryusage":Infinity')],
      ['future_timestamp', JSON.stringify({ ...good, event_time: '2999-01-01T00:00:00Z' })],
      // PostgreSQL text cannot store U+0000: written, it would fail the whole batch.
      ['schema', JSON.stringify({ ...good, model: 'RUT\u0000955' })],
    ];
    // Valid records around the bad ones, one of them out of order (older event time, sent last).
    const records = [
      { key: 'modem-1', value: valid(5) },
      ...bad.map(([, value]) => ({ key: 'modem-1', value })),
      { key: 'modem-1', value: valid(6) },
      { key: 'modem-1', value: valid(1, 99) },
    ];
    await produceRaw(brokers, topic, records);
    const gpsGood = { device_id: 'car-1', seq: 1, ts: '2015-07-01T10:00:00Z', track_id: '7', lat: -10.93, lon: -37.06 };
    const gpsBad: Array<[string, string]> = [
      ['out_of_range', JSON.stringify({ ...gpsGood, seq: 2, lat: 123 })],
      ['schema', JSON.stringify({ ...gpsGood, seq: 'three' })],
      ['non_finite', '{"device_id":"car-1","seq":4,"ts":"2015-07-01T10:00:04Z","lat":NaN,"lon":1}'],
    ];
    await produceRaw(brokers, gpsTopic, [
      { key: 'car-1', value: JSON.stringify(gpsGood) },
      ...gpsBad.map(([, value]) => ({ key: 'car-1', value })),
      { key: 'car-1', value: JSON.stringify({ ...gpsGood, seq: 5, ts: '2015-07-01T10:00:05Z' }) },
    ]);
    await withWorker(
      { workflowsPath: KAFKA_WORKFLOW, activities: createKafkaIngestActivities({ pool, kafkaBrokers: brokers }), ...WORKER_TUNING },
      async ({ client: c, taskQueue }) => {
        const workflowId = kafkaIngestWorkflowId(groupId, topic);
        const handle = await c.workflow.start('kafkaIngest', {
          workflowId,
          taskQueue,
          args: [{ topic, groupId, source, kind: 'modem', runForMs: 4_000 }],
        });
        const gps = await c.workflow.start('kafkaIngest', {
          workflowId: kafkaIngestWorkflowId(groupId, gpsTopic),
          taskQueue,
          args: [{ topic: gpsTopic, groupId, source: gpsSource, kind: 'gps', runForMs: 4_000 }],
        });
        await waitFor(
          'rows and dead letters',
          async () => {
            const d = await pool.query('SELECT 1 FROM ingest.dead_letters WHERE source = ANY($1)', [[source, gpsSource]]);
            return (
              (await count('ingest.modem_telemetry', source)) === 3 &&
              (await count('ingest.gps_fixes', gpsSource)) === 2 &&
              d.rowCount === bad.length + gpsBad.length
            );
          },
          60_000,
        );
        const dl = await pool.query<{ error_code: string; reason: string; origin: { topic: string; partition: number; offset: number } }>(
          'SELECT error_code, reason, origin FROM ingest.dead_letters WHERE source = $1 ORDER BY id',
          [source],
        );
        expect(dl.rows.map((r) => r.error_code).sort()).toEqual(bad.map(([code]) => code).sort());
        for (const r of dl.rows) {
          expect(r.reason.length).toBeGreaterThan(5);
          expect(r.origin.topic).toBe(topic);
          expect(typeof r.origin.offset).toBe('number');
        }
        // Reasons name the measurement, as the shipped file sources/modem.yaml declares it.
        expect(dl.rows.find((r) => r.error_code === 'schema' && r.reason.startsWith('cpu_usage: expected a number'))).toBeDefined();
        expect(dl.rows.find((r) => r.error_code === 'schema' && r.reason.startsWith('device_id: missing'))).toBeDefined();
        expect(dl.rows.find((r) => r.reason.startsWith('model: contains U+0000'))).toBeDefined();
        const gdl = await pool.query<{ error_code: string }>('SELECT error_code FROM ingest.dead_letters WHERE source = $1', [gpsSource]);
        expect(gdl.rows.map((r) => r.error_code).sort()).toEqual(gpsBad.map(([code]) => code).sort());
        // Latest status: the newest event time wins, the older record sent last does not overwrite it.
        const st = await pool.query<{ event_time: Date; status: { cpu_usage: number } }>(
          'SELECT event_time, status FROM ingest.device_status WHERE source = $1',
          [source],
        );
        expect(st.rows[0]!.event_time.getTime()).toBe(t0 + 6000);
        expect(st.rows[0]!.status.cpu_usage).toBe(16);

        // Control: pause, configure, records produced while paused wait; resume consumes them.
        await handle.signal(pause, 'maintenance');
        await waitFor('paused', async () => (await queryWorkflow(handle, status, [])).state === 'paused', 30_000);
        const cfg = await handle.executeUpdate(configure, { args: [{ batchSize: 100 }] });
        expect(cfg.batchSize).toBe(100);
        await expect(handle.executeUpdate(configure, { args: [{ members: 0 }] })).rejects.toThrow();
        await produceRaw(brokers, topic, [{ key: 'modem-1', value: valid(7) }]);
        await new Promise((r) => setTimeout(r, 2000));
        expect(await count('ingest.modem_telemetry', source)).toBe(3);
        await handle.signal(resume);
        await waitFor('the record produced while paused', async () => (await count('ingest.modem_telemetry', source)) === 4, 30_000);
        await waitFor(
          'a finished run with lag 0',
          async () => {
            const s = await queryWorkflow(handle, status, []);
            return s.runs > 0 && s.lag !== undefined && Object.values(s.lag).every((l) => l === 0);
          },
          30_000,
        );
        const s = await queryWorkflow(handle, status, []);
        expect(s.stream).toBe('kafka');
        expect(s.committed).toBeGreaterThanOrEqual(records.length);
        expect(s.deadLettered).toBe(bad.length);
        expect(Object.keys(s.lag ?? {}).sort()).toEqual([`${topic}/0`, `${topic}/1`]);
        await handle.cancel();
        await gps.cancel();
        await expect(handle.result()).rejects.toThrow();
        await recordHistory(c, workflowId, 'kafkaIngest-dead-letters-pause-resume');
      },
    );
  });
});
