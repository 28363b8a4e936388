/**
 * The direct runner (the CLI's `models run | build | test | seed`): parse → manifest → graph → select
 * → execute the plan in dependency order on `threads` connections → write `manifest.json` and
 * `run_results.json`.
 */
import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import { makeRunResults, writeManifest, writeRunResultsFile } from './artifacts';
import { executeNode } from './execute';
import { buildManifest } from './manifest';
import { planRun, type RunCommand } from './plan';
import { loadProject } from './project';
import { failedResult, isFailedStatus } from './results';
import { runDag } from './schedule';
import type { NodeResult, NodeStatus, RunResults } from './types';

/** Options of {@link runModels}. */
export interface RunModelsOptions {
  pool: pg.Pool;
  /** Folder holding `dbt_project.yml`. */
  projectDir: string;
  /** What to run: models (`run`), seeds, tests, or all three in DAG order (`build`). @default 'run' */
  which?: RunCommand;
  /** Node selectors (see graph.ts); empty selects every node of the command. @default [] */
  select?: string[];
  /** Selectors removed from the selection. @default [] */
  exclude?: string[];
  /** Run vars, override the project's `vars:`. @default {} */
  vars?: Record<string, unknown>;
  /** Nodes run at once. @default 4 */
  threads?: number;
  /** Artifacts folder. @default `<projectDir>/<target-path>` */
  targetDir?: string;
  /** Schema of nodes without a `schema` config. @default 'analytics' */
  defaultSchema?: string;
  /** Rebuild incremental models from scratch. @default false */
  fullRefresh?: boolean;
  /** Only what did not succeed in the previous run_results.json (see plan.ts). @default false */
  resume?: boolean;
  /** Statuses of the previous run for `result:` selectors. @default read from run_results.json */
  previousResults?: Record<string, NodeStatus>;
}

/** Skip message of a node whose upstream `cause` did not succeed. */
export function skipMessage(cause: string, names: Map<string, string>): string {
  return `skipped: upstream ${names.get(cause) ?? cause} did not succeed`;
}

/**
 * Runs the selected nodes. A failing node is reported as `error` (a failing test as `fail`) and its
 * descendants as `skipped`; other branches still run. Does not throw for node failures, only for
 * project errors.
 * @throws ProjectError / TemplateError / CycleError / SelectionError when the project cannot be planned.
 */
export async function runModels(opts: RunModelsOptions): Promise<RunResults> {
  const started = Date.now();
  const invocationId = randomUUID();
  const project = loadProject(opts.projectDir);
  const manifest = buildManifest(project, { vars: opts.vars, defaultSchema: opts.defaultSchema, targetDir: opts.targetDir });
  manifest.metadata.invocation_id = invocationId;
  const which = opts.which ?? 'run';
  const { plan } = planRun(manifest, {
    which,
    select: opts.select,
    exclude: opts.exclude,
    resume: opts.resume,
    previousResults: opts.previousResults,
  });
  writeManifest(manifest);

  const threads = Math.max(1, opts.threads ?? 4);
  const free = Array.from({ length: threads }, (_, i) => `Thread-${i + 1}`);
  const outcomes = await runDag(
    plan,
    threads,
    async (node) => {
      const threadId = free.shift() ?? 'Thread-1';
      try {
        return await executeNode(opts.pool, manifest, node.uniqueId, { threadId, fullRefresh: opts.fullRefresh });
      } finally {
        free.push(threadId);
      }
    },
    (r: NodeResult) => isFailedStatus(r.status),
  );

  const names = new Map(plan.map((n) => [n.uniqueId, n.name]));
  const results = plan.map((n) => {
    const o = outcomes.get(n.uniqueId);
    if (o?.status === 'success') return o.value;
    if (o?.status === 'error') return failedResult(n.uniqueId, 'error', (o.error as Error)?.message ?? String(o.error));
    return failedResult(n.uniqueId, 'skipped', skipMessage(o?.status === 'skipped' ? o.cause : 'unknown', names));
  });
  const runResults = makeRunResults(results, {
    invocationId,
    elapsedTime: (Date.now() - started) / 1000,
    args: {
      which,
      select: opts.select ?? [],
      exclude: opts.exclude ?? [],
      vars: opts.vars ?? {},
      threads,
      full_refresh: opts.fullRefresh ?? false,
      resume: opts.resume ?? false,
    },
  });
  writeRunResultsFile(manifest.target_dir, runResults);
  return runResults;
}
