/**
 * The fleet simulator's Kafka transport end to end on the real stack: the real go!track GPS fixes of
 * three devices are produced to `fleet-<source>` (key = device) by `replayGps`, and the kafkaIngest
 * workflow (kind `gps`) lands every fix exactly once in `ingest.gps_fixes`, with the same positions
 * and event times as the file, and the device status at each device's newest fix.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafkaIngestActivities } from '../src/activities/kafka-ingest';
import { kafkaBrokers, ROOT_DIR } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { loadGpsFixes } from '../src/simulator/gps-files';
import { replayGps } from '../src/simulator/gps-replay';
import { WORKER_TUNING } from '../src/workers/worker';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { withWorker } from './support/temporal';

const pool = testPool();
const brokers = kafkaBrokers();
afterAll(async () => {
  await pool.end();
});

describe('fleet over Kafka', () => {
  it('replays real GPS fixes to fleet-<source> and the gps ingest lands each once, as in the file', { timeout: 120_000 }, async () => {
    const all = loadGpsFixes();
    const devices = [...new Set(all.map((f) => f.deviceId))].slice(0, 3);
    const fixes = all.filter((f) => devices.includes(f.deviceId));
    expect(fixes.length).toBeGreaterThan(100);
    const source = `fleet-kafka-${uniqueSuffix()}`;
    const topic = `fleet-${source}`;
    await createTopic(brokers, topic, 3);
    const sent = await replayGps({ fixes, source, transport: 'kafka', kafkaBrokers: brokers, speedup: 'max' });
    expect(sent).toMatchObject({ sent: fixes.length, devices: devices.length });
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'src/workflows/kafka-ingest.ts'),
        activities: createKafkaIngestActivities({ pool, kafkaBrokers: brokers }),
        ...WORKER_TUNING,
      },
      async ({ client, taskQueue }) => {
        const handle = await client.workflow.start('kafkaIngest', {
          workflowId: kafkaIngestWorkflowId(`fleet-${source}`, topic),
          taskQueue,
          args: [{ topic, groupId: `fleet-${source}`, source, kind: 'gps', runForMs: 30_000 }],
        });
        try {
          const count = async () =>
            Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.gps_fixes WHERE source = $1', [source])).rows[0]!.n);
          await waitFor('every fix', async () => (await count()) >= fixes.length, 90_000, 250);
          expect(await count()).toBe(fixes.length);
        } finally {
          await handle.terminate('test done');
        }
      },
    );
    const rows = await pool.query<{
      device_id: string;
      seq: string;
      event_time: Date;
      latitude: number;
      longitude: number;
      track_id: string;
    }>('SELECT device_id, seq, event_time, latitude, longitude, track_id FROM ingest.gps_fixes WHERE source = $1', [source]);
    const bySeq = new Map(rows.rows.map((r) => [`${r.device_id}/${r.seq}`, r]));
    for (const f of fixes) {
      const r = bySeq.get(`${f.deviceId}/${f.seq}`);
      expect(r, `fix ${f.deviceId}/${f.seq}`).toBeDefined();
      expect(r!.event_time.getTime()).toBe(f.eventTime);
      expect(r!.latitude).toBe(f.lat);
      expect(r!.longitude).toBe(f.lon);
      expect(r!.track_id).toBe(f.trackId);
    }
    const status = await pool.query<{ device_id: string; event_time: Date; status: { seq: number } }>(
      'SELECT device_id, event_time, status FROM ingest.device_status WHERE source = $1',
      [source],
    );
    expect(status.rows.map((r) => r.device_id).sort()).toEqual([...devices].sort());
    for (const d of devices) {
      const own = fixes.filter((f) => f.deviceId === d);
      const newest = own.reduce((a, b) => (b.eventTime > a.eventTime || (b.eventTime === a.eventTime && b.seq > a.seq) ? b : a));
      const s = status.rows.find((r) => r.device_id === d)!;
      expect(s.event_time.getTime()).toBe(newest.eventTime);
    }
  });
});
