/**
 * Occupancy model + inference activity against the real PostgreSQL:
 * (a) ONNX predictions in Node equal scikit-learn's (fixture written by ml/train_occupancy.py) to 1e-6;
 * (b) the SQL date_bin aggregate of the REAL datatest.txt readings yields the training script's features,
 *     and predictOccupancy writes one prediction per non-null window, replaces on re-run, leaves other
 *     intervals and model versions alone;
 * (c) bad input / missing relation → non-retryable failures, connection errors → retryable.
 * Everything lives in a private schema, except one check of the real ml.occupancy_predictions table in an
 * interval in the year 2100 with a unique source.
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceActivities, quoteRelationName } from '../src/activities/inference';
import { ROOT_DIR } from '../src/config/env';
import { createPool, type Pool } from '../src/db/pool';
import { ModelFileError, ModelSignatureError } from '../src/ml/errors';
import { loadOccupancyModel, type OccupancyModel } from '../src/ml/occupancy-model';
import { testPool, uniqueSuffix } from './support/db';

interface FixtureRow {
  windowStart: string;
  avg_temperature: number;
  avg_humidity: number;
  avg_light: number;
  avg_co2: number;
  reading_count: number;
  labelOccupied: boolean;
  probability: number;
  predictedOccupied: boolean;
}
interface Fixture {
  modelVersion: string;
  onnxSha256: string;
  features: string[];
  tolerance: number;
  rows: FixtureRow[];
}

/** `count(*)::int AS n`. */
interface CountRow {
  n: number;
}
/** A row of the 10-minute aggregate (double precision averages; `count(*)` is bigint, so text). */
interface AggregateRow {
  source: string;
  device_id: string;
  window_start: Date;
  avg_temperature: number | null;
  avg_humidity: number | null;
  avg_light: number | null;
  avg_co2: number | null;
  reading_count: string;
}
/** A row of an occupancy predictions table. */
interface PredictionRow {
  source: string;
  device_id: string;
  window_start: Date;
  model_version: string;
  occupied: boolean;
  probability: number;
}

const fixture = JSON.parse(readFileSync(path.join(ROOT_DIR, 'ml/fixtures/occupancy_parity.json'), 'utf8')) as Fixture;
const TOL = fixture.tolerance;
const SOURCE = 'uci-occupancy';
const DEVICE = 'room-1';
const AQ_DEVICE = 'aq-1'; // air-quality-like device: no light/CO2

/** datatest.txt readings; `Date` is read as UTC like the training script does. */
function readDatatest() {
  const lines = readFileSync(path.join(ROOT_DIR, 'data/uci-occupancy/datatest.txt'), 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',').map((h) => h.replaceAll('"', ''));
  expect(header).toEqual(['Date', 'Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy']);
  return lines.slice(1).map((line) => {
    const c = line.split(',').map((v) => v.replaceAll('"', ''));
    return {
      eventTime: `${c[0]!.replace(' ', 'T')}Z`,
      temperature: Number(c[1]),
      humidity: Number(c[2]),
      light: Number(c[3]),
      co2: Number(c[4]),
      humidityRatio: Number(c[5]),
    };
  });
}

function expectFailure(e: unknown, nonRetryable: boolean, message: RegExp) {
  expect(e).toBeInstanceOf(ApplicationFailure);
  const f = e as ApplicationFailure;
  expect(f.nonRetryable).toBe(nonRetryable);
  expect(f.message).toMatch(message);
}

