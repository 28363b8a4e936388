/**
 * Hourly lake export (the seed's Firehose → S3), started by the schedule in
 * `schedules/lake-export.yaml` with its data interval: exports every completed hour of the interval
 * (each hour one activity; re-running replaces the hour's partitions).
 */
import { proxyActivities } from '@temporalio/workflow';
import { runDataInterval, type DataIntervalInput } from './data-interval';
import type { LakeActivities } from '../activities/lake-export';
import type { LakePartition } from '../lake/writer';

/** Export activity options: retried with backoff (database or disk hiccups). */
export const LAKE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;

const { exportLakeHour } = proxyActivities<LakeActivities>(LAKE_ACTIVITY_OPTIONS);

/**
 * Input of {@link lakeExport}: a data interval (explicit `dataIntervalStart`/`dataIntervalEnd`, or
 * derived from the schedule, see data-interval.ts); both ends are rounded down to whole hours.
 */
export interface LakeExportInput extends DataIntervalInput {
  datasets?: string[];
  sources?: string[];
}

/** What was exported. */
export interface LakeExportResult {
  hours: string[];
  partitions: LakePartition[];
  rows: number;
}

const HOUR = 3_600_000;

/** Exports each whole hour in [start, end). */
export async function lakeExport(input: LakeExportInput): Promise<LakeExportResult> {
  const interval = runDataInterval(input);
  const start = Math.floor(new Date(interval.dataIntervalStart).getTime() / HOUR) * HOUR;
  const end = Math.floor(new Date(interval.dataIntervalEnd).getTime() / HOUR) * HOUR;
  const hours: string[] = [];
  for (let t = start; t < end; t += HOUR) hours.push(new Date(t).toISOString());
  const partitions: LakePartition[] = [];
  for (const hour of hours) partitions.push(...(await exportLakeHour({ hour, datasets: input.datasets, sources: input.sources })));
  return { hours, partitions, rows: partitions.reduce((s, p) => s + p.rows, 0) };
}
