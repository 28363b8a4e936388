/**
 * OpenLineage: the compiled `iot-pipelines worker` with `OPENLINEAGE_FILE` runs one sensor-pipeline
 * data interval. Every event it writes validates against the OpenLineage spec (2-0-2, and the facets
 * it uses; `spec/openlineage/`, ajv with JSON Schema 2020-12); the pipeline run has its START and
 * COMPLETE under the workflow's run id, and every model node its own run with START and COMPLETE, the
 * pipeline run as its parent, the relations it reads as inputs and the table it builds, with its
 * columns, as output. And the lineage columns: real readings published over MQTT in two rounds (two
 * or more ingest batches) are found again from the prediction row by the README's query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient } from '../src/cli/client';
import { loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { loadOccupancyModel } from '../src/ml/occupancy-model';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import type { RunEvent } from '../src/observability/lineage';
import type { sensorPipeline } from '../src/workflows/sensor-pipeline';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSubscription } from './support/ingest';
import { killHard, startCliWorker, waitFor } from './support/processes';

const SPEC = path.join(ROOT_DIR, 'spec', 'openlineage');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lineage-'));
const pool = testPool();
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await pool.end();
});

/** The SQL block of the README's "Which messages made this prediction" (the test runs what users read). */
function readmeQuery(): string {
  const readme = fs.readFileSync(path.join(ROOT_DIR, 'README.md'), 'utf8');
  const at = readme.indexOf('**Which messages made this prediction.**');
  const m = /```sql\n([\s\S]*?)```/.exec(readme.slice(at));
  if (at < 0 || !m) throw new Error('README.md has no "Which messages made this prediction" query');
  return m[1]!;
}

/** A window of the UCI occupancy training file no other test runs the pipeline on. */
const WINDOW = { start: '2015-02-09T10:00:00.000Z', end: '2015-02-09T10:10:00.000Z' };

/** A validator of RunEvents with the facet schemas this project uses registered. */
function validator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(SPEC, f), 'utf8')) as { $id: string };
  ajv.addSchema(read('OpenLineage.json'));
  const facets = fs.readdirSync(path.join(SPEC, 'facets')).map((f) => read(path.join('facets', f)));
  for (const f of facets) ajv.addSchema(f);
  const event = ajv.getSchema('https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent')!;
  /** A facet validated by the schema its `_schemaURL` names (which must be one of the kept files). */
  const facet = (value: { _schemaURL: string }) => {
    const v = ajv.getSchema(value._schemaURL);
    if (!v) throw new Error(`no schema kept for ${value._schemaURL}`);
    return v(value) ? [] : (v.errors ?? []).map((e) => `${value._schemaURL}${e.instancePath}: ${e.message}`);
  };
  return (e: RunEvent): string[] => {
    const errors = event(e) ? [] : (event.errors ?? []).map((x) => `${x.instancePath}: ${x.message}`);
    const all = [e.run.facets, e.job.facets, ...[...e.inputs, ...e.outputs].map((d) => d.facets)].flatMap((f) => Object.values(f));
    for (const f of all) errors.push(...facet(f as { _schemaURL: string }));
    return errors;
  };
}

