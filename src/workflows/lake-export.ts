/**
 * Hourly lake export (the seed's Firehose → S3), started by the schedule in
 * `schedules/lake-export.yaml` with its data interval: exports every completed hour of the interval,
 * one activity per hour. Layout: raw events under `<source>/dt=YYYY-MM-DD/hour=HH/`, dead letters under
 * `errors/<source>/dt=…/hour=…/` (src/lake/layout.ts). Re-running an hour replaces its partitions and
 * removes the ones it no longer produces.
 */
import { proxyActivities } from '@temporalio/workflow';
import { runDataInterval, type DataIntervalInput } from './data-interval';
import type { LakeActivities } from '../activities/lake-export';
import type { LakePartition } from '../lake/export';

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
  /** Raw tables (`sensor_readings`, `modem_telemetry`, `gps_fixes`) and/or `errors`. @default all */
  datasets?: string[];
  /** Only the partitions of these sources. @default all */
  sources?: string[];
}

/** What was exported. */
export interface LakeExportResult {
  /** Hour starts exported, ISO-8601. */
  hours: string[];
  /** Partitions written (replaced whole). */
  partitions: LakePartition[];
  /** Prefixes of partitions removed because a re-run no longer produced them. */
  removed: string[];
  /** Rows written, all partitions. */
  rows: number;
}

const HOUR = 3_600_000;

/** Exports each whole hour in [start, end). */
export async function lakeExport(input: LakeExportInput): Promise<LakeExportResult> {
  const interval = await runDataInterval(input);
  const start = Math.floor(new Date(interval.dataIntervalStart).getTime() / HOUR) * HOUR;
  const end = Math.floor(new Date(interval.dataIntervalEnd).getTime() / HOUR) * HOUR;
  const hours: string[] = [];
  for (let t = start; t < end; t += HOUR) hours.push(new Date(t).toISOString());
  const results: LakePartition[] = [];
  for (const hour of hours) results.push(...(await exportLakeHour({ hour, datasets: input.datasets, sources: input.sources })));
  // Histories recorded before `status` existed carry written partitions only.
  const partitions = results.filter((p) => p.status !== 'removed');
  const removed = results.filter((p) => p.status === 'removed').map((p) => p.prefix);
  return { hours, partitions, removed, rows: partitions.reduce((s, p) => s + p.rows, 0) };
}
