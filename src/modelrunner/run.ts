/**
 * The direct runner (`models run` in the CLI): parse → manifest → graph → select → execute the plan in
 * dependency order on `threads` connections → write `manifest.json` and `run_results.json`.
 */
import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import { makeRunResults, writeManifest, writeRunResultsFile } from './artifacts';
import { executeNode, failedResult } from './execute';
import { buildGraph, planNodes, selectNodes } from './graph';
import { buildManifest } from './manifest';
import { loadProject } from './project';
import { runDag } from './schedule';
import type { RunResults } from './types';

/** Options of {@link runModels}. */
export interface RunModelsOptions {
  pool: pg.Pool;
  /** Folder holding `dbt_project.yml`. */
  projectDir: string;
  /** Node selectors (see graph.ts); empty selects all models. @default [] */
  select?: string[];
  /** Run vars, override the project's `vars:`. @default {} */
  vars?: Record<string, unknown>;
  /** Models built at once. @default 4 */
  threads?: number;
  /** Artifacts folder. @default `<projectDir>/<target-path>` */
  targetDir?: string;
  /** Schema of models without a `schema` config. @default 'analytics' */
  defaultSchema?: string;
}

/**
 * Builds the selected models. A failing model is reported as `error` and its descendants as `skipped`;
 * other branches still run. Does not throw for model failures, only for project errors.
 * @throws ProjectError / TemplateError / CycleError / SelectionError when the project cannot be planned.
 */
export async function runModels(opts: RunModelsOptions): Promise<RunResults> {
  const started = Date.now();
  const invocationId = randomUUID();
  const project = loadProject(opts.projectDir);
  const manifest = buildManifest(project, { vars: opts.vars, defaultSchema: opts.defaultSchema, targetDir: opts.targetDir });
  manifest.metadata.invocation_id = invocationId;
  const graph = buildGraph(manifest);
  const plan = planNodes(graph, selectNodes(graph, opts.select));
  writeManifest(manifest);

  const threads = Math.max(1, opts.threads ?? 4);
  const free = Array.from({ length: threads }, (_, i) => `Thread-${i + 1}`);
  const outcomes = await runDag(plan, threads, async (node) => {
    const threadId = free.shift() ?? 'Thread-1';
    try {
      return await executeNode(opts.pool, manifest, node.uniqueId, { threadId });
    } finally {
      free.push(threadId);
    }
  });

  const results = plan.map((n) => {
    const o = outcomes.get(n.uniqueId);
    if (o?.status === 'success') return o.value;
    if (o?.status === 'error') return failedResult(n.uniqueId, 'error', (o.error as Error)?.message ?? String(o.error));
    const cause = o?.status === 'skipped' ? o.cause : 'unknown';
    return failedResult(n.uniqueId, 'skipped', `skipped: upstream ${cause} did not succeed`);
  });
  const runResults = makeRunResults(results, {
    invocationId,
    elapsedTime: (Date.now() - started) / 1000,
    args: { which: 'run', select: opts.select ?? [], vars: opts.vars ?? {}, threads },
  });
  writeRunResultsFile(manifest.target_dir, runResults);
  return runResults;
}