describe('OpenLineage', () => {
  it(
    'a sensor-pipeline run and each of its model nodes: valid events, START and COMPLETE, nodes under the run, datasets with columns; a prediction leads back to its messages',
    { timeout: 300_000 },
    async () => {
      const file = path.join(dir, 'events.jsonl');
      const taskQueue = `lineage-${randomUUID()}`;
      const source = `lineage-${uniqueSuffix()}`;
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatraining.txt').filter(
        (r) => r.eventTime >= Date.parse(WINDOW.start) && r.eventTime < Date.parse(WINDOW.end),
      );
      expect(readings.length).toBe(11);
      const device = readings[0]!.deviceId;
      const worker = await startCliWorker({ TASK_QUEUE: taskQueue, OPENLINEAGE_FILE: file });
      const { client, close } = await connectClient(loadSettings());
      try {
        // Real readings over MQTT through the ingest workflow, in two rounds: at least two batches.
        const ingest = await client.workflow.start('mqttIngest', { workflowId: `ingest-mqtt-${source}`, taskQueue, args: [{ source }] });
        await waitForSubscription(pool, source);
        for (const part of [readings.slice(0, 5), readings.slice(5)]) {
          const before = await countReadings(pool, source, device);
          await replayReadings({ url: mqttUrl(), source, readings: part });
          await waitFor(
            `${part.length} more readings`,
            async () => (await countReadings(pool, source, device)) === before + part.length,
            60_000,
          );
        }
        await ingest.terminate('readings in');

        const handle = await client.workflow.start<typeof sensorPipeline>('sensorPipeline', {
          workflowId: `lineage-${randomUUID()}`,
          taskQueue,
          args: [{ dataIntervalStart: WINDOW.start, dataIntervalEnd: WINDOW.end }],
        });
        const result = await handle.result();
        expect(result.models.error).toBe(0);
        const runId = handle.firstExecutionRunId;
        const read = () =>
          fs.existsSync(file)
            ? fs
                .readFileSync(file, 'utf8')
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l) as RunEvent)
            : [];
        await waitFor(
          'the pipeline run COMPLETE event',
          () => read().some((e) => e.run.runId === runId && e.eventType === 'COMPLETE'),
          30_000,
        );
        const events = read();
        const validate = validator();
        for (const e of events) expect(validate(e), `${e.job.name} ${e.eventType}`).toEqual([]);

        const pipeline = events.filter((e) => e.run.runId === runId);
        expect(pipeline.map((e) => [e.eventType, e.job.name])).toEqual([
          ['START', 'sensorPipeline'],
          ['COMPLETE', 'sensorPipeline'],
        ]);
        const nodes = events.filter((e) => (e.run.facets.parent as { run?: { runId: string } } | undefined)?.run?.runId === runId);
        const byRun = new Map<string, RunEvent[]>();
        for (const e of nodes) byRun.set(e.run.runId, [...(byRun.get(e.run.runId) ?? []), e]);
        expect(byRun.size).toBe(result.models.total - result.models.skipped);
        for (const [, es] of byRun) expect(es.map((e) => e.eventType)).toEqual(['START', 'COMPLETE']);
        // A model reading the ingest table: its input is that dataset, its output a table with its columns.
        const models = nodes.filter((e) => e.eventType === 'COMPLETE' && e.job.name.startsWith('model.') && e.outputs.length);
        expect(models.length).toBeGreaterThan(0);
        for (const m of models) {
          expect(m.outputs[0]!.name).toMatch(/^iot\.[a-z_]+\.[a-z_0-9]+$/);
          expect(m.outputs[0]!.namespace).toMatch(/^postgres:\/\/127\.0\.0\.1:\d+$/);
        }
        const withColumns = models.filter(
          (m) => ((m.outputs[0]!.facets.schema as { fields?: unknown[] } | undefined)?.fields?.length ?? 0) > 0,
        );
        expect(withColumns.length).toBeGreaterThan(0);
        expect(nodes.flatMap((e) => e.inputs.map((i) => i.name))).toContain('iot.ingest.sensor_readings');

        // Lineage columns: the prediction names this run and the batches its readings came in, and the
        // README's query leads from it back to exactly the readings published.
        const { modelVersion } = await loadOccupancyModel();
        const prediction = await pool.query<{ workflow_run_id: string; ingest_batch_ids: string[] }>(
          `SELECT workflow_run_id, ingest_batch_ids FROM ml.occupancy_predictions
            WHERE source = $1 AND device_id = $2 AND window_start = $3 AND model_version = $4`,
          [source, device, WINDOW.start, modelVersion],
        );
        expect(prediction.rows).toHaveLength(1);
        const p = prediction.rows[0]!;
        expect(p.workflow_run_id).toBe(runId);
        const written = await pool.query<{ batch_id: string }>(
          `SELECT DISTINCT batch_id FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2 AND event_time >= $3 AND event_time < $4 ORDER BY 1`,
          [source, device, WINDOW.start, WINDOW.end],
        );
        expect(p.ingest_batch_ids).toEqual(written.rows.map((r) => r.batch_id));
        expect(p.ingest_batch_ids.length).toBeGreaterThanOrEqual(2);
        const aggregate = await pool.query(
          'SELECT workflow_run_id, ingest_batch_ids FROM analytics.sensor_readings_10min WHERE source = $1 AND device_id = $2 AND window_start = $3',
          [source, device, WINDOW.start],
        );
        expect(aggregate.rows).toEqual([{ workflow_run_id: runId, ingest_batch_ids: p.ingest_batch_ids }]);

        const messages = await pool.query<{
          event_time: Date;
          temperature: number;
          humidity: number;
          light: number;
          co2: number;
          batch_id: string;
          consumer: string;
          workflow_run_id: string;
        }>(readmeQuery(), [source, device, WINDOW.start, modelVersion]);
        expect(messages.rows.map((m) => [m.event_time.getTime(), m.temperature, m.humidity, m.light, m.co2])).toEqual(
          readings.map((r) => [r.eventTime, r.temperature, r.humidity, r.light, r.co2]),
        );
        expect([...new Set(messages.rows.map((m) => m.batch_id))]).toEqual(p.ingest_batch_ids);
        expect(new Set(messages.rows.map((m) => m.workflow_run_id))).toEqual(new Set([runId]));
        // Each batch is a commit of this source's MQTT consumer.
        const batches = await pool.query<{ source: string }>('SELECT DISTINCT source FROM ingest.batches WHERE id = ANY ($1::bigint[])', [
          p.ingest_batch_ids,
        ]);
        expect(batches.rows).toEqual([{ source }]);
        expect(messages.rows.every((m) => m.consumer.length > 0)).toBe(true);
      } finally {
        await close();
        await killHard(worker);
      }
    },
  );
});
