/** `run <pipeline>`: starts a pipeline workflow by name with arguments and waits for its result. */
import type { Client } from '@temporalio/client';
import { searchAttributeKeys, workflowIds } from '../config/names';
import type { Settings } from '../config/env';
import { PipelineRunFailedError } from './failure';

/**
 * `args[key]` as text for a workflow ID: strings as they are, numbers/booleans via `String`, lists and
 * objects as JSON; `fallback()` when the key is absent or null.
 */
function textArg(args: Record<string, unknown>, key: string, fallback: () => string): string {
  const v = args[key];
  if (v === undefined || v === null) return fallback();
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v); // lists and objects (parseArgs values are JSON)
}

/** Pipelines runnable by name, with the workflow type and how its readable workflow ID is built. */
export const PIPELINES = {
  'launch-images': {
    workflow: 'launchImages',
    description: 'Rocket launches: fetch the Launch Library 2 page → download images → notify',
    id: (args: Record<string, unknown>) =>
      workflowIds.launchImages(textArg(args, 'logicalDate', () => new Date().toISOString().slice(0, 10))),
  },
  'sensor-pipeline': {
    workflow: 'sensorPipeline',
    description: 'SQL models then occupancy inference for a data interval (dataIntervalStart, dataIntervalEnd)',
    id: (args: Record<string, unknown>) => workflowIds.sensorPipeline(textArg(args, 'dataIntervalStart', () => new Date().toISOString())),
  },
  'events-stats': {
    workflow: 'eventsStats',
    description: 'Per-(date, user) event counts of a data interval from the events API (dataIntervalStart, dataIntervalEnd, apiUrl)',
    id: (args: Record<string, unknown>) => `events-stats-${textArg(args, 'dataIntervalStart', () => new Date().toISOString())}`,
  },
  weather: {
    workflow: 'weatherPipeline',
    description: 'Open-Meteo forecast → clean (SI units) → store → dashboard (url, location, latitude, longitude)',
    id: (args: Record<string, unknown>) => `weather-${textArg(args, 'location', () => 'default')}-${new Date().toISOString()}`,
  },
  'quality-checks': {
    workflow: 'qualityChecks',
    description: 'Data-quality checks over a data interval (dataIntervalStart, dataIntervalEnd, source, groups)',
    id: (args: Record<string, unknown>) => `quality-checks-${textArg(args, 'dataIntervalStart', () => new Date().toISOString())}`,
  },
  models: {
    workflow: 'buildModels',
    description: 'Build the dbt-style models, one activity per model (select, vars, maxParallel)',
    id: () => `build-models-${new Date().toISOString()}`,
  },
} as const;

export type PipelineName = keyof typeof PIPELINES;

/**
 * Parses `key=value` pairs; values are JSON when they parse as JSON (numbers, lists), strings otherwise.
 * @throws Error naming the pair that has no `=`.
 */
export function parseArgs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`Argument ${JSON.stringify(p)} is not key=value (e.g. dataIntervalStart=2015-02-04T00:00:00Z).`);
    const raw = p.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain string
    }
    out[p.slice(0, i)] = value;
  }
  return out;
}

/**
 * Starts `pipeline` with `args` and waits for its result.
 * @throws Error listing the pipelines when the name is unknown.
 * @throws PipelineRunFailedError with the workflow id, run id and the failure's cause chain when the
 *   workflow fails, is cancelled or is terminated.
 */
export async function runPipeline(
  client: Client,
  settings: Settings,
  pipeline: string,
  args: Record<string, unknown>,
): Promise<{ workflowId: string; result: unknown }> {
  const p = (PIPELINES as Record<string, (typeof PIPELINES)[PipelineName]>)[pipeline];
  if (!p) throw new Error(`Unknown pipeline ${JSON.stringify(pipeline)}; choose from ${Object.keys(PIPELINES).join(', ')}.`);
  const workflowId = p.id(args);
  const handle = await client.workflow.start(p.workflow, {
    workflowId,
    taskQueue: settings.taskQueue,
    args: [args],
    typedSearchAttributes: [{ key: searchAttributeKeys.PipelineName, value: pipeline }],
  });
  try {
    return { workflowId, result: await handle.result() };
  } catch (e) {
    throw new PipelineRunFailedError(pipeline, workflowId, handle.firstExecutionRunId, e);
  }
}
