/**
 * dbt-style SQL model runner. Stages, one module each:
 * project (read files) → manifest (discover ref/source/config, resolve config) → graph (DAG, cycles,
 * selection) → compile (render SQL) → execute (view/table materializations) → artifacts
 * (manifest.json, run_results.json). `runModels` chains them; `schedule` is the pure DAG scheduler.
 */
export { loadProject } from './project';
export { buildManifest, DEFAULT_SCHEMA, MATERIALIZATIONS, modelUniqueId, sourceUniqueId, type ManifestOptions } from './manifest';
export { buildGraph, selectNodes, planNodes, type Graph } from './graph';
export { compileNode, type CompiledNode, type CompileOptions } from './compile';
export { executeNode, failedResult, toExecutionError, type ExecuteOptions } from './execute';
export { writeManifest, writeRunResultsFile, makeRunResults, MANIFEST_FILE, RUN_RESULTS_FILE } from './artifacts';
export { runDag, type DagNode, type DagOutcome } from './schedule';
export { runModels, type RunModelsOptions } from './run';
export { quoteIdent, quoteRelation } from './identifiers';
export * from './errors';
export type * from './types';
