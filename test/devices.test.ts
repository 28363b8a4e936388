/**
 * Fleet telemetry and device entity workflows on the real stack: real go!track fixes replayed over
 * Mosquitto by the fleet simulator, a minimal ingest (subscribe → insert into ingest.gps_fixes → the
 * device-activity sink after each committed batch), and the device workflow's silence timer, updates,
 * query and continue-as-new on the real Temporal server.
 */
import path from 'node:path';
import mqtt from 'mqtt';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeviceActivities } from '../src/activities/devices';
import { loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { DeviceWorkflowSink } from '../src/devices/sink';
import { deviceWorkflowId, type DeviceStateView } from '../src/devices/state';
import type { DeviceActivity } from '../src/ingest/device-activity';
import type { Notification, Notifier } from '../src/notify/index';
import { loadQualityRules } from '../src/quality/rules';
import { loadGpsFixes, type GpsFix } from '../src/simulator/gps-files';
import { insertGpsFixes } from '../src/simulator/gps-db';
import { replayGps } from '../src/simulator/gps-replay';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});
const WORKFLOWS = path.join(ROOT_DIR, 'test/fixtures/workflows/fleet-index.ts');

/** The validator's message of a rejected update. */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(WorkflowUpdateFailedError);
    return (e as WorkflowUpdateFailedError).cause?.message ?? '';
  }
  throw new Error('the update was accepted');
}

interface Wire {
  device_id: string;
  seq: number;
  ts: string;
  track_id: string;
  lat: number;
  lon: number;
}

/** A minimal ingest for the test: MQTT subscriber → batch insert → sink, like the real consumer's contract. */
async function miniIngest(source: string, sink: DeviceWorkflowSink, flushMs = 200) {
  const client = await mqtt.connectAsync(mqttUrl(), { clientId: `test-fleet-ingest-${uniqueSuffix()}`, clean: true });
  await client.subscribeAsync(`fleet/${source}/+`, { qos: 1 });
  const received: Array<Wire & { topic: string; at: number }> = [];
  let pending: Wire[] = [];
  let batches = 0;
  client.on('message', (topic, payload) => {
    const w = JSON.parse(payload.toString()) as Wire;
    received.push({ ...w, topic, at: Date.now() });
    pending.push(w);
  });
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, flushMs));
      if (pending.length === 0) continue;
      const batch = pending;
      pending = [];
      const fixes: GpsFix[] = batch.map((w) => ({
        deviceId: w.device_id,
        seq: w.seq,
        eventTime: Date.parse(w.ts),
        trackId: w.track_id,
        lat: w.lat,
        lon: w.lon,
        carOrBus: 0,
      }));
      await insertGpsFixes(pool, source, fixes);
      batches++;
      const byDevice = new Map<string, DeviceActivity>();
      for (const f of fixes) {
        const d = byDevice.get(f.deviceId) ?? {
          source,
          deviceId: f.deviceId,
          count: 0,
          firstEventTime: f.eventTime,
          lastEventTime: f.eventTime,
        };
        d.count++;
        d.firstEventTime = Math.min(d.firstEventTime, f.eventTime);
        if (f.eventTime >= d.lastEventTime) {
          d.lastEventTime = f.eventTime;
          d.latest = { lat: f.lat, lon: f.lon };
        }
        byDevice.set(f.deviceId, d);
      }
      await sink.onCommitted([...byDevice.values()]);
    }
  })();
  return {
    received,
    batches: () => batches,
    async stop() {
      stopped = true;
      await loop;
      await client.endAsync();
    },
  };
}

