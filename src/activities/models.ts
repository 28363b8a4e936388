/**
 * Model-runner activities used by the `buildModels` workflow: plan the run (parse the project, write
 * `target/manifest.json`), build one model per activity, write `target/run_results.json`.
 *
 * Errors: SQL errors (syntax, undefined table, bad data...) and project/template errors are
 * non-retryable ApplicationFailures naming the node; connection loss, server shutdown, deadlocks are
 * retryable (the workflow's retry policy backs off).
 */
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { makeRunResults, writeManifest, writeRunResultsFile } from '../modelrunner/artifacts';
import { ModelExecutionError, ModelRunnerError } from '../modelrunner/errors';
import { executeNode } from '../modelrunner/execute';
import { buildGraph, planNodes, selectNodes } from '../modelrunner/graph';
import { buildManifest } from '../modelrunner/manifest';
import { loadProject } from '../modelrunner/project';
import type { Manifest, NodeResult, PlannedNode } from '../modelrunner/types';

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
  /** Node selectors (`name`, `+name`, `name+`, `tag:x`, `path:models/x`); empty = all models. */
  select?: string[];
  /** Run vars, override the project's `vars:`. */
  vars?: Record<string, unknown>;
}

/** Input of `runModelNode`. */
export interface RunModelNodeInput {
  uniqueId: string;
  vars?: Record<string, unknown>;
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
  const manifestFor = (vars?: Record<string, unknown>): Manifest =>
    buildManifest(loadProject(projectDir), { vars, targetDir, defaultSchema });

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
          const graph = buildGraph(manifest);
          const plan = planNodes(graph, selectNodes(graph, input.select));
          writeManifest(manifest);
          resolve(plan);
        } catch (e) {
          throw toModelFailure(e);
        }
      });
    },

    /**
     * Compiles and builds one model (see src/modelrunner/execute.ts).
     * @throws ApplicationFailure `ModelSqlError` / `ModelProjectError` (non-retryable) naming the node,
     *   or `ModelTransientError` (retryable).
     */
    async runModelNode(input: RunModelNodeInput): Promise<NodeResult> {
      try {
        return await executeNode(pool, manifestFor(input.vars), input.uniqueId, { threadId: 'activity' });
      } catch (e) {
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
