/**
 * Data-quality activities: run the checks of `src/quality/checks.ts` over a data interval and record
 * the findings in `quality.alerts` (idempotent per source, device, rule and window), hand new alerts to
 * the device entity workflows (signal-with-start), the sensor pipeline's quality gate, and the run
 * summary notification (de-duplicated per window).
 */
import { metrics } from '../observability/metrics';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Pool } from '../db/pool';
import { deviceWorkflowId } from '../devices/state';
import { DedupingNotifier, PgDedupeStore, type DedupeOutcome } from '../notify/dedupe';
import type { Notifier } from '../notify/index';
import { upsertFindings, type AlertRef } from '../quality/alerts';
import { runChecks, type CheckGroup, type Finding } from '../quality/checks';
import { expectedIntervalMs, loadQualityRules, QualityRulesError, type AlertSeverity, type QualityRules } from '../quality/rules';
import { dbFailure } from './devices';
import { atActivityBoundary } from './http';
import { workflowRunId } from './context';

/** Dependencies of {@link createQualityActivities}. */
export interface QualityActivityDeps {
  pool: Pool;
  notifier: Notifier;
  /** Client used to signal-with-start device workflows; without it new alerts are only notified. */
  client?: Client;
  /** Task queue of device workflows started by signal-with-start. */
  taskQueue: string;
  /** Rules file. @default config/quality-rules.yaml */
  rulesFile?: string;
}

/** Input of `runQualityChecks`. */
export interface QualityCheckInput {
  /** Inclusive start, ISO 8601. */
  start: string;
  /** Exclusive end, ISO 8601. */
  end: string;
  /** Only this source. @default every source */
  source?: string;
  /** @default all groups */
  groups?: CheckGroup[];
}

/** Per-rule counts of a run. */
export interface RuleSummary {
  devices: number;
  bySeverity: Partial<Record<AlertSeverity, number>>;
}

/** Result of `runQualityChecks`. */
export interface QualityCheckResult {
  findings: number;
  byRule: Record<string, RuleSummary>;
  /** Alerts created by this run (a re-run of the same window creates none). */
  inserted: AlertRef[];
  /** Alerts of this window that existed already and were refreshed. */
  refreshed: number;
  /** Findings with severity `error`: source, device, rule, message. */
  errors: Array<Pick<Finding, 'source' | 'deviceId' | 'rule' | 'message'>>;
}

/** Activity functions built by {@link createQualityActivities}. */
export interface QualityActivities {
  /** Runs the checks and records the findings. @throws ApplicationFailure `QualityRulesError` (non-retryable) for an invalid rules file. */
  runQualityChecks(i: QualityCheckInput): Promise<QualityCheckResult>;
  /** Signals each device with new alerts (signal-with-start of `deviceEntity`); the device workflows notify. */
  dispatchAlerts(i: { alerts: AlertRef[] }): Promise<{ devices: number; signalled: number; notifiedDirectly: number }>;
  /** The sensor pipeline's gate: the sensor checks over the interval; `passed` is false when any finding is an error. */
  qualityGate(i: { start: string; end: string }): Promise<{ passed: boolean; errors: QualityCheckResult['errors']; findings: number }>;
  /** Notifies a run summary once per (pipeline, window). */
  notifyQualitySummary(i: {
    start: string;
    end: string;
    scope?: string;
    result: Omit<QualityCheckResult, 'inserted'> & { inserted: number };
  }): Promise<DedupeOutcome>;
}

function summarize(findings: readonly Finding[]): Record<string, RuleSummary> {
  const out: Record<string, RuleSummary> = {};
  for (const f of findings) {
    const s = (out[f.rule] ??= { devices: 0, bySeverity: {} });
    s.devices++;
    s.bySeverity[f.severity] = (s.bySeverity[f.severity] ?? 0) + 1;
  }
  return out;
}

/** Builds the quality activities. */
export function createQualityActivities(deps: QualityActivityDeps): QualityActivities {
  const { pool } = deps;
  const dedupe = new DedupingNotifier(deps.notifier, new PgDedupeStore(pool));
  const rules = (): QualityRules => {
    try {
      return loadQualityRules(deps.rulesFile);
    } catch (e) {
      if (e instanceof QualityRulesError)
        throw ApplicationFailure.create({ type: 'QualityRulesError', message: e.message, nonRetryable: true, details: [{ file: e.file }] });
      throw e;
    }
  };
  const check = async (i: QualityCheckInput): Promise<QualityCheckResult> => {
    const r = rules();
    let findings: Finding[];
    try {
      findings = await runChecks(pool, { start: i.start, end: i.end, source: i.source }, r, i.groups);
      const { inserted, refreshed } = await upsertFindings(pool, { start: i.start, end: i.end }, findings, {
        workflowRunId: workflowRunId(),
      });
      for (const f of findings) metrics.qualityFindings.inc({ rule: f.rule });
      return {
        findings: findings.length,
        byRule: summarize(findings),
        inserted,
        refreshed,
        errors: findings
          .filter((f) => f.severity === 'error')
          .map((f) => ({ source: f.source, deviceId: f.deviceId, rule: f.rule, message: f.message })),
      };
    } catch (e) {
      throw dbFailure(e);
    }
  };
  return {
    runQualityChecks: check,
    async dispatchAlerts({ alerts }) {
      const byDevice = new Map<string, AlertRef[]>();
      for (const a of alerts) {
        const k = deviceWorkflowId(a.source, a.deviceId);
        byDevice.set(k, [...(byDevice.get(k) ?? []), a]);
      }
      let signalled = 0;
      let notifiedDirectly = 0;
      const r = rules();
      for (const a of alerts) metrics.qualityAlerts.inc({ rule: a.rule });
      for (const [workflowId, list] of byDevice) {
        const first = list[0]!;
        if (deps.client) {
          const kind = first.rule.startsWith('gps_') ? 'gps' : 'sensor';
          await deps.client.workflow.signalWithStart('deviceEntity', {
            workflowId,
            taskQueue: deps.taskQueue,
            args: [{ source: first.source, deviceId: first.deviceId, kind, expectedIntervalMs: expectedIntervalMs(r, first.source, kind) }],
            signal: 'reportAlerts',
            signalArgs: [list],
          });
          signalled++;
        } else {
          for (const a of list) {
            await atActivityBoundary(() =>
              dedupe.send({
                dedupeKey: `alert/${a.id}/raised`,
                source: `device/${a.source}/${a.deviceId}`,
                severity: a.severity === 'error' ? 'critical' : 'warning',
                message: `${a.deviceId} (${a.source}) ${a.rule}: ${a.message}`,
                data: { alertId: a.id },
              }),
            );
            notifiedDirectly++;
          }
        }
      }
      return { devices: byDevice.size, signalled, notifiedDirectly };
    },
    async qualityGate({ start, end }) {
      const r = await check({ start, end, groups: ['sensors'] });
      return { passed: r.errors.length === 0, errors: r.errors, findings: r.findings };
    },
    notifyQualitySummary: ({ start, end, scope, result }) =>
      atActivityBoundary(() =>
        dedupe.send({
          dedupeKey: `quality-checks/${scope ?? 'all'}/${start}/${end}`,
          source: 'qualityChecks',
          severity: result.errors.length > 0 ? 'critical' : result.findings > 0 ? 'warning' : 'info',
          message: `Quality checks ${start} → ${end}: ${result.findings} finding(s), ${result.inserted} new alert(s), ${result.errors.length} error(s)`,
          data: { byRule: result.byRule, refreshed: result.refreshed },
        }),
      ),
  };
}
