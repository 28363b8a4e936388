/**
 * Data-quality checks on the full real GPS data set (UCI go!track) and the real UCI Air Quality file,
 * on the real Temporal server and PostgreSQL. The expected anomalies are computed HERE, independently
 * (plain string parsing and JavaScript instead of csv-parse and SQL), from the files and the rules file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createQualityActivities } from '../src/activities/quality';
import { createDeviceActivities } from '../src/activities/devices';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { nextBatchIds } from '../src/ingest/batch-writer';
import { deviceWorkflowId, type DeviceStateView } from '../src/devices/state';
import type { Notification, Notifier } from '../src/notify/index';
import { loadQualityRules } from '../src/quality/rules';
import { loadGpsFixes } from '../src/simulator/gps-files';
import { insertGpsFixes } from '../src/simulator/gps-db';
import type { QualityChecksResult } from '../src/workflows/quality-checks';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

const WORKFLOWS = path.join(ROOT_DIR, 'test/fixtures/workflows/fleet-index.ts');
const rules = loadQualityRules();

/** Captures notifications (the log sink's job, observable). */
class CaptureNotifier implements Notifier {
  readonly sent: Notification[] = [];
  notify(n: Notification): Promise<void> {
    this.sent.push(n);
    return Promise.resolve();
  }
}

// ---------- independent computation from the raw files ----------
interface Fix {
  seq: number;
  device: string;
  track: string;
  t: number;
  lat: number;
  lon: number;
  latS: string;
  lonS: string;
}

function readCsv(file: string): string[][] {
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(1)
    .map((l) => l.split(','));
}

function rawFixes(): Fix[] {
  const dir = path.join(ROOT_DIR, 'data/uci-gps-trajectories');
  const deviceOf = new Map(readCsv(path.join(dir, 'go_track_tracks.csv')).map((c) => [c[0]!, c[1]!]));
  return readCsv(path.join(dir, 'go_track_trackspoints.csv')).map((c) => {
    const [d, hm] = c[4]!.split(' ');
    const [h, m] = hm!.split(':');
    // Local time of Aracaju, UTC−3.
    const t = Date.parse(`${d}T${h!.padStart(2, '0')}:${m}:00-03:00`);
    return {
      seq: Number(c[0]),
      device: deviceOf.get(c[3]!)!,
      track: c[3]!,
      t,
      lat: Number(c[1]),
      lon: Number(c[2]),
      latS: c[1]!,
      lonS: c[2]!,
    };
  });
}

function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = (x: number) => (x * Math.PI) / 180;
  const a = Math.sin(r(lat2 - lat1) / 2) ** 2 + Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

function expectedGps(fixes: Fix[]) {
  const valid = (f: Fix) => f.lat >= -90 && f.lat <= 90 && f.lon >= -180 && f.lon <= 180 && !(f.lat === 0 && f.lon === 0);
  const byDevice = new Map<string, Fix[]>();
  for (const f of fixes) byDevice.set(f.device, [...(byDevice.get(f.device) ?? []), f]);
  const invalid = new Map<string, number[]>();
  const outside = new Map<string, number[]>();
  const jumps = new Map<string, string[]>();
  const overlapping = new Map<string, string[]>();
  const stuck = new Map<string, string[]>();
  const reg = rules.gps.region;
  if (reg.kind !== 'radius') throw new Error('test expects a radius region');
  for (const [dev, list] of byDevice) {
    list.sort((a, b) => a.t - b.t || a.seq - b.seq);
    const inv = list.filter((f) => !valid(f)).map((f) => f.seq);
    if (inv.length) invalid.set(dev, inv);
    const ok = list.filter(valid);
    const out = ok.filter((f) => haversineKm(reg.centerLat, reg.centerLon, f.lat, f.lon) > reg.radiusKm).map((f) => f.seq);
    if (out.length) outside.set(dev, out);
    // Jumps: consecutive fixes of the same track (tracks recorded at once must not interleave).
    const j: string[] = [];
    for (const track of new Set(ok.map((f) => f.track))) {
      const inTrack = ok.filter((f) => f.track === track);
      for (let i = 1; i < inTrack.length; i++) {
        const a = inTrack[i - 1]!;
        const b = inTrack[i]!;
        const hours = ((b.t - a.t) / 1000 + rules.gps.impossibleJump.timeResolutionSeconds) / 3600;
        if (haversineKm(a.lat, a.lon, b.lat, b.lon) / hours > rules.gps.impossibleJump.maxSpeedKmh) j.push(`${a.seq}>${b.seq}`);
      }
    }
    if (j.length) jumps.set(dev, j);
    // Overlapping tracks: each starts before the other ends (exact duplicates are reported as such).
    const spans = [...new Set(list.map((f) => f.track))].map((track) => {
      const ts = list.filter((f) => f.track === track);
      const signature = ts
        .slice()
        .sort((a, b) => a.seq - b.seq)
        .map((f) => `${f.t}|${f.latS}|${f.lonS}`)
        .join(';');
      return { track, from: Math.min(...ts.map((f) => f.t)), to: Math.max(...ts.map((f) => f.t)), signature };
    });
    const pairs: string[] = [];
    for (const a of spans)
      for (const b of spans)
        if (a.track < b.track && a.from < b.to && b.from < a.to && a.signature !== b.signature) pairs.push(`${a.track}+${b.track}`);
    if (pairs.length) overlapping.set(dev, pairs);
    const runs: string[] = [];
    let start = 0;
    for (let i = 1; i <= ok.length; i++) {
      if (i < ok.length && ok[i]!.lat === ok[start]!.lat && ok[i]!.lon === ok[start]!.lon) continue;
      if (i - start >= rules.gps.stuck.minFixes) runs.push(`${ok[start]!.seq}..${ok[i - 1]!.seq}:${i - start}`);
      start = i;
    }
    if (runs.length) stuck.set(dev, runs);
  }
  // Exact duplicate tracks: same (time, lat, lon) sequence in seq order.
  const byTrack = new Map<string, Fix[]>();
  for (const f of fixes) byTrack.set(f.track, [...(byTrack.get(f.track) ?? []), f]);
  const sig = new Map<string, string[]>();
  for (const [track, list] of byTrack) {
    const s = list
      .sort((a, b) => a.seq - b.seq)
      .map((f) => `${f.t}|${f.lat}|${f.lon}`)
      .join(';');
    sig.set(s, [...(sig.get(s) ?? []), track]);
  }
  const dups = new Map<string, string[]>();
  for (const tracks of sig.values()) {
    if (tracks.length < 2) continue;
    for (const t of tracks) {
      const dev = byTrack.get(t)![0]!.device;
      dups.set(dev, [...(dups.get(dev) ?? []), t].sort());
    }
  }
  return { invalid, outside, jumps, overlapping, stuck, dups };
}

