/**
 * dbt-style SQL model runner. Stages, one module each:
 * project (read files) → manifest (discover ref/source/config, resolve config; models, seeds, tests)
 * → graph (DAG, cycles, selection) → plan (what a command runs) → compile (nunjucks, ephemeral CTEs,
 * generic tests) → execute (view/table/incremental, seeds, tests) → artifacts (manifest.json,
 * run_results.json). `runModels` chains them; `schedule` is the pure DAG scheduler.
 */
export { loadProject, SQL_TYPE, GENERIC_TESTS, INCREMENTAL_STRATEGIES } from './project';
export {
  buildManifest,
  DEFAULT_SCHEMA,
  EPHEMERAL_PREFIX,
  MATERIALIZATIONS,
  modelUniqueId,
  seedUniqueId,
  sourceUniqueId,
  type ManifestOptions,
} from './manifest';
export { buildGraph, selectNodes, planNodes, type Graph, type SelectOptions, type PlanOptions } from './graph';
export {
  planRun,
  readPreviousResults,
  COMMAND_RESOURCE_TYPES,
  RESUME_SELECTORS,
  type RunCommand,
  type SelectionInput,
  type RunPlan,
} from './plan';
export { compileNode, compileNodeAsync, injectCtes, quoteLiteral, type CompiledNode, type CompileOptions } from './compile';
export { executeNode, failedResult, toExecutionError, type ExecuteOptions } from './execute';
export { parseSeed, inferColumnType, type SeedTable } from './seed';
export { writeManifest, writeRunResultsFile, makeRunResults, MANIFEST_FILE, RUN_RESULTS_FILE } from './artifacts';
export { runDag, type DagNode, type DagOutcome } from './schedule';
export { isFailedStatus, FAILED_STATUSES } from './results';
export { runModels, type RunModelsOptions } from './run';
export { quoteIdent, quoteRelation } from './identifiers';
export * from './errors';
export type * from './types';
