/**
 * What a command runs: the resource types of `run | build | test | seed | compile | ls`, the selection
 * (with `result:` selectors and `resume` read from the previous `run_results.json`), and the plan.
 * Shared by the direct runner (run.ts), the CLI and the `planModelRun` activity.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProjectError } from './errors';
import { buildGraph, planNodes, selectNodes, type Graph } from './graph';
import { RUN_RESULTS_FILE } from './artifacts';
import type { Manifest, NodeStatus, PlannedNode, ResourceType, RunResults } from './types';

/** Commands that execute nodes. */
export type RunCommand = 'run' | 'build' | 'test' | 'seed';

/** Resource types each command selects (dbt's). */
export const COMMAND_RESOURCE_TYPES: Record<RunCommand | 'compile' | 'ls', ResourceType[]> = {
  run: ['model'],
  seed: ['seed'],
  test: ['test'],
  build: ['seed', 'model', 'test'],
  compile: ['model', 'test'],
  ls: ['seed', 'model', 'test'],
};

/** Selectors of a resume: what failed, errored or was skipped last time. */
export const RESUME_SELECTORS = ['result:error', 'result:fail', 'result:skipped'];

/** Selection input shared by the runner, the CLI and the activity. */
export interface SelectionInput {
  /** @default 'run' */
  which?: RunCommand | 'compile' | 'ls';
  /** Node selectors (graph.ts); empty selects everything of the command's resource types. */
  select?: string[];
  /** Selectors removed from the selection. */
  exclude?: string[];
  /**
   * Run again only what did not succeed in the previous run (`result:error`, `result:fail`,
   * `result:skipped` from `run_results.json`), intersected with `select` when given.
   * @default false
   */
  resume?: boolean;
  /** Statuses of the previous run; read from `<target>/run_results.json` when needed and not given. */
  previousResults?: Record<string, NodeStatus>;
}

/**
 * Statuses by unique ID from `<targetDir>/run_results.json`.
 * @returns undefined when the file does not exist.
 * @throws ProjectError when it is not a run_results document.
 */
export function readPreviousResults(targetDir: string): Record<string, NodeStatus> | undefined {
  const file = path.join(targetDir, RUN_RESULTS_FILE);
  if (!fs.existsSync(file)) return undefined;
  let doc: Partial<RunResults>;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<RunResults>;
  } catch (e) {
    throw new ProjectError(file, `not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc.results)) throw new ProjectError(file, 'no results array');
  return Object.fromEntries(doc.results.map((r) => [r.unique_id, r.status]));
}

/** The graph, the selected unique IDs and the plan of `input` on `manifest`. */
export interface RunPlan {
  graph: Graph;
  selected: string[];
  plan: PlannedNode[];
}

/**
 * Selects and plans.
 * @throws CycleError, SelectionError; ProjectError when `resume` or `result:` has no previous run_results.json.
 */
export function planRun(manifest: Manifest, input: SelectionInput): RunPlan {
  const which = input.which ?? 'run';
  const graph = buildGraph(manifest);
  const needsPrevious = input.resume || [...(input.select ?? []), ...(input.exclude ?? [])].some((s) => s.includes('result:'));
  let previousResults = input.previousResults;
  if (needsPrevious && !previousResults) {
    previousResults = readPreviousResults(manifest.target_dir);
    if (!previousResults)
      throw new ProjectError(path.join(manifest.target_dir, RUN_RESULTS_FILE), 'no previous run to select results from');
  }
  const resourceTypes = COMMAND_RESOURCE_TYPES[which];
  let selected = selectNodes(graph, input.resume ? RESUME_SELECTORS : input.select, {
    exclude: input.exclude,
    resourceTypes,
    previousResults,
    // A resume reruns exactly what did not succeed; the tests of rebuilt nodes were skipped then too.
    indirectTests: !input.resume,
  });
  if (input.resume && (input.select ?? []).length > 0) {
    const within = new Set(selectNodes(graph, input.select, { resourceTypes, previousResults }));
    selected = selected.filter((id) => within.has(id));
  }
  const plan = planNodes(graph, selected, { testsBlockChildren: which === 'build' });
  return { graph, selected, plan };
}
