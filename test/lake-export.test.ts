/**
 * Lake export on the real stack: raw events of two sources (modem telemetry, GPS fixes) and their dead
 * letters, ingested through the batch writer, are exported by the lakeExport workflow to
 * `<source>/dt=…/hour=…/` and `errors/<source>/dt=…/hour=…/` Parquet partitions and read back with
 * DuckDB; a re-run replaces the partitions, and a re-run after one source's rows are gone removes its
 * stale partition. Plus the folder-name encoding and the `errors` source collision.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createLakeActivities } from '../src/activities/lake-export';
import { ROOT_DIR } from '../src/config/env';
import { encodeGpsFix, encodeTelemetry } from '../src/simulator/payloads';
import type { LakeExportResult, RejectedLakeHour } from '../src/workflows/lake-export';
import {
  decodeSegment,
  encodeSegment,
  errorsPrefix,
  eventsPrefix,
  hourPrefix,
  LakeSourceNameError,
  sourceSegment,
} from '../src/lake/layout';
import { testPool, uniqueSuffix } from './support/db';
import { ingestThrough, type TestMessage } from './support/ingest';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
/** The lake of the running test: each test gets a fresh folder, so none depends on another's files or order. */
let lakeDir = '';
const lakeDirs: string[] = [];
beforeEach(() => {
  lakeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lake-'));
  lakeDirs.push(lakeDir);
});
afterAll(async () => {
  await pool.end();
  for (const dir of lakeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const HOUR_MS = 3_600_000;

async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** Files under the lake root, relative, sorted (staging folders are empty between exports). */
function lakeFiles(): string[] {
  return fs
    .readdirSync(lakeDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => fs.statSync(path.join(lakeDir, f)).isFile())
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

function telemetryMessages(source: string, n: number, t0: number): TestMessage[] {
  return [...Array(n).keys()].map((i) => ({
    payload: Buffer.from(
      encodeTelemetry({
        deviceId: `m-${i % 5}`,
        eventTime: t0 + i * 1000,
        model: 'RUT955',
        interface: 'wan',
        interfaceStatus: 'up',
        cpuUsage: i,
        memoryUsage: 50,
      }),
    ),
    origin: { topic: 't', partition: 0, offset: i },
    dedupeKey: `lake-test:${source}:${i}`,
  }));
}

function badMessage(source: string, payload: string, key: string): TestMessage {
  return { payload: Buffer.from(payload), origin: { topic: 't', partition: 0, offset: 999 }, dedupeKey: `lake-test:${source}:${key}` };
}

/** Ingests `messages` for `source` through the shipped source file `kind` in one batch; returns the batch id. */
async function ingest(kind: 'modem' | 'gps' | 'sensor', source: string, messages: TestMessage[]): Promise<number> {
  const r = await ingestThrough(pool, kind, source, messages, { consumer: 'lake-test', deviceStatus: false });
  return r.batchId;
}

/** Test setup: moves the arrival time of a test source's rows (all tables) to `at`. */
async function setArrival(source: string, at: Date): Promise<void> {
  for (const table of ['ingest.modem_telemetry', 'ingest.gps_fixes', 'ingest.sensor_readings', 'ingest.dead_letters']) {
    await pool.query(`UPDATE ${table} SET received_at = $2 WHERE source = $1`, [source, at]);
  }
}

describe('lake layout', () => {
  it('encodes a source as one safe folder segment, reversibly', () => {
    expect(encodeSegment('plant-1_line.2')).toBe('plant-1_line.2');
    expect(encodeSegment('plant 1/line:2')).toBe('plant%201%2Fline%3A2');
    expect(encodeSegment('a=b%c')).toBe('a%3Db%25c');
    expect(encodeSegment('..')).toBe('%2E.');
    expect(encodeSegment('_tmp')).toBe('%5Ftmp');
    expect(encodeSegment('zürich')).toBe('z%C3%BCrich');
    for (const s of ['plant 1/line:2', 'a=b%c', '..', '_tmp', 'zürich', "it's (x)*~!"]) {
      expect(encodeSegment(s)).toMatch(/^[A-Za-z0-9%-][A-Za-z0-9._%-]*$/);
      expect(decodeSegment(encodeSegment(s))).toBe(s);
    }
    const hour = new Date(Date.UTC(2024, 4, 1, 7));
    expect(hourPrefix(hour)).toBe('dt=2024-05-01/hour=07');
    expect(eventsPrefix('plant 1', hour)).toBe('plant%201/dt=2024-05-01/hour=07');
    expect(errorsPrefix('plant 1', hour)).toBe('errors/plant%201/dt=2024-05-01/hour=07');
  });

  it('rejects a source named errors for raw events, with what to do', () => {
    const hour = new Date(Date.UTC(2024, 4, 1, 7));
    for (const name of ['errors', 'Errors', 'ERRORS']) {
      expect(() => eventsPrefix(name, hour)).toThrow(LakeSourceNameError);
    }
    let err: unknown;
    try {
      sourceSegment('errors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LakeSourceNameError);
    expect((err as LakeSourceNameError).source).toBe('errors');
    expect((err as LakeSourceNameError).message).toMatch(/collides with the lake's dead-letter prefix "errors\/".*Rename the source/);
    expect(() => eventsPrefix('', hour)).toThrow(/is empty/);
    expect(() => eventsPrefix('x'.repeat(300), hour)).toThrow(/max 255/);
    // Dead letters of such a source are fine, and names that merely contain "errors" too.
    expect(errorsPrefix('errors', hour)).toBe('errors/errors/dt=2024-05-01/hour=07');
    expect(eventsPrefix('errors-feed', hour)).toBe('errors-feed/dt=2024-05-01/hour=07');
  });
});

describe('lake export', () => {
  it('exports two sources and their dead letters per source, replaces on re-run, removes stale partitions', async () => {
    const suffix = uniqueSuffix();
    const modem = `lake-m-${suffix}`;
    const gps = `lake gps:${suffix}`; // exercises the folder-name encoding
    const hour = new Date(Date.UTC(2023, 6, 14, 9));
    const t0 = Date.UTC(2024, 4, 1, 12);

    const modemMessages = telemetryMessages(modem, 50, t0);
    // Longer than 57 bytes: PostgreSQL's base64 wraps lines there, which the export must undo.
    const badPayload = `{"bad": "${'x'.repeat(200)}"`;
    modemMessages.push(badMessage(modem, badPayload, 'bad'));
    await ingest('modem', modem, modemMessages);

    const fixes = [...Array(20).keys()].map((i) => ({
      deviceId: `car-${i % 2}`,
      seq: i,
      eventTime: t0 + i * 1000,
      trackId: 't1',
      latitude: -10.9 + i / 1000,
      longitude: -37.06,
    }));
    const gpsMessages: TestMessage[] = fixes.map((f) => ({
      payload: Buffer.from(encodeGpsFix(f)),
      origin: { topic: 'g', partition: 0, offset: f.seq },
      dedupeKey: `lake-test:${gps}:${f.seq}`,
    }));
    gpsMessages.push(badMessage(gps, 'not json', 'bad1'), badMessage(gps, '{"device_id": 1}', 'bad2'));
    await ingest('gps', gps, gpsMessages);

    await setArrival(modem, new Date(hour.getTime() + 10 * 60_000));
    await setArrival(gps, new Date(hour.getTime() + 59 * 60_000));
    // Arrived exactly at the end of the hour: belongs to the next hour's partition.
    await pool.query('UPDATE ingest.gps_fixes SET received_at = $2 WHERE source = $1 AND seq = 19', [
      gps,
      new Date(hour.getTime() + HOUR_MS),
    ]);
    const gpsInHour = fixes.filter((f) => f.seq !== 19);

    const hp = hourPrefix(hour);
    const m = encodeSegment(modem);
    const g = encodeSegment(gps);
    expect(g).toBe(`lake%20gps%3A${suffix}`);

    await withWorker(
      { workflowsPath: path.join(ROOT_DIR, 'src/workflows/lake-export.ts'), activities: createLakeActivities({ pool, lakeDir }) },
      async ({ client, taskQueue }) => {
        const run = (id: string): Promise<LakeExportResult> =>
          client.workflow.execute('lakeExport', {
            workflowId: id,
            taskQueue,
            args: [
              {
                dataIntervalStart: hour.toISOString(),
                dataIntervalEnd: new Date(hour.getTime() + HOUR_MS).toISOString(),
                sources: [modem, gps],
              },
            ],
          });
        const workflowId = `lake-export-${suffix}`;
        const r = await run(workflowId);
        expect(r.rows).toBe(50 + 19 + 1 + 2);
        expect(r.removed).toEqual([]);
        const expectedFiles = [
          `${m}/${hp}/part-0.parquet`,
          `${g}/${hp}/part-0.parquet`,
          `errors/${m}/${hp}/part-0.parquet`,
          `errors/${g}/${hp}/part-0.parquet`,
        ].sort();
        expect(r.partitions.flatMap((p) => p.files).sort()).toEqual(expectedFiles);
        expect(lakeFiles()).toEqual(expectedFiles);

        // Raw events, all sources at once: `<root>/*/dt=*/hour=*` does not reach into `errors/<source>/…`.
        const raw = await duck(
          `SELECT source, count(*) AS n, sum(cpu_usage) AS cpu, sum(latitude) AS lat, min(dt) AS dt, min(hour) AS hour
             FROM read_parquet('${lakeDir}/*/dt=*/hour=*/*.parquet', hive_partitioning = true, union_by_name = true)
            GROUP BY source ORDER BY source`,
        );
        // Byte order: ' ' < '-'.
        expect(raw.map((x) => [x.source, Number(x.n)])).toEqual([
          [gps, 19],
          [modem, 50],
        ]);
        const bySource = new Map(raw.map((x) => [x.source, x]));
        expect(Number(bySource.get(modem)!.cpu)).toBe((49 * 50) / 2);
        expect(bySource.get(modem)!.lat).toBeNull();
        expect(Number(bySource.get(gps)!.lat)).toBeCloseTo(
          gpsInHour.reduce((s, f) => s + f.latitude, 0),
          9,
        );
        expect(String(bySource.get(gps)!.dt)).toBe(hour.toISOString().slice(0, 10));
        expect(Number(bySource.get(gps)!.hour)).toBe(hour.getUTCHours());
        // Each file names its table in the Parquet footer.
        const kv = await duck(
          `SELECT decode(value) AS v FROM parquet_kv_metadata('${lakeDir}/${g}/${hp}/part-0.parquet') WHERE decode(key) = 'table'`,
        );
        expect(kv).toEqual([{ v: 'ingest.gps_fixes' }]);

        // Dead letters per source.
        const errors = await duck(
          `SELECT source, error_code, decode(payload) AS payload
             FROM read_parquet('${lakeDir}/errors/*/dt=*/hour=*/*.parquet', hive_partitioning = true)
            ORDER BY source, payload`,
        );
        expect(errors.filter((e) => e.source === modem)).toEqual([{ source: modem, error_code: 'not_json', payload: badPayload }]);
        expect(errors.filter((e) => e.source === gps).map((e) => e.payload)).toEqual(['not json', '{"device_id": 1}'].sort());
        expect(errors).toHaveLength(3);

        // Re-run: every partition replaced, not appended.
        const again = await run(`${workflowId}-rerun`);
        expect(again.rows).toBe(r.rows);
        expect(lakeFiles()).toEqual(expectedFiles);
        const counts = await duck(
          `SELECT count(*) AS n FROM read_parquet('${lakeDir}/${m}/**/*.parquet') UNION ALL
           SELECT count(*) FROM read_parquet('${lakeDir}/errors/${g}/**/*.parquet')`,
        );
        expect(counts.map((x) => Number(x.n))).toEqual([50, 2]);
        expect(fs.readdirSync(path.join(lakeDir, m, hp))).toEqual(['part-0.parquet']);
        const tracked = await pool.query<{ prefix: string; rows: string }>(
          'SELECT prefix, rows FROM ingest.lake_partitions WHERE source = ANY($1) AND hour = $2 ORDER BY prefix',
          [[modem, gps], hour],
        );
        expect(tracked.rows.map((x) => [x.prefix, Number(x.rows)])).toEqual(
          [
            [`${m}/${hp}`, 50],
            [`${g}/${hp}`, 19],
            [`errors/${m}/${hp}`, 1],
            [`errors/${g}/${hp}`, 2],
          ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
        );
        await recordHistory(client, workflowId, 'lakeExport-hour-rerun');

        // The GPS source's raw rows are gone (test-only delete): its stale partition is removed,
        // its dead letters stay.
        await pool.query('DELETE FROM ingest.gps_fixes WHERE source = $1', [gps]);
        const stale = await run(`${workflowId}-stale`);
        expect(stale.removed).toEqual([`${g}/${hp}`]);
        expect(stale.rows).toBe(50 + 1 + 2);
        expect(lakeFiles()).toEqual(expectedFiles.filter((f) => !f.startsWith(`${g}/`)));
        expect(fs.existsSync(path.join(lakeDir, g))).toBe(false);
        const left = await pool.query('SELECT 1 FROM ingest.lake_partitions WHERE prefix = $1', [`${g}/${hp}`]);
        expect(left.rowCount).toBe(0);
        await recordHistory(client, `${workflowId}-stale`, 'lakeExport-stale-partition-removed');
      },
    );
  });

  it('writes one file per table for a source with rows in two tables; a dataset filter keeps both', async () => {
    const source = `lake-mixed-${uniqueSuffix()}`;
    const hour = new Date(Date.UTC(2023, 6, 14, 13));
    const t0 = Date.UTC(2024, 4, 1, 12);
    await ingest('modem', source, telemetryMessages(source, 4, t0));
    const fix = { deviceId: 'car-9', seq: 1, eventTime: t0, trackId: 't', latitude: 1.5, longitude: 2.5 };
    await ingest('gps', source, [{ payload: Buffer.from(encodeGpsFix(fix)), origin: {}, dedupeKey: `lake-test:${source}:gps` }]);
    await setArrival(source, new Date(hour.getTime() + 1000));
    const acts = createLakeActivities({ pool, lakeDir });
    const prefix = eventsPrefix(source, hour);
    const files = [`${prefix}/part-0-gps_fixes.parquet`, `${prefix}/part-0-modem_telemetry.parquet`];

    const all = await acts.exportLakeHour({ hour: hour.toISOString(), sources: [source] });
    expect(all.map((p) => [p.prefix, p.datasets, p.rows, p.status])).toEqual([[prefix, ['modem_telemetry', 'gps_fixes'], 5, 'written']]);
    expect(lakeFiles().filter((f) => f.startsWith(`${prefix}/`))).toEqual(files);
    // Only GPS selected: the partition is still rebuilt whole, with the modem file.
    const gpsOnly = await acts.exportLakeHour({ hour: hour.toISOString(), datasets: ['gps_fixes'], sources: [source] });
    expect(gpsOnly.map((p) => [p.prefix, p.rows])).toEqual([[prefix, 5]]);
    expect(lakeFiles().filter((f) => f.startsWith(`${prefix}/`))).toEqual(files);
    const back = await duck(
      `SELECT (SELECT count(*) FROM read_parquet('${lakeDir}/${files[1]}')) AS modem, (SELECT sum(latitude) FROM read_parquet('${lakeDir}/${files[0]}')) AS lat`,
    );
    expect(back).toEqual([{ modem: '4', lat: 1.5 }]); // BIGINT as a JSON string
    // Only errors selected: the raw partition is neither rewritten nor removed.
    expect(await acts.exportLakeHour({ hour: hour.toISOString(), datasets: ['errors'], sources: [source] })).toEqual([]);
    expect(lakeFiles().filter((f) => f.startsWith(`${prefix}/`))).toEqual(files);
  });

  it('exports the other sources, then fails clearly for a source named errors (no write into errors/)', async () => {
    const suffix = uniqueSuffix();
    const ok = `lake-ok-${suffix}`;
    const hour = new Date(Date.UTC(2023, 6, 14, 11));
    const t0 = Date.UTC(2024, 4, 1, 12);
    await ingest('modem', ok, telemetryMessages(ok, 3, t0));
    await setArrival(ok, new Date(hour.getTime() + 60_000));
    // A source literally named "errors" (not unique: its rows are deleted again below).
    const batchId = await ingest('modem', 'errors', [...telemetryMessages(`errors-${suffix}`, 2, t0), badMessage('errors', '[', suffix)]);
    const at = new Date(hour.getTime() + 120_000);
    try {
      await pool.query('UPDATE ingest.modem_telemetry SET received_at = $2 WHERE batch_id = $1', [batchId, at]);
      await pool.query('UPDATE ingest.dead_letters SET received_at = $2 WHERE batch_id = $1', [batchId, at]);
      const acts = createLakeActivities({ pool, lakeDir });
      const err = await acts.exportLakeHour({ hour: hour.toISOString(), sources: ['errors', ok] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationFailure);
      const failure = err as ApplicationFailure;
      expect(failure.type).toBe('LakeSourceNameError');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/source "errors" collides with the lake's dead-letter prefix "errors\/".*Rename the source/);
      const hp = hourPrefix(hour);
      // The other source was exported; the "errors" source's dead letters go to errors/errors/…, its raw
      // events nowhere (never into the dead-letter prefix).
      expect(fs.existsSync(path.join(lakeDir, ok, hp, 'part-0.parquet'))).toBe(true);
      expect(fs.existsSync(path.join(lakeDir, 'errors', 'errors', hp, 'part-0.parquet'))).toBe(true);
      expect(fs.existsSync(path.join(lakeDir, 'errors', hp))).toBe(false);
      const back = await duck(`SELECT count(*) AS n FROM read_parquet('${lakeDir}/errors/errors/${hp}/*.parquet')`);
      expect(Number(back[0]!.n)).toBe(1);
    } finally {
      await pool.query('DELETE FROM ingest.modem_telemetry WHERE batch_id = $1', [batchId]);
      await pool.query('DELETE FROM ingest.dead_letters WHERE batch_id = $1', [batchId]);
      await pool.query("DELETE FROM ingest.lake_partitions WHERE source = 'errors' AND hour = $1", [hour]);
    }
  });
  it('a source named errors does not stop the later hours of a backfill: every hour is exported, then the run fails naming it', async () => {
    const suffix = uniqueSuffix();
    const early = `lake-early-${suffix}`;
    const late = `lake-late-${suffix}`;
    const first = new Date(Date.UTC(2023, 6, 15, 8));
    const second = new Date(first.getTime() + 3_600_000);
    const t0 = Date.UTC(2024, 4, 2, 12);
    await ingest('modem', early, telemetryMessages(early, 2, t0));
    await setArrival(early, new Date(first.getTime() + 60_000));
    await ingest('modem', late, telemetryMessages(late, 3, t0));
    await setArrival(late, new Date(second.getTime() + 60_000));
    const batchId = await ingest('modem', 'errors', telemetryMessages(`errors-${suffix}`, 1, t0));
    try {
      await pool.query('UPDATE ingest.modem_telemetry SET received_at = $2 WHERE batch_id = $1', [
        batchId,
        new Date(first.getTime() + 120_000),
      ]);
      await withWorker(
        { workflowsPath: path.join(ROOT_DIR, 'src/workflows/lake-export.ts'), activities: createLakeActivities({ pool, lakeDir }) },
        async ({ client, taskQueue }) => {
          const workflowId = `lake-rejected-${suffix}`;
          const err = await client.workflow
            .execute('lakeExport', {
              workflowId,
              taskQueue,
              args: [
                {
                  dataIntervalStart: first.toISOString(),
                  dataIntervalEnd: new Date(second.getTime() + 3_600_000).toISOString(),
                  sources: ['errors', early, late],
                },
              ],
            })
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect(err).toBeInstanceOf(WorkflowFailedError);
          const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
          expect(failure).toBeInstanceOf(ApplicationFailure);
          expect(failure.type).toBe('LakeSourceNameError');
          expect(failure.message).toMatch(/^1 of 2 hour\(s\) could not export every source \(.*source "errors" collides/);
          const details = failure.details?.[0] as { rejected: RejectedLakeHour[]; hours: string[]; partitions: Array<{ source: string }> };
          expect(details.rejected.map((r) => r.hour)).toEqual([first.toISOString()]);
          expect(details.hours).toEqual([first.toISOString(), second.toISOString()]);
          // The hour after the rejected one was exported, and so was the rejected hour's other source.
          expect(details.partitions.map((p) => p.source)).toEqual([late]);
          expect(fs.existsSync(path.join(lakeDir, late, hourPrefix(second), 'part-0.parquet'))).toBe(true);
          expect(fs.existsSync(path.join(lakeDir, early, hourPrefix(first), 'part-0.parquet'))).toBe(true);
          await recordHistory(client, workflowId, 'lakeExport-rejected-source-later-hours');
        },
      );
    } finally {
      await pool.query('DELETE FROM ingest.modem_telemetry WHERE batch_id = $1', [batchId]);
      await pool.query("DELETE FROM ingest.lake_partitions WHERE source = 'errors' AND hour = $1", [first]);
    }
  });
});
