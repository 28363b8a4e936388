/**
 * `buildModels`: builds the dbt-style SQL models (src/modelrunner) with ONE ACTIVITY PER MODEL, in
 * dependency order, at most `maxParallel` at once. A failed model marks its descendants `skipped`;
 * independent branches continue. Writes `target/run_results.json` and returns a small summary.
 *
 * Callable as a workflow, or as a plain async function from another workflow (e.g. the sensor
 * pipeline) running on a worker that registers the model activities.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createModelActivities } from '../activities/models';
import { failedResult } from '../modelrunner/results';
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
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
} as const;

/** One model build: may scan large tables; transient database errors retried with backoff. */
export const MODEL_NODE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 hour',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
} as const;

const { planModelRun, writeRunResults } = proxyActivities<ModelActivities>(MODEL_PLAN_ACTIVITY_OPTIONS);
const { runModelNode } = proxyActivities<ModelActivities>(MODEL_NODE_ACTIVITY_OPTIONS);

/** Input of {@link buildModels}. */
export interface BuildModelsInput {
  /** Node selectors (`name`, `+name`, `name+`, `tag:x`, `path:models/x`). @default all models */
  select?: string[];
  /** Run vars (override dbt_project.yml `vars:`). @default {} */
  vars?: Record<string, unknown>;
  /** Models built at once. @default {@link DEFAULT_MAX_PARALLEL} */
  maxParallel?: number;
}

/** Per-model line of {@link ModelRunSummary}. */
export interface ModelRunNodeSummary {
  uniqueId: string;
  name: string;
  status: NodeStatus;
  /** Error or skip reason (truncated to {@link SUMMARY_MESSAGE_MAX}); the command tag on success. */
  message?: string;
  /** Rows written (tables); -1 for views. */
  rowsAffected?: number;
}

/** Result of {@link buildModels}: counts and one small line per model, in plan order. */
export interface ModelRunSummary {
  total: number;
  success: number;
  error: number;
  skipped: number;
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
  const plan = await planModelRun({ select: input.select, vars: input.vars });
  const outcomes = await runDag(plan, input.maxParallel ?? DEFAULT_MAX_PARALLEL, (node) =>
    runModelNode({ uniqueId: node.uniqueId, vars: input.vars }),
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
    args: { which: 'buildModels', workflowId: workflowInfo().workflowId, select: input.select ?? [], vars: input.vars ?? {} },
  });
  const nodes: ModelRunNodeSummary[] = results.map((r) => ({
    uniqueId: r.unique_id,
    name: names.get(r.unique_id) ?? r.unique_id,
    status: r.status,
    ...(r.message !== null ? { message: truncate(r.message) } : {}),
    ...(r.adapter_response.rows_affected !== undefined ? { rowsAffected: r.adapter_response.rows_affected } : {}),
  }));
  return {
    total: nodes.length,
    success: nodes.filter((n) => n.status === 'success').length,
    error: nodes.filter((n) => n.status === 'error').length,
    skipped: nodes.filter((n) => n.status === 'skipped').length,
    nodes,
  };
}