async function catchError(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

let model: OccupancyModel;

beforeAll(async () => {
  model = await loadOccupancyModel();
});
afterAll(async () => {
  await model?.release();
});

describe('occupancy model (ONNX in Node vs scikit-learn)', () => {
  it('has the version and feature order the training script recorded', () => {
    expect(model.modelVersion).toBe(fixture.modelVersion);
    expect(model.modelVersion).toBe(`occupancy-logreg-v1@${fixture.onnxSha256.slice(0, 12)}`);
    expect([...model.featureNames]).toEqual(fixture.features);
    expect(readFileSync(path.join(ROOT_DIR, 'ml/MODEL_CARD.md'), 'utf8')).toContain(fixture.modelVersion);
  });

  it('predicts the fixture rows like scikit-learn (|dp| <= 1e-6, same labels), both classes present', async () => {
    const preds = await model.predict(fixture.rows);
    expect(preds).toHaveLength(fixture.rows.length);
    expect(new Set(fixture.rows.map((r) => r.predictedOccupied))).toEqual(new Set([true, false]));
    fixture.rows.forEach((r, i) => {
      const p = preds[i]!;
      expect(Math.abs(p.probability - r.probability), r.windowStart).toBeLessThanOrEqual(TOL);
      expect(p.occupied, r.windowStart).toBe(r.predictedOccupied);
    });
    // The batch result does not depend on the batch: one row alone gives the same answer.
    const [single] = await model.predict([fixture.rows[7]!]);
    expect(single!.probability).toBeCloseTo(preds[7]!.probability, 12);
    expect(await model.predict([])).toEqual([]);
  });

  it('rejects rows with a missing or non-finite feature', async () => {
    const row = fixture.rows[0]!;
    await expect(model.predict([{ ...row, avg_co2: null }])).rejects.toThrow(/row 0: feature avg_co2 must be a finite number, got null/);
    await expect(model.predict([row, { ...row, avg_light: Number.NaN }])).rejects.toThrow(/row 1: feature avg_light/);
  });

  it('explains a missing file and a signature mismatch', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'occ-model-'));
    try {
      const missing = path.join(dir, 'nope.onnx');
      const e1 = await catchError(loadOccupancyModel({ path: missing }));
      expect(e1).toBeInstanceOf(ModelFileError);
      expect((e1 as Error).message).toMatch(/nope\.onnx: file not found/);

      // Appending a metadata_props entry (protobuf field 14) overrides feature_names: 4 features vs input [N, 3].
      const enc = (s: string) => Buffer.from(s, 'utf8');
      const entry = (k: string, v: string) =>
        Buffer.concat([Buffer.from([0x0a, enc(k).length]), enc(k), Buffer.from([0x12, enc(v).length]), enc(v)]);
      const props = entry('feature_names', 'avg_temperature,avg_humidity,avg_light,avg_co2');
      const bad = Buffer.concat([readFileSync(path.join(ROOT_DIR, 'ml/occupancy.onnx')), Buffer.from([0x72, props.length]), props]);
      const badPath = path.join(dir, 'bad.onnx');
      writeFileSync(badPath, bad);
      const e2 = await catchError(loadOccupancyModel({ path: badPath }));
      expect(e2).toBeInstanceOf(ModelSignatureError);
      expect((e2 as Error).message).toMatch(
        /expected one input "features": float64\[N, 4\].*but the model has inputs "features": float64\[N, 3\]/,
      );

      const garbage = path.join(dir, 'garbage.onnx');
      writeFileSync(garbage, 'not a model at all');
      await expect(loadOccupancyModel({ path: garbage })).rejects.toBeInstanceOf(ModelFileError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('predictOccupancy (real PostgreSQL)', () => {
  let pool: Pool;
  const schema = `inference_test_${uniqueSuffix()}`;
  const agg = `${schema}.sensor_readings_10min`;
  const preds = `${schema}.occupancy_predictions`;
  let nullWindows = 0;

  beforeAll(async () => {
    pool = testPool();
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(`CREATE TABLE "${schema}".readings (LIKE ingest.sensor_readings INCLUDING ALL)`);
    await pool.query(`CREATE TABLE "${schema}".occupancy_predictions (LIKE ml.occupancy_predictions INCLUDING ALL)`);
    const readings = readDatatest();
    await pool.query(
      `INSERT INTO "${schema}".readings (source, device_id, event_time, temperature, humidity, light, co2, humidity_ratio)
       SELECT $1, $2, t, a, b, c, d, e FROM unnest($3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[]) AS u(t, a, b, c, d, e)`,
      [
        SOURCE,
        DEVICE,
        readings.map((r) => r.eventTime),
        readings.map((r) => r.temperature),
        readings.map((r) => r.humidity),
        readings.map((r) => r.light),
        readings.map((r) => r.co2),
        readings.map((r) => r.humidityRatio),
      ],
    );
    // An air-quality device without light/CO2 for the first 200 readings.
    await pool.query(
      `INSERT INTO "${schema}".readings (source, device_id, event_time, temperature, humidity)
       SELECT 'uci-air-quality', $1, event_time, temperature, humidity FROM "${schema}".readings
        WHERE device_id = $2 ORDER BY event_time LIMIT 200`,
      [AQ_DEVICE, DEVICE],
    );
    // The aggregate's query (same date_bin as analytics.sensor_readings_10min).
    await pool.query(
      `CREATE TABLE "${schema}".sensor_readings_10min AS
       SELECT source, device_id,
              date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS window_start,
              avg(temperature) AS avg_temperature, avg(humidity) AS avg_humidity,
              avg(light) AS avg_light, avg(co2) AS avg_co2, count(*) AS reading_count
         FROM "${schema}".readings
        GROUP BY 1, 2, 3`,
    );
    const r = await pool.query<CountRow>(`SELECT count(*)::int AS n FROM ${agg} WHERE avg_light IS NULL OR avg_co2 IS NULL`);
    nullWindows = r.rows[0]!.n;
    expect(nullWindows).toBeGreaterThan(10);
  });

  afterAll(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool?.end();
  });

  const byWindow = async (from = '-infinity', to = 'infinity') =>
    new Map(
      (
        await pool.query<PredictionRow>(
          `SELECT source, device_id, window_start, model_version, occupied, probability FROM ${preds}
            WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz AND model_version = $3`,
          [from, to, model.modelVersion],
        )
      ).rows.map((r) => [`${r.source}|${r.device_id}|${r.window_start.toISOString()}`, r]),
    );

  it('SQL date_bin features of the real datatest.txt equal the training script features', async () => {
    const { rows } = await pool.query<AggregateRow>(`SELECT * FROM ${agg} WHERE device_id = $1`, [DEVICE]);
    const sql = new Map(rows.map((r) => [r.window_start.toISOString().replace('.000Z', 'Z'), r]));
    for (const f of fixture.rows) {
      const s = sql.get(f.windowStart);
      expect(s, f.windowStart).toBeDefined();
      for (const c of ['avg_temperature', 'avg_humidity', 'avg_light', 'avg_co2'] as const) {
        expect(Math.abs(s![c]! - f[c]), `${f.windowStart} ${c}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(f[c])));
      }
      expect(Number(s!.reading_count)).toBe(f.reading_count);
    }
  });

  it('writes one prediction per non-null window, equal to scikit-learn on the fixture windows, and replaces on re-run', async () => {
    const act = createInferenceActivities({ pool, model, predictionsTable: preds });
    const start = '2015-02-02T00:00:00Z';
    const end = '2015-02-05T00:00:00Z';
    // Sentinels: same version outside the interval, another version inside, a stale window inside.
    await pool.query(
      `INSERT INTO ${preds} (source, device_id, window_start, model_version, occupied, probability) VALUES
         ($1, $2, '2015-02-05T00:00:00Z', $3, true, 0.25),
         ($1, $2, '2015-02-03T00:00:00Z', 'other-model@000000000000', true, 0.75),
         ($1, 'gone-device', '2015-02-03T00:00:00Z', $3, false, 0.5)`,
      [SOURCE, DEVICE, model.modelVersion],
    );
    const total = (
      await pool.query<CountRow>(`SELECT count(*)::int AS n FROM ${agg} WHERE window_start >= $1 AND window_start < $2`, [start, end])
    ).rows[0]!.n;

    const r1 = await act.predictOccupancy({ dataIntervalStart: start, dataIntervalEnd: end, relation: agg });
    expect(r1).toEqual({ windows: total, predicted: total - nullWindows, skipped: nullWindows, modelVersion: model.modelVersion });
    const after1 = await byWindow(start, end);
    expect(after1.size).toBe(total - nullWindows);
    expect([...after1.keys()].some((k) => k.includes(AQ_DEVICE) || k.includes('gone-device'))).toBe(false);
    for (const f of fixture.rows) {
      const p = after1.get(`${SOURCE}|${DEVICE}|${new Date(f.windowStart).toISOString()}`);
      expect(p, f.windowStart).toBeDefined();
      expect(Math.abs(p!.probability - f.probability), f.windowStart).toBeLessThanOrEqual(TOL);
      expect(p!.occupied, f.windowStart).toBe(f.predictedOccupied);
    }

    // Tamper with everything, re-run: same rows, values restored, no duplicates (the PK would also refuse them).
    await pool.query(`UPDATE ${preds} SET probability = -1, occupied = NOT occupied WHERE model_version = $1`, [model.modelVersion]);
    const r2 = await act.predictOccupancy({ dataIntervalStart: start, dataIntervalEnd: end, relation: agg });
    expect(r2).toEqual(r1);
    const after2 = await byWindow(start, end);
    expect(after2.size).toBe(after1.size);
    for (const [k, v] of after1) {
      expect(after2.get(k)?.probability).toBe(v.probability);
      expect(after2.get(k)?.occupied).toBe(v.occupied);
    }
    const dup = await pool.query<CountRow>(`SELECT count(*)::int AS n FROM ${preds} WHERE model_version = $1`, [model.modelVersion]);
    expect(dup.rows[0]!.n).toBe(after1.size + 1); // + the sentinel outside the interval

    // Outside the interval and other versions untouched.
    const sentinels = await pool.query<Pick<PredictionRow, 'model_version' | 'probability' | 'occupied'>>(
      `SELECT model_version, probability, occupied FROM ${preds} WHERE NOT (model_version = $1 AND window_start < $2)`,
      [model.modelVersion, end],
    );
    expect(sentinels.rows.map((r) => [r.model_version, r.probability]).sort()).toEqual([
      [model.modelVersion, -1],
      ['other-model@000000000000', 0.75],
    ]);

    // A narrower interval only replaces its own windows.
    await pool.query(`UPDATE ${preds} SET probability = -1 WHERE model_version = $1`, [model.modelVersion]);
    const nStart = '2015-02-03T00:00:00Z';
    const nEnd = '2015-02-03T12:00:00Z';
    const r3 = await act.predictOccupancy({ dataIntervalStart: nStart, dataIntervalEnd: nEnd, relation: agg });
    expect(r3.predicted).toBe(72); // 12 h of 10-minute windows of one full-featured device
    const inside = await byWindow(nStart, nEnd);
    expect(inside.size).toBe(72);
    expect([...inside.values()].every((v) => v.probability >= 0 && v.probability <= 1)).toBe(true);
    const untouched = await pool.query<CountRow>(`SELECT count(*)::int AS n FROM ${preds} WHERE model_version = $1 AND probability = -1`, [
      model.modelVersion,
    ]);
    expect(untouched.rows[0]!.n).toBe(after1.size + 1 - 72);
  });

  it('writes into the real ml.occupancy_predictions by default (unique source, year 2100)', async () => {
    const act = createInferenceActivities({ pool, model });
    const source = `inference-test-${uniqueSuffix()}`;
    const base = Date.UTC(2100, 0, 1) + Math.floor(Math.random() * 100_000) * 600_000;
    const w0 = new Date(base).toISOString();
    const w1 = new Date(base + 600_000).toISOString();
    const end = new Date(base + 1_200_000).toISOString();
    const tbl = `${schema}.future_agg`;
    await pool.query(`CREATE TABLE ${tbl} (LIKE ${agg})`);
    const f = fixture.rows[3]!;
    await pool.query(
      `INSERT INTO ${tbl} (source, device_id, window_start, avg_temperature, avg_humidity, avg_light, avg_co2, reading_count)
       VALUES ($1, 'd', $2, $4, $5, $6, $7, 10), ($1, 'd', $3, $4, $5, $6, $7, 10)`,
      [source, w0, w1, f.avg_temperature, f.avg_humidity, f.avg_light, f.avg_co2],
    );
    try {
      const r = await act.predictOccupancy({ dataIntervalStart: w0, dataIntervalEnd: end, relation: tbl });
      expect(r).toMatchObject({ windows: 2, predicted: 2, skipped: 0 });
      const { rows } = await pool.query<Pick<PredictionRow, 'probability'>>(
        `SELECT probability FROM ml.occupancy_predictions WHERE source = $1`,
        [source],
      );
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(Math.abs(row.probability - f.probability)).toBeLessThanOrEqual(TOL);
    } finally {
      await pool.query(`DELETE FROM ml.occupancy_predictions WHERE source = $1`, [source]);
    }
  });

  it('maps bad input and permanent SQL errors to non-retryable failures', async () => {
    const act = createInferenceActivities({ pool, model, predictionsTable: preds });
    const ok = { dataIntervalStart: '2015-02-03T00:00:00Z', dataIntervalEnd: '2015-02-03T01:00:00Z', relation: agg };
    expectFailure(
      await catchError(act.predictOccupancy({ ...ok, dataIntervalEnd: ok.dataIntervalStart })),
      true,
      /dataIntervalEnd: .* must be after dataIntervalStart/,
    );
    expectFailure(await catchError(act.predictOccupancy({ ...ok, dataIntervalEnd: '2015-02-02T00:00:00Z' })), true, /must be after/);
    expectFailure(
      await catchError(act.predictOccupancy({ ...ok, dataIntervalStart: 'yesterday' })),
      true,
      /dataIntervalStart: "yesterday" is not an ISO 8601 instant/,
    );
    expectFailure(await catchError(act.predictOccupancy({ ...ok, dataIntervalStart: '2015-02-30T00:00:00Z' })), true, /dataIntervalStart/);
    expectFailure(await catchError(act.predictOccupancy({ ...ok, dataIntervalStart: '2015-02-03T00:00:00' })), true, /with a time zone/);
    expectFailure(
      await catchError(act.predictOccupancy({ ...ok, relation: 'x; DROP TABLE y' })),
      true,
      /relation: .* must be "schema.table"/,
    );
    expectFailure(await catchError(act.predictOccupancy({ ...ok, relation: 'sensor_readings_10min' })), true, /must be "schema.table"/);
    expectFailure(
      await catchError(act.predictOccupancy({ ...ok, relation: `${schema}.does_not_exist` })),
      true,
      /database error 42P01: relation .* does not exist/,
    );
    expect(() => quoteRelationName('analytics.sensor_readings_10min')).not.toThrow();
    expect(() => createInferenceActivities({ pool, model, predictionsTable: 'bad"name' })).toThrow(/predictionsTable/);
  });

  it('keeps connection failures retryable', async () => {
    const dead = createPool('postgres://postgres:postgres@127.0.0.1:1/iot', 1);
    try {
      const act = createInferenceActivities({ pool: dead, model, predictionsTable: preds });
      const e = await catchError(
        act.predictOccupancy({ dataIntervalStart: '2015-02-03T00:00:00Z', dataIntervalEnd: '2015-02-03T01:00:00Z', relation: agg }),
      );
      expectFailure(e, false, /ECONNREFUSED/);
    } finally {
      await dead.end();
    }
  });
});
