/**
 * Data-quality checks for one data interval (`qualityChecks`, scheduled by `schedules/quality-checks.yaml`;
 * manual runs pass `dataIntervalStart`/`dataIntervalEnd`): run the checks and record findings as alerts
 * (idempotent per source, device, rule and window) → hand NEW alerts to the device entity workflows →
 * notify a summary once per window.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { QualityActivities, RuleSummary } from '../activities/quality';
import type { CheckGroup } from '../quality/checks';
import { runDataInterval, tagPipelineRun, type DataInterval, type DataIntervalInput } from './data-interval';

/** The checks: a few SQL queries over the interval; retried on connection errors. */
export const QUALITY_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;
/** Signals and notifications. */
export const DISPATCH_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
} as const;

const { runQualityChecks } = proxyActivities<QualityActivities>(QUALITY_ACTIVITY_OPTIONS);
const { dispatchAlerts, notifyQualitySummary } = proxyActivities<QualityActivities>(DISPATCH_ACTIVITY_OPTIONS);

/** Input of {@link qualityChecks}. */
export interface QualityChecksInput extends DataIntervalInput {
  /** Only this source. @default every source */
  source?: string;
  /** @default ['gps', 'sensors', 'silence'] */
  groups?: CheckGroup[];
  /** Send the summary notification. @default true */
  notify?: boolean;
}

/** What a run did. */
export interface QualityChecksResult extends DataInterval {
  findings: number;
  byRule: Record<string, RuleSummary>;
  newAlerts: number;
  refreshedAlerts: number;
  errors: number;
  devicesSignalled: number;
}

/**
 * Runs the checks for the run's data interval.
 * @throws ApplicationFailure (non-retryable) when the data interval cannot be resolved or the rules file is invalid.
 */
export async function qualityChecks(input: QualityChecksInput = {}): Promise<QualityChecksResult> {
  const interval = await runDataInterval(input);
  tagPipelineRun('quality-checks', interval);
  const r = await runQualityChecks({
    start: interval.dataIntervalStart,
    end: interval.dataIntervalEnd,
    source: input.source,
    groups: input.groups,
  });
  let devicesSignalled = 0;
  if (r.inserted.length > 0) devicesSignalled = (await dispatchAlerts({ alerts: r.inserted })).devices;
  if (input.notify !== false) {
    await notifyQualitySummary({
      start: interval.dataIntervalStart,
      end: interval.dataIntervalEnd,
      scope: `${input.source ?? 'all'}:${(input.groups ?? ['gps', 'sensors', 'silence']).join('+')}`,
      result: { ...r, inserted: r.inserted.length },
    });
  }
  return {
    ...interval,
    findings: r.findings,
    byRule: r.byRule,
    newAlerts: r.inserted.length,
    refreshedAlerts: r.refreshed,
    errors: r.errors.length,
    devicesSignalled,
  };
}
