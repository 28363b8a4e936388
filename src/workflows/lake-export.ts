/**
 * Hourly lake export (the seed's Firehose → S3), started by the schedule in
 * `schedules/lake-export.yaml` with its data interval: exports every completed hour of the interval,
 * one activity per hour. Layout: raw events under `<source>/dt=YYYY-MM-DD/hour=HH/`, dead letters under
 * `errors/<source>/dt=…/hour=…/` (src/lake/layout.ts). Re-running an hour replaces its partitions and
 * removes the ones it no longer produces. A source that cannot be a lake folder (one named `errors`)
 * does not stop the later hours: every hour is exported, then the run fails naming what was not written.
 */
import { ActivityFailure, ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
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

/** Patch: an hour whose export rejected a source no longer ends the run before the later hours. */
export const CONTINUE_PAST_REJECTED_SOURCE_PATCH = 'lake-export-continue-past-rejected-source';

/** An hour in which a source could not be exported (its other partitions were). */
export interface RejectedLakeHour {
  hour: string;
  /** The {@link LakeSourceNameError}'s message: the source, why, and what to do. */
  reason: string;
}

function rejectedSource(e: unknown): string | undefined {
  const cause = e instanceof ActivityFailure ? e.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === 'LakeSourceNameError' ? cause.message : undefined;
}

/**
 * Exports each whole hour in [start, end).
 * @throws ApplicationFailure `LakeSourceNameError` (non-retryable) after the last hour when a source
 *   could not be exported in some hours; its details hold the {@link RejectedLakeHour}s and the
 *   {@link LakeExportResult} of everything else.
 */
export async function lakeExport(input: LakeExportInput): Promise<LakeExportResult> {
  const interval = await runDataInterval(input);
  const start = Math.floor(new Date(interval.dataIntervalStart).getTime() / HOUR) * HOUR;
  const end = Math.floor(new Date(interval.dataIntervalEnd).getTime() / HOUR) * HOUR;
  const hours: string[] = [];
  for (let t = start; t < end; t += HOUR) hours.push(new Date(t).toISOString());
  const results: LakePartition[] = [];
  const rejected: RejectedLakeHour[] = [];
  for (const hour of hours) {
    try {
      results.push(...(await exportLakeHour({ hour, datasets: input.datasets, sources: input.sources })));
    } catch (e) {
      const reason = rejectedSource(e);
      // Runs recorded before the patch ended here; replaying them must too.
      if (reason === undefined || !patched(CONTINUE_PAST_REJECTED_SOURCE_PATCH)) throw e;
      rejected.push({ hour, reason });
    }
  }
  // Histories recorded before `status` existed carry written partitions only.
  const partitions = results.filter((p) => p.status !== 'removed');
  const removed = results.filter((p) => p.status === 'removed').map((p) => p.prefix);
  const result = { hours, partitions, removed, rows: partitions.reduce((s, p) => s + p.rows, 0) };
  if (rejected.length) {
    throw ApplicationFailure.create({
      type: 'LakeSourceNameError',
      nonRetryable: true,
      message:
        `${rejected.length} of ${hours.length} hour(s) could not export every source (${rejected[0]!.reason}); ` +
        'every other partition of every hour was exported',
      details: [{ rejected, ...result }],
    });
  }
  return result;
}