type AlertDb = { device_id: string; rule: string; evidence: Record<string, unknown>; severity: string; status: string; id: string };

async function alertsOf(source: string): Promise<AlertDb[]> {
  return (
    await pool.query<AlertDb>('SELECT id, device_id, rule, evidence, severity, status FROM quality.alerts WHERE source = $1', [source])
  ).rows;
}

function byRule(rows: AlertDb[], rule: string): Map<string, Record<string, unknown>> {
  return new Map(rows.filter((r) => r.rule === rule).map((r) => [r.device_id, r.evidence]));
}

describe('quality checks', () => {
  it('finds exactly the anomalies of the full GPS data set, once per (device, rule, window), and hands them to the device workflows', async () => {
    const source = `gps-q-${uniqueSuffix()}`;
    const fixes = loadGpsFixes();
    expect(await insertGpsFixes(pool, source, fixes)).toBe(18107);
    // The direct loader writes no batch: give the fixes two real batch ids (even and odd seq) to follow.
    const [evenBatch, oddBatch] = await nextBatchIds(pool, 2);
    await pool.query('UPDATE ingest.gps_fixes SET batch_id = CASE WHEN seq % 2 = 0 THEN $2::bigint ELSE $3::bigint END WHERE source = $1', [
      source,
      evenBatch,
      oddBatch,
    ]);
    const expected = expectedGps(rawFixes());
    // Sanity: the data really holds anomalies of most kinds.
    expect(expected.outside.size).toBeGreaterThan(0);
    expect(expected.jumps.size).toBeGreaterThan(0);
    expect(expected.stuck.size).toBeGreaterThan(0);
    expect(expected.dups.size).toBeGreaterThan(0);
    expect(expected.overlapping.size).toBeGreaterThan(0);

    const settings = loadSettings();
    const connection = await Connection.connect({ address: settings.temporalAddress });
    const actClient = new Client({ connection, namespace: settings.temporalNamespace });
    const notifier = new CaptureNotifier();
    const taskQueue = `test-quality-${uniqueSuffix()}`;
    const activities = {
      ...createQualityActivities({ pool, notifier, client: actClient, taskQueue }),
      ...createDeviceActivities({ pool, notifier }),
    };
    try {
      await withWorker({ workflowsPath: WORKFLOWS, activities, taskQueue }, async ({ client }) => {
        const input = {
          dataIntervalStart: '2014-09-01T00:00:00.000Z',
          dataIntervalEnd: '2016-02-01T00:00:00.000Z',
          source,
          groups: ['gps', 'silence'],
        };
        const workflowId = `quality-checks-${source}`;
        const first = (await client.workflow.execute('qualityChecks', { workflowId, taskQueue, args: [input] })) as QualityChecksResult;
        const rows = await alertsOf(source);
        expect(first.newAlerts).toBe(rows.length);

        const sorted = (x: Iterable<string>) => [...x].sort();
        // Invalid coordinates: the data has none, and none are reported.
        expect(sorted(byRule(rows, 'gps_invalid_coordinates').keys())).toEqual(sorted(expected.invalid.keys()));
        // Outside the region: the same devices and exactly the same fixes.
        const outside = byRule(rows, 'gps_outside_region');
        expect(sorted(outside.keys())).toEqual(sorted(expected.outside.keys()));
        for (const [dev, seqs] of expected.outside)
          expect((outside.get(dev)!.seqs as number[]).slice().sort((a, b) => a - b)).toEqual(seqs.slice().sort((a, b) => a - b));
        // Impossible jumps: same devices and the same consecutive pairs.
        const jumps = byRule(rows, 'gps_impossible_jump');
        expect(sorted(jumps.keys())).toEqual(sorted(expected.jumps.keys()));
        for (const [dev, pairs] of expected.jumps) {
          const got = (jumps.get(dev)!.pairs as Array<{ fromSeq: number; toSeq: number }>).map((p) => `${p.fromSeq}>${p.toSeq}`);
          expect(sorted(got)).toEqual(sorted(pairs));
        }
        // Tracks of one device recorded at the same time: one finding per device, the same pairs.
        const overlapping = byRule(rows, 'gps_overlapping_tracks');
        expect(sorted(overlapping.keys())).toEqual(sorted(expected.overlapping.keys()));
        for (const [dev, pairs] of expected.overlapping) {
          const got = (overlapping.get(dev)!.pairs as Array<{ trackId: string; otherTrackId: string }>).map(
            (p) => `${p.trackId}+${p.otherTrackId}`,
          );
          expect(sorted(got)).toEqual(sorted(pairs));
        }
        // Stuck GPS: same runs (first..last seq and length).
        const stuck = byRule(rows, 'gps_stuck');
        expect(sorted(stuck.keys())).toEqual(sorted(expected.stuck.keys()));
        for (const [dev, runs] of expected.stuck) {
          const got = (stuck.get(dev)!.runs as Array<{ firstSeq: number; lastSeq: number; fixes: number }>).map(
            (r) => `${r.firstSeq}..${r.lastSeq}:${r.fixes}`,
          );
          expect(sorted(got)).toEqual(sorted(runs));
        }
        // Exact duplicate tracks.
        const dups = byRule(rows, 'gps_duplicate_track');
        expect(sorted(dups.keys())).toEqual(sorted(expected.dups.keys()));
        for (const [dev, tracks] of expected.dups) {
          expect(sorted((dups.get(dev)!.tracks as Array<{ trackId: string }>).map((t) => t.trackId))).toEqual(tracks);
        }
        // Silence at the window end: no device has data in the last 24 h before 2016-02-01.
        expect(byRule(rows, 'device_silent').size).toBe(0);

        // Lineage: each alert names the run that raised it and the batches of its device's fixes in the window.
        const lineageOf = async () =>
          (
            await pool.query<{ device_id: string; workflow_run_id: string; ingest_batch_ids: string[] }>(
              'SELECT device_id, workflow_run_id, ingest_batch_ids FROM quality.alerts WHERE source = $1',
              [source],
            )
          ).rows;
        const seqsOf = new Map<string, Set<number>>();
        for (const f of fixes) seqsOf.set(f.deviceId, (seqsOf.get(f.deviceId) ?? new Set()).add(f.seq % 2));
        const batchesOf = (dev: string) =>
          [...seqsOf.get(dev)!].map((parity) => String(parity === 0 ? evenBatch : oddBatch)).sort((a, b) => Number(a) - Number(b));
        const firstRun = (await client.workflow.getHandle(workflowId).describe()).runId;
        for (const a of await lineageOf()) {
          expect(a.workflow_run_id).toBe(firstRun);
          expect(a.ingest_batch_ids).toEqual(batchesOf(a.device_id));
        }

        // Re-running the window adds no alert.
        const again = (await client.workflow.execute('qualityChecks', {
          workflowId: `${workflowId}-rerun`,
          taskQueue,
          args: [input],
        })) as QualityChecksResult;
        expect(again.newAlerts).toBe(0);
        expect(again.refreshedAlerts).toBe(rows.length);
        expect((await alertsOf(source)).length).toBe(rows.length);
        // ... and the refreshed alerts name the run that last judged them.
        const rerun = (await client.workflow.getHandle(`${workflowId}-rerun`).describe()).runId;
        expect(new Set((await lineageOf()).map((a) => a.workflow_run_id))).toEqual(new Set([rerun]));
        await recordHistory(client, workflowId, 'qualityChecks-gps-full-dataset');

        // Every device with an alert has its entity workflow, which knows its open alerts and notified each once.
        const devices = new Set(rows.map((r) => r.device_id));
        expect(first.devicesSignalled).toBe(devices.size);
        for (const dev of devices) {
          const h = client.workflow.getHandle(deviceWorkflowId(source, dev));
          await waitFor(
            `device ${dev} to know its alerts`,
            async () => {
              const s = await h.query<DeviceStateView>('deviceState');
              return s.openAlerts.length === rows.filter((r) => r.device_id === dev).length;
            },
            30_000,
          );
        }
        await waitFor(
          'one notification per alert',
          () =>
            notifier.sent.filter((n) => n.dedupeKey.endsWith('/raised') && rows.some((r) => n.dedupeKey === `alert/${r.id}/raised`))
              .length === rows.length,
          30_000,
        );
        const keys = notifier.sent.map((n) => n.dedupeKey);
        expect(new Set(keys).size).toBe(keys.length);
        // The summary is notified once per window even though the window ran twice.
        expect(keys.filter((k) => k.startsWith(`quality-checks/${source}:`)).length).toBe(1);
        for (const dev of devices) await client.workflow.getHandle(deviceWorkflowId(source, dev)).terminate('test done');
      });
    } finally {
      await connection.close();
    }
  });

  it('reports the -200 fault codes of UCI Air Quality per device with their exact readings', async () => {
    const source = `aq-q-${uniqueSuffix()}`;
    // Independent parse of the real file (plain split; columns Date, Time, …, T = 12, RH = 13).
    const lines = fs.readFileSync(path.join(ROOT_DIR, 'data/uci-air-quality/AirQuality.csv'), 'utf8').split(/\r?\n/).slice(1);
    const rowsIn: Array<{ t: string; temperature: number; humidity: number }> = [];
    for (const l of lines) {
      const c = l.split(',');
      if (!c[0] || !c[1]) continue;
      rowsIn.push({ t: new Date(`${c[0]}T${c[1]}Z`).toISOString(), temperature: Number(c[12]), humidity: Number(c[13]) });
    }
    expect(rowsIn.length).toBeGreaterThan(9000);
    await pool.query(
      `INSERT INTO ingest.sensor_readings (source, device_id, event_time, temperature, humidity)
       SELECT $1, 'roadside-1', t, a, b FROM unnest($2::timestamptz[], $3::float8[], $4::float8[]) AS u(t, a, b) ON CONFLICT DO NOTHING`,
      [source, rowsIn.map((r) => r.t), rowsIn.map((r) => r.temperature), rowsIn.map((r) => r.humidity)],
    );
    const faulty = rowsIn.filter((r) => r.temperature === -200 || r.humidity === -200);
    expect(faulty.length).toBeGreaterThan(0);

    const notifier = new CaptureNotifier();
    const taskQueue = `test-quality-aq-${uniqueSuffix()}`;
    const activities = { ...createQualityActivities({ pool, notifier, taskQueue }), ...createDeviceActivities({ pool, notifier }) };
    await withWorker({ workflowsPath: WORKFLOWS, activities, taskQueue }, async ({ client }) => {
      const input = {
        dataIntervalStart: '2004-03-01T00:00:00.000Z',
        dataIntervalEnd: '2005-05-01T00:00:00.000Z',
        source,
        groups: ['sensors'],
      };
      const r = (await client.workflow.execute('qualityChecks', {
        workflowId: `quality-checks-${source}`,
        taskQueue,
        args: [input],
      })) as QualityChecksResult;
      expect(r.newAlerts).toBe(1);
      const rows = await alertsOf(source);
      expect(rows.map((x) => [x.device_id, x.rule])).toEqual([['roadside-1', 'sensor_sentinel']]);
      const ev = rows[0]!.evidence as { faulty: number; readings: number; eventTimes: string[]; columns: Record<string, number> };
      expect(ev.readings).toBe(rowsIn.length);
      expect(ev.faulty).toBe(faulty.length);
      expect(ev.eventTimes).toEqual(faulty.map((f) => f.t).sort());
      expect(ev.columns).toEqual({
        temperature: rowsIn.filter((x) => x.temperature === -200).length,
        humidity: rowsIn.filter((x) => x.humidity === -200).length,
      });
      // Below the configured error fraction over the whole period: a warning.
      expect(rows[0]!.severity).toBe(faulty.length / rowsIn.length >= rules.sensors.sentinel.errorFraction ? 'error' : 'warning');
      // Without a client, new alerts are notified directly, once.
      expect(notifier.sent.filter((n) => n.dedupeKey === `alert/${rows[0]!.id}/raised`).length).toBe(1);
    });
  });
});
