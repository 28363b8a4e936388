/**
 * Model-runner activities used by the `buildModels` workflow: plan the run (parse the project, select,
 * write `target/manifest.json`), build one node (model, seed or test) per activity, write
 * `target/run_results.json`.
 *
 * Errors: SQL errors (syntax, undefined table, bad data...) and project/template errors are
 * non-retryable ApplicationFailures naming the node; connection loss, server shutdown, deadlocks are
 * retryable (the workflow's retry policy backs off).
 */
import { Context } from '@temporalio/activity';
import { workflowRunId } from './context';
import { observeModelNode } from '../observability/metrics';
import { ownSpan } from '../observability/tracing';
import { lineageFromEnv, newRunId, postgresDataset, runEvent } from '../observability/lineage';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { makeRunResults, writeManifest, writeRunResultsFile } from '../modelrunner/artifacts';
import { ModelExecutionError, ModelRunnerError } from '../modelrunner/errors';
import { executeNode } from '../modelrunner/execute';
import { buildManifest } from '../modelrunner/manifest';
import { planRun, type RunCommand } from '../modelrunner/plan';
import { loadProject, projectFingerprint } from '../modelrunner/project';
import type { Manifest, NodeResult, NodeStatus, PlannedNode } from '../modelrunner/types';

/** Parsed manifests kept per activity set (one per distinct vars). @default 16 */
export const MANIFEST_CACHE_SIZE = 16;

/** ApplicationFailure types raised by the model activities. */
export const MODEL_FAILURE_TYPES = {
  /** SQL refused by PostgreSQL: non-retryable. */
  sql: 'ModelSqlError',
  /** Project, template, graph or selection error: non-retryable. */
  project: 'ModelProjectError',
  /** Connection lost, shutdown, deadlock...: retryable. */
  transient: 'ModelTransientError',
} as const;

/** Clients and settings of the model activities. */
export interface ModelActivityDeps {
  pool: Pool;
  /** Folder holding `dbt_project.yml` (the repository root for the real project). */
  projectDir: string;
  /** Artifacts folder. @default `<projectDir>/target` */
  targetDir?: string;
  /** Schema of models without a `schema` config. @default 'analytics' */
  defaultSchema?: string;
}

/** Input of `planModelRun`. */
export interface PlanModelRunInput {
  /** What to run: models (`run`), `seed`s, `test`s, or all in DAG order (`build`). @default 'run' */
  which?: RunCommand;
  /** Node selectors (see src/modelrunner/graph.ts); empty = every node of the command. */
  select?: string[];
  /** Selectors removed from the selection. */
  exclude?: string[];
  /** Run vars, override the project's `vars:`. */
  vars?: Record<string, unknown>;
  /** Only what did not succeed in the previous run (from `previousResults` or `run_results.json`). @default false */
  resume?: boolean;
  /** Statuses of the previous run by unique ID (for `resume` and `result:` selectors). */
  previousResults?: Record<string, NodeStatus>;
}

/** Input of `runModelNode`. */
export interface RunModelNodeInput {
  uniqueId: string;
  vars?: Record<string, unknown>;
  /** Rebuild incremental models from scratch. @default false */
  fullRefresh?: boolean;
}

/** Input of `writeRunResults`. */
export interface WriteRunResultsInput {
  /** Results in plan order (errors and skips included). */
  results: NodeResult[];
  /** Run invocation ID, e.g. the workflow run ID. */
  invocationId?: string;
  /** Copied to run_results.json `args`. */
  args?: Record<string, unknown>;
}

