/**
 * The sensor pipeline (ingest → SQL models → infer) for one data interval: builds the dbt-style models
 * (one activity per model, see model-graph.ts) with the interval as vars, then predicts room occupancy
 * for the interval's 10-minute windows with the ONNX model. Scheduled every 10 minutes by
 * `schedules/sensor-pipeline.yaml`; manual runs pass `dataIntervalStart`/`dataIntervalEnd`.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { InferenceActivities, PredictOccupancyResult } from '../activities/inference';
import type { QualityActivities } from '../activities/quality';
import { runDataInterval, tagPipelineRun, type DataInterval, type DataIntervalInput } from './data-interval';
import { buildModels, type ModelRunSummary } from './model-graph';

/** Inference: one batch per interval; retried on connection errors (SQL/model errors are non-retryable at the source). */
export const INFERENCE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;

const { predictOccupancy } = proxyActivities<InferenceActivities>(INFERENCE_ACTIVITY_OPTIONS);

/** Data-quality gate: the sensor checks over the interval (SQL); retried on connection errors. */
export const QUALITY_GATE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;

const { qualityGate } = proxyActivities<QualityActivities>(QUALITY_GATE_ACTIVITY_OPTIONS);

/** Patch ID of the data-quality gate (histories recorded before it replay without it). */
export const QUALITY_GATE_PATCH = 'data-quality-gate';

/** Input of {@link sensorPipeline}. */
export interface SensorPipelineInput extends DataIntervalInput {
  /** Model selectors. @default all models */
  select?: string[];
  /** Run the data-quality gate before inference (config/quality-rules.yaml, sensor rules). @default true */
  qualityGate?: boolean;
  /** Models built at once. @default 4 */
  maxParallel?: number;
}

/** What a run did. */
export interface SensorPipelineResult extends DataInterval {
  models: Omit<ModelRunSummary, 'nodes'> & { failed: string[] };
  /** Undefined when inference was skipped; see `skippedInference`. */
  inference?: PredictOccupancyResult;
  skippedInference?: string;
  /** The data-quality gate's verdict (absent when the gate did not run). */
  quality?: { passed: boolean; findings: number; errors: Array<{ source: string; deviceId: string; rule: string; message: string }> };
}

/**
 * Runs the models, then inference, for the run's data interval.
 * @throws ApplicationFailure (non-retryable) when the data interval cannot be resolved.
 */
export async function sensorPipeline(input: SensorPipelineInput = {}): Promise<SensorPipelineResult> {
  const interval = await runDataInterval(input);
  tagPipelineRun('sensor-pipeline', interval);
  const summary = await buildModels({
    select: input.select,
    maxParallel: input.maxParallel,
    vars: { data_interval_start: interval.dataIntervalStart, data_interval_end: interval.dataIntervalEnd },
  });
  const { nodes, ...counts } = summary;
  const failed = nodes.filter((n) => n.status !== 'success').map((n) => `${n.name}: ${n.status}${n.message ? ` (${n.message})` : ''}`);
  const result: SensorPipelineResult = { ...interval, models: { ...counts, failed } };
  if (summary.error > 0 || summary.skipped > 0) {
    result.skippedInference = `${summary.error} model(s) failed and ${summary.skipped} were skipped; predictions for this interval would read stale aggregates`;
    return result;
  }
  if (input.qualityGate !== false && patched(QUALITY_GATE_PATCH)) {
    // A window failing an error-severity data-quality rule is not passed to inference.
    const gate = await qualityGate({ start: interval.dataIntervalStart, end: interval.dataIntervalEnd });
    result.quality = gate;
    if (!gate.passed) {
      const shown = gate.errors.slice(0, 5).map((e) => `${e.rule} on ${e.source}/${e.deviceId}: ${e.message}`);
      result.skippedInference = `data-quality gate failed (${gate.errors.length} error finding(s)): ${shown.join('; ')}${gate.errors.length > 5 ? '; …' : ''}`;
      return result;
    }
  }
  result.inference = await predictOccupancy({ dataIntervalStart: interval.dataIntervalStart, dataIntervalEnd: interval.dataIntervalEnd });
  return result;
}
