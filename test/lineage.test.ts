/**
 * OpenLineage: the compiled `iot-pipelines worker` with `OPENLINEAGE_FILE` runs one sensor-pipeline
 * data interval. Every event it writes validates against the OpenLineage spec (2-0-2, and the facets
 * it uses; `spec/openlineage/`, ajv with JSON Schema 2020-12); the pipeline run has its START and
 * COMPLETE under the workflow's run id, and every model node its own run with START and COMPLETE, the
 * pipeline run as its parent, the relations it reads as inputs and the table it builds, with its
 * columns, as output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient } from '../src/cli/client';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import type { RunEvent } from '../src/observability/lineage';
import type { sensorPipeline } from '../src/workflows/sensor-pipeline';
import { killHard, startCliWorker, waitFor } from './support/processes';

const SPEC = path.join(ROOT_DIR, 'spec', 'openlineage');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lineage-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

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
    'a sensor-pipeline run and each of its model nodes: valid events, START and COMPLETE, nodes under the run, datasets with columns',
    { timeout: 300_000 },
    async () => {
      const file = path.join(dir, 'events.jsonl');
      const taskQueue = `lineage-${randomUUID()}`;
      const worker = await startCliWorker({ TASK_QUEUE: taskQueue, OPENLINEAGE_FILE: file });
      const { client, close } = await connectClient(loadSettings());
      try {
        const handle = await client.workflow.start<typeof sensorPipeline>('sensorPipeline', {
          workflowId: `lineage-${randomUUID()}`,
          taskQueue,
          args: [{ dataIntervalStart: '2015-02-04T17:50:00Z', dataIntervalEnd: '2015-02-04T18:00:00Z' }],
        });
        const result = await handle.result();
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
      } finally {
        await close();
        await killHard(worker);
      }
    },
  );
});
