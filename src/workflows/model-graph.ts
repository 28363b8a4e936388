/**
 * `buildModels`: runs the dbt-style project (src/modelrunner) with ONE ACTIVITY PER NODE (model, seed
 * or test), in dependency order, at most `maxParallel` at once. A failed node (a SQL error, or a test
 * failing with severity error in `build`) marks its descendants `skipped`; independent branches
 * continue. Connection errors are retried per node with backoff; SQL and project errors are not.
 * `resume: true` runs only what failed or was skipped in the previous run. Writes
 * `target/run_results.json` and returns a small summary.
 *
 * Callable as a workflow, or as a plain async function from another workflow (e.g. the sensor
 * pipeline) running on a worker that registers the model activities.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createModelActivities } from '../activities/models';
import { failedResult, isFailedStatus } from '../modelrunner/results';
import { runDag } from '../modelrunner/schedule';
import type { NodeResult, NodeStatus } from '../modelrunner/types';

type ModelActivities = ReturnType<typeof createModelActivities>;

/** Models built at once unless the input says otherwise. @default 4 */
export const DEFAULT_MAX_PARALLEL = 4;

/** Longest per-node message kept in the summary (characters). @default 500 */
export const SUMMARY_MESSAGE_MAX = 500;

/** Failure types the model activities raise that must never be retried (belt and braces: they are nonRetryable already). */
const NON_RETRYABLE_TYPES = ['ModelSqlError', 'ModelProjectError'];

/** Planning and run-results activities: quick file work. */
export const MODEL_PLAN_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
  },
} as const;

/** One model build: may scan large tables; transient database errors retried with backoff. */
export const MODEL_NODE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 hour',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 6,
    nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
  },
} as const;

const { planModelRun, writeRunResults } = proxyActivities<ModelActivities>(MODEL_PLAN_ACTIVITY_OPTIONS);
const { runModelNode } = proxyActivities<ModelActivities>(MODEL_NODE_ACTIVITY_OPTIONS);

/** Input of {@link buildModels}. */
export interface BuildModelsInput {
  /** `run` (models), `seed`, `test`, or `build` (all three, tests blocking their downstream). @default 'run' */
  which?: 'run' | 'build' | 'test' | 'seed';
  /** Node selectors (dbt syntax, see src/modelrunner/graph.ts). @default every node of the command */
  select?: string[];
  /** Selectors removed from the selection. @default [] */
  exclude?: string[];
  /** Run vars (override dbt_project.yml `vars:`). @default {} */
  vars?: Record<string, unknown>;
  /** Nodes run at once. @default {@link DEFAULT_MAX_PARALLEL} */
  maxParallel?: number;
  /** Rebuild incremental models from scratch. @default false */
  fullRefresh?: boolean;
  /**
   * Run only the nodes that failed, errored or were skipped last time; `previousResults` (e.g. built
   * from the previous run's summary `nodes`) or else the worker's `target/run_results.json` says which.
   * @default false
   */
  resume?: boolean;
  /** Statuses of the previous run by unique ID. */
  previousResults?: Record<string, NodeStatus>;
}

/** Per-model line of {@link ModelRunSummary}. */
export interface ModelRunNodeSummary {
  uniqueId: string;
  name: string;
  status: NodeStatus;
  /** Error or skip reason (truncated to {@link SUMMARY_MESSAGE_MAX}); the command tag on success. */
  message?: string;
  /** Rows written (tables, seeds); -1 for views. */
  rowsAffected?: number;
  /** Tests: failing rows. */
  failures?: number;
}

/**
 * Result of {@link buildModels}: counts and one small line per node, in plan order. `success` counts
 * built models and seeds and passing (or warning) tests; `error` counts errors and failing tests.
 */
export interface ModelRunSummary {
  total: number;
  success: number;
  error: number;
  skipped: number;
  /** Tests that failed with severity warn (also counted in `success`). */
  warn?: number;
  nodes: ModelRunNodeSummary[];
}

function failureMessage(e: unknown): string {
  let err: unknown = e;
  if (err instanceof ActivityFailure && err.cause) err = err.cause;
  if (err instanceof ApplicationFailure || err instanceof Error) return err.message;
  return String(err);
}

function truncate(s: string): string {
  return s.length > SUMMARY_MESSAGE_MAX ? `${s.slice(0, SUMMARY_MESSAGE_MAX - 1)}…` : s;
}

/**
 * Builds the selected models, one activity per model, in dependency order.
 * Does not fail when models fail: see the summary's `error`/`skipped` counts.
 * @throws ActivityFailure when planning fails (project, template, cycle or selection error).
 */
export async function buildModels(input: BuildModelsInput = {}): Promise<ModelRunSummary> {
  const plan = await planModelRun({
    which: input.which,
    select: input.select,
    exclude: input.exclude,
    vars: input.vars,
    resume: input.resume,
    previousResults: input.previousResults,
  });
  const outcomes = await runDag(
    plan,
    input.maxParallel ?? DEFAULT_MAX_PARALLEL,
    (node) => runModelNode({ uniqueId: node.uniqueId, vars: input.vars, ...(input.fullRefresh ? { fullRefresh: true } : {}) }),
    (r) => isFailedStatus(r.status),
  );
  const names = new Map(plan.map((n) => [n.uniqueId, n.name]));
  const results: NodeResult[] = plan.map((node) => {
    const o = outcomes.get(node.uniqueId);
    if (o?.status === 'success') return o.value;
    if (o?.status === 'error') return failedResult(node.uniqueId, 'error', failureMessage(o.error), 'activity');
    const cause = o?.status === 'skipped' ? o.cause : 'unknown';
    return failedResult(node.uniqueId, 'skipped', `skipped: upstream ${names.get(cause) ?? cause} did not succeed`, 'activity');
  });
  await writeRunResults({
    results,
    invocationId: workflowInfo().runId,
    args: {
      which: input.which ?? 'run',
      workflow: 'buildModels',
      workflowId: workflowInfo().workflowId,
      select: input.select ?? [],
      exclude: input.exclude ?? [],
      vars: input.vars ?? {},
      full_refresh: input.fullRefresh ?? false,
      resume: input.resume ?? false,
    },
  });
  const nodes: ModelRunNodeSummary[] = results.map((r) => ({
    uniqueId: r.unique_id,
    name: names.get(r.unique_id) ?? r.unique_id,
    status: r.status,
    ...(r.message !== null ? { message: truncate(r.message) } : {}),
    ...(r.adapter_response.rows_affected !== undefined && r.failures === null ? { rowsAffected: r.adapter_response.rows_affected } : {}),
    ...(r.failures !== null ? { failures: r.failures } : {}),
  }));
  const warn = nodes.filter((n) => n.status === 'warn').length;
  return {
    total: nodes.length,
    success: nodes.filter((n) => n.status === 'success' || n.status === 'pass' || n.status === 'warn').length,
    error: nodes.filter((n) => n.status === 'error' || n.status === 'fail').length,
    skipped: nodes.filter((n) => n.status === 'skipped').length,
    ...(warn > 0 ? { warn } : {}),
    nodes,
  };
}