/** Maps a model-runner error to an ApplicationFailure; other errors are returned unchanged (retryable). */
export function toModelFailure(e: unknown, uniqueId?: string): unknown {
  if (e instanceof ModelExecutionError) {
    return ApplicationFailure.create({
      message: e.message,
      type: e.retryable ? MODEL_FAILURE_TYPES.transient : MODEL_FAILURE_TYPES.sql,
      nonRetryable: !e.retryable,
      details: [{ uniqueId: e.uniqueId, code: e.code ?? null }],
      cause: e,
    });
  }
  if (e instanceof ModelRunnerError) {
    return ApplicationFailure.create({
      message: uniqueId ? `${uniqueId}: ${e.message}` : e.message,
      type: MODEL_FAILURE_TYPES.project,
      nonRetryable: true,
      details: [{ uniqueId: uniqueId ?? null, error: e.name }],
      cause: e,
    });
  }
  return e;
}

/** Builds the model activities. */
export function createModelActivities({ pool, projectDir, targetDir, defaultSchema }: ModelActivityDeps) {
  const sink = lineageFromEnv();
  const runs = new Map<string, string>();
  /**
   * The OpenLineage events of one node's run (src/observability/lineage.ts): its inputs are the relations
   * it depends on, its output the relation it builds (with its columns once built); its parent is the
   * pipeline's workflow run. Undefined when lineage is off.
   */
  const nodeLineage = (manifest: Manifest, uniqueId: string) => {
    if (!sink) return undefined;
    const node = manifest.nodes[uniqueId];
    if (!node) return undefined;
    const url = (pool as unknown as { options: { connectionString: string } }).options.connectionString;
    const info = Context.current().info;
    const runId = newRunId();
    const parent =
      info.workflowExecution && info.workflowType ? { runId: info.workflowExecution.runId, job: info.workflowType } : undefined;
    runs.set(`${info.workflowExecution?.runId}/${info.activityId}`, runId);
    // Schema and table as the manifest resolved them (a source's `identifier`, a node's `alias`).
    const inputs = node.depends_on.nodes.flatMap((id) => {
      const n = manifest.nodes[id];
      if (n) return [postgresDataset(url, n.schema, n.alias)];
      const src = manifest.sources[id];
      return src ? [postgresDataset(url, src.schema, src.identifier)] : [];
    });
    const output = node.resource_type === 'test' ? undefined : postgresDataset(url, node.schema, node.alias);
    const base = {
      runId,
      job: uniqueId,
      jobType: node.resource_type.toUpperCase(),
      ...(parent ? { parent } : {}),
      inputs,
    };
    return {
      start: () => sink.emit(runEvent({ ...base, eventType: 'START', outputs: output ? [output] : [] })),
      end: async (r: NodeResult) => {
        let outputs = output ? [output] : [];
        if (output && r.status === 'success' && node.config.materialized !== 'ephemeral') {
          const { rows } = await pool
            .query<{ name: string; type: string }>(
              'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
              [node.schema, node.alias],
            )
            .catch(() => ({ rows: [] as Array<{ name: string; type: string }> }));
          outputs = [{ ...output, fields: rows }];
        }
        const failed = r.status === 'error' || r.status === 'fail';
        await sink.emit(
          runEvent({
            ...base,
            eventType: failed ? 'FAIL' : 'COMPLETE',
            outputs,
            ...(r.compiled_code ? { sql: r.compiled_code } : {}),
            ...(failed ? { error: r.message ?? r.status } : {}),
          }),
        );
      },
    };
  };
  const lineageOfFailure = async (manifest: (vars?: Record<string, unknown>) => Manifest, input: RunModelNodeInput, e: unknown) => {
    if (!sink) return;
    const info = Context.current().info;
    const key = `${info.workflowExecution?.runId}/${info.activityId}`;
    const runId = runs.get(key);
    if (!runId) return;
    runs.delete(key);
    const parent =
      info.workflowExecution && info.workflowType ? { runId: info.workflowExecution.runId, job: info.workflowType } : undefined;
    await sink.emit(
      runEvent({
        eventType: 'FAIL',
        runId,
        job: input.uniqueId,
        jobType: manifest(input.vars).nodes[input.uniqueId]?.resource_type.toUpperCase() ?? 'MODEL',
        ...(parent ? { parent } : {}),
        error: (e as Error).message,
      }),
    );
  };
  // Parsing renders every template: reuse the manifest while the project's files and the vars are unchanged.
  const cache = new Map<string, { fingerprint: string; manifest: Manifest }>();
  const manifestFor = (vars?: Record<string, unknown>): Manifest => {
    const key = JSON.stringify(vars ?? {});
    const fingerprint = projectFingerprint(projectDir);
    const hit = cache.get(key);
    if (hit && hit.fingerprint === fingerprint) return hit.manifest;
    const manifest = buildManifest(loadProject(projectDir), { vars, targetDir, defaultSchema });
    if (cache.size >= MANIFEST_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, { fingerprint, manifest });
    return manifest;
  };

  return {
    /**
     * Parses the project, writes `manifest.json` and returns the selected nodes in topological order,
     * each with its parents inside the plan.
     * @throws ApplicationFailure `ModelProjectError` (non-retryable) on project/template/cycle/selection errors.
     */
    planModelRun(input: PlanModelRunInput): Promise<PlannedNode[]> {
      // Synchronous work: the Promise executor turns a throw into a rejection, like an async function.
      return new Promise((resolve) => {
        try {
          const manifest = manifestFor(input.vars);
          const { plan } = planRun(manifest, {
            which: input.which ?? 'run',
            select: input.select,
            exclude: input.exclude,
            resume: input.resume,
            previousResults: input.previousResults,
          });
          writeManifest(manifest);
          resolve(plan);
        } catch (e) {
          throw toModelFailure(e);
        }
      });
    },

    /**
     * Builds one model, loads one seed or runs one test (see src/modelrunner/execute.ts). A failing
     * test is a result (`fail`/`warn` with `failures`), not an exception.
     * @throws ApplicationFailure `ModelSqlError` / `ModelProjectError` (non-retryable) naming the node,
     *   or `ModelTransientError` (retryable).
     */
    async runModelNode(input: RunModelNodeInput): Promise<NodeResult> {
      try {
        const lineage = nodeLineage(manifestFor(input.vars), input.uniqueId);
        await lineage?.start();
        const r = await ownSpan('model.node', { 'iot.node': input.uniqueId }, async (span) => {
          const result = await executeNode(pool, manifestFor(input.vars), input.uniqueId, {
            threadId: 'activity',
            fullRefresh: input.fullRefresh,
            // dbt's invocation_id is the pipeline's workflow run: the run id the model rows carry as lineage.
            invocationId: workflowRunId(),
          });
          span.setAttributes({
            'iot.status': result.status,
            ...(result.adapter_response.rows_affected !== undefined ? { 'iot.rows': result.adapter_response.rows_affected } : {}),
            ...(result.failures !== null ? { 'iot.failures': result.failures } : {}),
            ...(result.relation_name ? { 'iot.relation': result.relation_name } : {}),
          });
          return result;
        });
        observeModelNode(r);
        await lineage?.end(r);
        runs.delete(`${Context.current().info.workflowExecution?.runId}/${Context.current().info.activityId}`);
        return r;
      } catch (e) {
        await lineageOfFailure(manifestFor, input, e);
        throw toModelFailure(e, input.uniqueId);
      }
    },

    /** Writes `run_results.json` (elapsed time from the node timings). */
    writeRunResults(input: WriteRunResultsInput): Promise<void> {
      // Synchronous work: the Promise executor turns a throw into a rejection, like an async function.
      return new Promise((resolve) => {
        const dir = path.resolve(projectDir, targetDir ?? loadProject(projectDir).targetPath);
        writeRunResultsFile(dir, makeRunResults(input.results, { invocationId: input.invocationId, args: input.args }));
        resolve();
      });
    },
  };
}

/** The model activities, for `proxyActivities<ModelActivities>`. */
export type ModelActivities = ReturnType<typeof createModelActivities>;