describe('fleet telemetry and device workflows', () => {
  it('replays real GPS fixes over MQTT keeping order and relative timing', async () => {
    const source = `fleet-sim-${uniqueSuffix()}`;
    // One real trip (track 1 of device 0): its fixes, in order.
    const trip = loadGpsFixes().filter((f) => f.trackId === '1');
    expect(trip.length).toBeGreaterThan(20);
    const fixes = trip.slice(0, 40);
    const sub = await mqtt.connectAsync(mqttUrl(), { clientId: `test-fleet-sub-${uniqueSuffix()}`, clean: true });
    const got: Array<{ topic: string; w: Wire; at: number }> = [];
    sub.on('message', (topic, p) => got.push({ topic, w: JSON.parse(p.toString()) as Wire, at: Date.now() }));
    await sub.subscribeAsync(`fleet/${source}/+`, { qos: 1 });
    // Minute-resolution times: 60 000× speed-up turns each minute into one second.
    const speedup = 60_000;
    const r = await replayGps({ fixes, source, mqttUrl: mqttUrl(), speedup });
    await waitFor('every fix', () => Promise.resolve(got.length === fixes.length), 10_000);
    await sub.endAsync();
    expect(r.sent).toBe(fixes.length);
    expect(got.map((g) => g.w.seq)).toEqual(fixes.map((f) => f.seq));
    expect(got[0]!.topic).toBe(`fleet/${source}/${fixes[0]!.deviceId}`);
    expect(got[0]!.w).toEqual({
      device_id: '0',
      seq: fixes[0]!.seq,
      ts: new Date(fixes[0]!.eventTime).toISOString(),
      track_id: '1',
      lat: fixes[0]!.lat,
      lon: fixes[0]!.lon,
    });
    // Relative timing: arrival offsets follow event-time offsets / speed-up (±300 ms).
    for (const [i, g] of got.entries()) {
      const due = (fixes[i]!.eventTime - fixes[0]!.eventTime) / speedup;
      expect(Math.abs(g.at - got[0]!.at - due)).toBeLessThan(300);
    }
  });

  it('raises a silence alert after the expected interval, clears it when data returns; updates, query and signals only on change', async () => {
    const source = `fleet-dev-${uniqueSuffix()}`;
    const rules = loadQualityRules();
    const EXPECTED_S = 3;
    rules.silence.sources[source] = EXPECTED_S;
    const trip = loadGpsFixes().filter((f) => f.trackId === '2');
    const device = trip[0]!.deviceId;
    const settings = loadSettings();
    const connection = await Connection.connect({ address: settings.temporalAddress });
    const sinkClient = new Client({ connection, namespace: settings.temporalNamespace });
    const taskQueue = `test-devices-${uniqueSuffix()}`;
    const sent: Notification[] = [];
    const notifier: Notifier = { notify: (n) => Promise.resolve(void sent.push(n)) };
    const sink = new DeviceWorkflowSink({ client: sinkClient, taskQueue, rules });
    const ingest = await miniIngest(source, sink);
    const workflowId = deviceWorkflowId(source, device);
    try {
      await withWorker(
        { workflowsPath: WORKFLOWS, activities: createDeviceActivities({ pool, notifier }), taskQueue },
        async ({ client }) => {
          const h = client.workflow.getHandle(workflowId);
          const state = () => h.query<DeviceStateView>('deviceState');
          // Phase 1: 30 fixes over ~1.5 s (20 per second, original order).
          await replayGps({
            fixes: trip.slice(0, 30),
            source,
            mqttUrl: mqttUrl(),
            speedup: (trip[29]!.eventTime - trip[0]!.eventTime) / 1500,
          });
          await waitFor('first 30 fixes stored', () => ingest.received.length === 30, 10_000);
          const stoppedAt = Date.now();
          await waitFor('the silence alert', async () => (await state().catch(() => undefined))?.status === 'silent', 20_000);
          const silentAfter = Date.now() - stoppedAt;
          expect(silentAfter).toBeGreaterThanOrEqual(EXPECTED_S * 1000 - 1000);
          let s = await state();
          const silence = s.openAlerts.find((a) => a.rule === 'device_silent')!;
          expect(silence).toBeDefined();
          const row = await pool.query<{ status: string; device_id: string }>(
            'SELECT status, device_id FROM quality.alerts WHERE id = $1',
            [silence.id],
          );
          expect(row.rows[0]).toEqual({ status: 'open', device_id: device });
          await waitFor(
            'the silence notification',
            () => Promise.resolve(sent.some((n) => n.dedupeKey === `alert/${silence.id}/raised`)),
            10_000,
          );

          // Updates with validators.
          s = await h.executeUpdate<DeviceStateView, [{ alertId: number; by: string }]>('acknowledgeAlert', {
            args: [{ alertId: silence.id, by: 'operator-ana' }],
          });
          expect(s.openAlerts.find((a) => a.id === silence.id)?.status).toBe('acknowledged');
          expect((await state()).openAlerts.find((a) => a.id === silence.id)?.acknowledgedBy).toBe('operator-ana');
          expect((await pool.query('SELECT status, acknowledged_by FROM quality.alerts WHERE id = $1', [silence.id])).rows[0]).toEqual({
            status: 'acknowledged',
            acknowledged_by: 'operator-ana',
          });
          expect(await rejection(h.executeUpdate('acknowledgeAlert', { args: [{ alertId: silence.id, by: 'x' }] }))).toMatch(
            /already acknowledged by operator-ana/,
          );
          expect(await rejection(h.executeUpdate('acknowledgeAlert', { args: [{ alertId: -1, by: 'x' }] }))).toMatch(/positive integer/);
          expect(await rejection(h.executeUpdate('muteRule', { args: [{ rule: 'no_such_rule', forMs: 3_600_000 }] }))).toMatch(
            /unknown rule/,
          );
          expect(await rejection(h.executeUpdate('setThresholds', { args: [{ expectedIntervalMs: 5 }] }))).toMatch(/between/);
          const until = await h.executeUpdate<string, [{ rule: string; forMs: number }]>('muteRule', {
            args: [{ rule: 'gps_stuck', forMs: 3_600_000 }],
          });
          expect(Date.parse(until)).toBeGreaterThan(Date.now());
          expect(await h.executeUpdate('setThresholds', { args: [{ expectedIntervalMs: EXPECTED_S * 1000 }] })).toEqual({
            expectedIntervalMs: EXPECTED_S * 1000,
          });
          expect(Object.keys((await state()).muted)).toEqual(['gps_stuck']);

          // Phase 2: the device resumes → `came-back` → the silence alert is resolved.
          await replayGps({ fixes: trip.slice(30, 40), source, mqttUrl: mqttUrl(), speedup: 'max' });
          await waitFor('silence resolved', async () => (await state()).status === 'ok', 30_000).catch(async (e: unknown) => {
            throw new Error(
              `${(e as Error).message}: sink ${JSON.stringify(sink.sent)}, received ${ingest.received.length}, state ${JSON.stringify(await state())}`,
            );
          });
          expect((await pool.query('SELECT status FROM quality.alerts WHERE id = $1', [silence.id])).rows[0]).toEqual({
            status: 'resolved',
          });
          await waitFor(
            'the resolved notification',
            () => Promise.resolve(sent.some((n) => n.dedupeKey === `alert/${silence.id}/resolved`)),
            10_000,
          );
          expect(
            sent
              .filter((n) => n.dedupeKey.startsWith(`alert/${silence.id}/`))
              .map((n) => n.dedupeKey.split('/')[2])
              .sort(),
          ).toEqual(['acknowledged', 'raised', 'resolved']);
          // The workflow writes the device row in an activity of its own, after the alert's: wait for it.
          const deviceRow = () =>
            pool.query<{ status: string; latest: { lat: number; lon: number } }>(
              'SELECT status, latest FROM fleet.devices WHERE source = $1 AND device_id = $2',
              [source, device],
            );
          await waitFor('the device row back to ok', async () => (await deviceRow()).rows[0]?.status === 'ok', 15_000);
          const dev = await deviceRow();
          expect(dev.rows[0]?.status).toBe('ok');
          expect(dev.rows[0]?.latest).toEqual({ lat: trip[39]!.lat, lon: trip[39]!.lon });

          // Ingest told the workflow only about changes: first seen and came back, not per message or batch.
          expect(ingest.batches()).toBeGreaterThan(2);
          expect(sink.sent).toEqual({ 'first-seen': 1, 'came-back': 1, 'out-of-range': 0 });
          expect((await state()).reports).toBe(2);
          await h.terminate('test done');
          await recordHistory(client, workflowId, 'deviceEntity-silence-ack-resume');
        },
      );
    } finally {
      await ingest.stop();
      await connection.close();
    }
  });

  it('continues as new with its state', async () => {
    const source = `fleet-can-${uniqueSuffix()}`;
    const sent: Notification[] = [];
    const notifier: Notifier = { notify: (n) => Promise.resolve(void sent.push(n)) };
    await withWorker(
      { workflowsPath: WORKFLOWS, activities: createDeviceActivities({ pool, notifier }) },
      async ({ client, taskQueue }) => {
        const workflowId = deviceWorkflowId(source, 'd1');
        const h = await client.workflow.start('deviceEntity', {
          workflowId,
          taskQueue,
          args: [{ source, deviceId: 'd1', kind: 'gps', expectedIntervalMs: 3_600_000, maxEventsPerRun: 25 }],
        });
        const firstRun = h.firstExecutionRunId;
        const now = Date.now();
        for (let i = 0; i < 12; i++) {
          await h.signal('reportActivity', {
            change: i === 0 ? 'first-seen' : 'came-back',
            receivedAt: now + i,
            lastEventTime: now + i,
            count: 1,
            latest: { lat: -10.9, lon: -37.05 + i / 1000 },
          });
          await new Promise((r) => setTimeout(r, 100));
        }
        await waitFor(
          '12 reports',
          async () => (await client.workflow.getHandle(workflowId).query<DeviceStateView>('deviceState')).reports === 12,
          20_000,
        );
        const desc = await client.workflow.getHandle(workflowId).describe();
        expect(desc.runId).not.toBe(firstRun);
        const s = await client.workflow.getHandle(workflowId).query<DeviceStateView>('deviceState');
        expect(s.latest).toEqual({ lat: -10.9, lon: -37.05 + 11 / 1000 });
        expect(s.firstSeen).toBe(new Date(now).toISOString());
        await client.workflow.getHandle(workflowId).terminate('test done');
        await recordHistory(client, workflowId, 'deviceEntity-continue-as-new');
      },
    );
  });
});
