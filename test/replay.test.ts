/**
 * Determinism guard: every history recorded by the integration tests (test/histories/*.json) is
 * replayed against the current workflow code. A change that would break running workflows fails here;
 * such a change must be guarded with `patched()`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { ROOT_DIR } from '../src/config/env';
import { lineageSinks } from '../src/workers/lineage-sink';
import { LINEAGE_INTERCEPTORS_PATH } from '../src/workers/worker';
import { HISTORIES_DIR } from './support/temporal';

const files = fs.existsSync(HISTORIES_DIR)
  ? fs
      .readdirSync(HISTORIES_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

/** Replays every recorded history on a replay worker with `options`; the failures, one line each. */
async function replayAll(options: Omit<ReplayWorkerOptions, 'workflowsPath'>): Promise<string[]> {
  const histories = files.map((f) => ({
    workflowId: path.basename(f, '.json'),
    history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, f), 'utf8'))),
  }));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: path.join(ROOT_DIR, 'src', 'workflows', 'index.ts'), ...options },
    histories,
  )) {
    if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  return failures;
}

describe('workflow determinism', () => {
  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('replays every recorded history against the current workflow code', async () => {
    // As the worker runs them: with the lineage interceptors its bundles carry (their sink is not called on replay).
    expect(await replayAll({ interceptors: { workflowModules: [LINEAGE_INTERCEPTORS_PATH] }, sinks: lineageSinks(undefined) })).toEqual([]);
  });

  it('replays every recorded history with the OpenTelemetry workflow interceptors of a tracing worker', async () => {
    // A worker turned to tracing (OTEL_EXPORTER_OTLP_ENDPOINT) takes over running workflows: its
    // interceptors must not change what they do (src/workers/worker.ts interceptorOptions).
    const otel = createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');
    expect(
      await replayAll({
        interceptors: { workflowModules: [LINEAGE_INTERCEPTORS_PATH, otel] },
        sinks: { ...lineageSinks(undefined), exporter: { export: { fn: () => undefined } } },
      }),
    ).toEqual([]);
  });
});
