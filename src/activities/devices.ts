/**
 * Activities of the device entity workflow: device status rows (`fleet.devices`), the device's latest
 * arrival from the ingest tables, its alerts in `quality.alerts`, and notifications de-duplicated per
 * alert (`ops.notifications_sent`).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { isTransientDbError } from '../db/errors';
import type { DeviceKind, DeviceStateView } from '../devices/state';
import { DedupingNotifier, PgDedupeStore, type DedupeOutcome } from '../notify/dedupe';
import type { Notifier, Severity } from '../notify/index';
import { raiseAlert, setAlertStatus, muteAlerts, getAlert, toRef, type AlertRef, type NewDeviceAlert } from '../quality/alerts';
import type { AlertSeverity } from '../quality/rules';
import { atActivityBoundary } from './http';
import { workflowRunId } from './context';

/** Dependencies of {@link createDeviceActivities}. */
export interface DeviceActivityDeps {
  pool: Pool;
  notifier: Notifier;
}

/** Alert transitions that are notified. */
export type AlertTransition = 'raised' | 'resolved' | 'acknowledged';

/** Input of `raiseDeviceAlert`. */
export type RaiseDeviceAlertInput = NewDeviceAlert;

/** Activity functions built by {@link createDeviceActivities}. */
export interface DeviceActivities {
  /** Upserts the device's row in `fleet.devices` (the dashboard's device table). */
  saveDeviceStatus(v: DeviceStateView & { workflowId: string }): Promise<void>;
  /**
   * Latest arrival (`received_at`, epoch ms) and event time of the device in its ingest table
   * (`ingest.gps_fixes` for gps, `ingest.sensor_readings` for sensors); nulls when it has none.
   */
  lastArrival(i: { source: string; deviceId: string; kind: DeviceKind }): Promise<{ receivedAt: number | null; eventTime: number | null }>;
  /** Opens (or finds) a device-level alert; `created` is false when it already existed. */
  raiseDeviceAlert(i: RaiseDeviceAlertInput): Promise<{ alert: AlertRef; created: boolean }>;
  /**
   * Marks an open alert of this device acknowledged.
   * @throws ApplicationFailure `AlertNotFound` (non-retryable) when no open or acknowledged alert of this device has the id.
   */
  acknowledgeAlertRow(i: { id: number; source: string; deviceId: string; by: string }): Promise<AlertRef>;
  /** Marks an alert resolved. */
  resolveAlertRow(i: { id: number }): Promise<void>;
  /** Records a mute on the device's non-resolved alerts of a rule. @returns rows changed. */
  muteAlertRows(i: { source: string; deviceId: string; rule: string; until: string }): Promise<number>;
  /** Notifies one transition of one alert, at most once per (alert, transition). */
  notifyAlert(i: { alert: AlertRef; transition: AlertTransition; by?: string }): Promise<DedupeOutcome>;
}

/** `ApplicationFailure` for database errors: transient ones retry, others do not. */
export function dbFailure(e: unknown): unknown {
  if (e instanceof ApplicationFailure) return e;
  if (isTransientDbError(e)) return e;
  const err = e as { message?: string; code?: string };
  return ApplicationFailure.create({
    type: 'DatabaseError',
    message: err.message ?? String(e),
    nonRetryable: true,
    details: [{ code: err.code }],
  });
}

async function db<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw dbFailure(e);
  }
}

/** Notifier severity of an alert severity. */
export function notifySeverity(s: AlertSeverity, transition: AlertTransition): Severity {
  if (transition !== 'raised') return 'info';
  return s === 'error' ? 'critical' : s === 'warning' ? 'warning' : 'info';
}

/** Builds the device activities. */
export function createDeviceActivities(deps: DeviceActivityDeps): DeviceActivities {
  const { pool } = deps;
  const dedupe = new DedupingNotifier(deps.notifier, new PgDedupeStore(pool));
  return {
    saveDeviceStatus: (v) =>
      db(async () => {
        await pool.query(
          `INSERT INTO fleet.devices (source, device_id, kind, status, first_seen, last_seen, last_event_time, latest, open_alerts, expected_interval_ms, muted_rules, workflow_id, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())
           ON CONFLICT (source, device_id) DO UPDATE SET kind = EXCLUDED.kind, status = EXCLUDED.status, first_seen = EXCLUDED.first_seen,
             last_seen = EXCLUDED.last_seen, last_event_time = EXCLUDED.last_event_time, latest = EXCLUDED.latest, open_alerts = EXCLUDED.open_alerts,
             expected_interval_ms = EXCLUDED.expected_interval_ms, muted_rules = EXCLUDED.muted_rules, workflow_id = EXCLUDED.workflow_id, updated_at = now()`,
          [
            v.source,
            v.deviceId,
            v.kind,
            v.status === 'unknown' ? 'ok' : v.status,
            v.firstSeen ?? null,
            v.lastSeen ?? null,
            v.lastEventTime ?? null,
            v.latest ? JSON.stringify(v.latest) : null,
            v.openAlerts.filter((a) => a.status === 'open').length,
            v.expectedIntervalMs,
            JSON.stringify(v.muted),
            v.workflowId,
          ],
        );
      }),
    lastArrival: ({ source, deviceId, kind }) =>
      db(async () => {
        const table = kind === 'gps' ? 'ingest.gps_fixes' : 'ingest.sensor_readings';
        const r = await pool.query<{ r: Date | null; e: Date | null }>(
          `SELECT max(received_at) AS r, max(event_time) AS e FROM ${table} WHERE source = $1 AND device_id = $2`,
          [source, deviceId],
        );
        const row = r.rows[0];
        return { receivedAt: row?.r?.getTime() ?? null, eventTime: row?.e?.getTime() ?? null };
      }),
    raiseDeviceAlert: (i) =>
      db(async () => {
        const { alert, created } = await raiseAlert(pool, i, { workflowRunId: workflowRunId() });
        return { alert: toRef(alert), created };
      }),
    acknowledgeAlertRow: ({ id, source, deviceId, by }) =>
      db(async () => {
        const a = await getAlert(pool, id);
        if (!a || a.source !== source || a.deviceId !== deviceId || a.status === 'resolved') {
          throw ApplicationFailure.create({
            type: 'AlertNotFound',
            message: `no open alert ${id} for device ${deviceId} of ${source}`,
            nonRetryable: true,
            details: [{ id, source, deviceId, status: a?.status }],
          });
        }
        const updated = await setAlertStatus(pool, id, 'acknowledged', by);
        return toRef(updated ?? a);
      }),
    resolveAlertRow: ({ id }) =>
      db(async () => {
        await setAlertStatus(pool, id, 'resolved');
      }),
    muteAlertRows: ({ source, deviceId, rule, until }) => db(() => muteAlerts(pool, source, deviceId, rule, until)),
    notifyAlert: ({ alert, transition, by }) =>
      atActivityBoundary(() =>
        dedupe.send({
          dedupeKey: `alert/${alert.id}/${transition}`,
          source: `device/${alert.source}/${alert.deviceId}`,
          severity: notifySeverity(alert.severity, transition),
          message: `${transition === 'raised' ? '' : `[${transition}${by ? ` by ${by}` : ''}] `}${alert.deviceId} (${alert.source}) ${alert.rule}: ${alert.message}`,
          data: {
            alertId: alert.id,
            rule: alert.rule,
            deviceId: alert.deviceId,
            source: alert.source,
            windowStart: alert.windowStart,
            windowEnd: alert.windowEnd,
            transition,
          },
        }),
      ),
  };
}
