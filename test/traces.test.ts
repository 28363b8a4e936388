/**
 * Traces, checked in a real collector: Jaeger all-in-one v1.75 (built from its Go module by
 * src/stack/jaeger.ts, started for this test) receives OTLP/HTTP from the compiled `iot-pipelines
 * worker` (`OTEL_EXPORTER_OTLP_ENDPOINT` set). One run of a Temporal Schedule of the sensor pipeline
 * (schedules/sensor-pipeline.yaml under a test id, backfilled for one interval) is one trace, found
 * through Jaeger's query API, with the workflow, every model activity (each with its own `model.node`
 * span inside) and the inference activity as spans.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient } from '../src/cli/client';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { applyPlan, planSchedules } from '../src/schedules/apply';
import { backfillSchedule } from '../src/schedules/backfill';
import { parseScheduleText } from '../src/schedules/schema';
import { ensureJaeger, JAEGER_PORTS, startJaeger } from '../src/stack/jaeger';
import type { ServiceProcess } from '../src/stack/process';
import type { SensorPipelineResult } from '../src/workflows/sensor-pipeline';
import { killHard, startCliWorker, waitFor } from './support/processes';

interface JaegerSpan {
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; spanID: string }>;
  tags: Array<{ key: string; value: unknown }>;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
}

const settings = loadSettings();
let jaeger: ServiceProcess | undefined;
afterAll(async () => {
  await jaeger?.stop();
});

describe('traces', () => {
  it(
    'a scheduled sensor-pipeline run is one trace: the workflow, each model activity and the inference activity',
    { timeout: 900_000 },
    async () => {
      const { bin } = await ensureJaeger(settings.stackDir, (m) => console.log(`[jaeger] ${m}`));
      jaeger = await startJaeger(settings.stackDir, bin);
      const id = `test-traces-${randomUUID().slice(0, 8)}`;
      const service = `iot-pipelines-${id}`;
      const taskQueue = id;
      const worker = await startCliWorker({
        TASK_QUEUE: taskQueue,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${JAEGER_PORTS.otlpHttp}`,
        OTEL_SERVICE_NAME: service,
      });
      const { client, close } = await connectClient(settings);
      try {
        const file = 'schedules/sensor-pipeline.yaml';
        const shipped = parseScheduleText(fs.readFileSync(path.join(ROOT_DIR, file), 'utf8'), file);
        const plan = await planSchedules(client, [{ file, config: { ...shipped, id, taskQueue, start: '2030-06-01T00:00:00Z' } }], {
          idPrefix: id,
        });
        await applyPlan(client, plan);
        const b = await backfillSchedule(client, id, { from: '2030-06-01T10:00:00Z', to: '2030-06-01T10:10:00Z', concurrency: 1 });
        expect(
          b.runs.map((r) => r.status),
          JSON.stringify(b.runs),
        ).toEqual(['completed']);
        const workflowId = b.runs[0]!.workflowId;

        // The trace, once the worker's batch processors have exported it (every second).
        let found: JaegerTrace | undefined;
        await waitFor(
          `the trace of ${workflowId} in Jaeger`,
          async () => {
            const res = await fetch(
              `http://127.0.0.1:${JAEGER_PORTS.query}/api/traces?service=${encodeURIComponent(service)}&limit=20&lookback=1h`,
            );
            if (!res.ok) return false;
            const traces = ((await res.json()) as { data: JaegerTrace[] | null }).data ?? [];
            found = traces.find((t) => t.spans.some((s) => s.operationName === 'RunWorkflow:sensorPipeline'));
            return found !== undefined && found.spans.some((s) => s.operationName === 'RunActivity:predictOccupancy');
          },
          60_000,
          1000,
        );
        const spans = found!.spans;
        const ops = spans.map((s) => s.operationName);
        const workflowSpans = spans.filter((s) => s.operationName === 'RunWorkflow:sensorPipeline');
        expect(workflowSpans).toHaveLength(1);
        const modelActivities = spans.filter((s) => s.operationName === 'RunActivity:runModelNode');
        // Every node the run built (models, seeds, tests it selects) is an activity of the run, each with its own span inside.
        const result = (await client.workflow.getHandle(workflowId).result()) as SensorPipelineResult;
        expect(result.models.total - result.models.skipped).toBeGreaterThan(0);
        expect(modelActivities.length).toBe(result.models.total - result.models.skipped);
        const nodes = spans.filter((s) => s.operationName === 'model.node');
        expect(nodes.length).toBe(modelActivities.length);
        const activityIds = new Set(modelActivities.map((s) => s.spanID));
        for (const n of nodes) expect(n.references.some((r) => activityIds.has(r.spanID))).toBe(true);
        expect(nodes.map((n) => n.tags.find((t) => t.key === 'iot.node')?.value)).toEqual(
          expect.arrayContaining([expect.stringMatching(/^model\./)]),
        );
        expect(ops).toContain('RunActivity:predictOccupancy');
        expect(ops).toContain('RunActivity:qualityGate');
        // One trace: every span of the run is in it, all under the workflow's.
        expect(new Set(spans.map((s) => s.operationName)).has('StartActivity:runModelNode')).toBe(true);
      } finally {
        await client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
        await close();
        await killHard(worker);
      }
    },
  );
});
