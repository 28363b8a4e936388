/**
 * The alerts table (`quality.alerts`, migration 040): one row per (source, device, rule, window),
 * written with `ON CONFLICT … DO UPDATE`, so re-running a window refreshes `last_seen` and the
 * evidence but never adds a row, and an acknowledged alert stays acknowledged. Each alert carries its
 * lineage: the workflow run that raised or last refreshed it, and the ingest batches of the rows it judged.
 */
import type { Pool } from '../db/pool';
import type { Finding } from './checks';
import type { AlertSeverity } from './rules';

/** Status of an alert. */
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

/** An alert row as the API returns it (times as ISO strings). */
export interface AlertRow {
  id: number;
  source: string;
  deviceId: string;
  rule: string;
  windowStart: string;
  windowEnd: string;
  severity: AlertSeverity;
  message: string;
  status: AlertStatus;
  firstSeen: string;
  lastSeen: string;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
  mutedUntil: string | null;
}

/** Small reference to an alert: what travels through workflow history. */
export interface AlertRef {
  id: number;
  source: string;
  deviceId: string;
  rule: string;
  severity: AlertSeverity;
  message: string;
  windowStart: string;
  windowEnd: string;
}

/** Lineage of the alerts a call writes (migration 110). */
export interface AlertLineage {
  /** The workflow run that found them (the quality-checks run, or the device's entity workflow run). */
  workflowRunId?: string;
}

/**
 * `ingest_batch_ids` of a finding: the ingest batches of the device's readings or fixes in the checked
 * window (`$1` source, `$2` device, `[$4, $5)`), ascending; `{}` when it had none (a device-level finding).
 */
const WINDOW_BATCHES = `(SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}') FROM (
    SELECT batch_id AS b FROM ingest.sensor_readings WHERE source = $1 AND device_id = $2 AND event_time >= $4::timestamptz AND event_time < $5::timestamptz
    UNION ALL
    SELECT batch_id FROM ingest.gps_fixes WHERE source = $1 AND device_id = $2 AND event_time >= $4::timestamptz AND event_time < $5::timestamptz
  ) w WHERE b IS NOT NULL)`;

/** Result of {@link upsertFindings}. */
export interface UpsertResult {
  /** Alerts created by this call. */
  inserted: AlertRef[];
  /** Alerts that already existed for the same (source, device, rule, window) and were refreshed. */
  refreshed: number;
}

const COLS = `id, source, device_id, rule, window_start, window_end, severity, message, status, first_seen, last_seen, acknowledged_by, acknowledged_at, muted_until`;

type DbAlert = {
  id: string;
  source: string;
  device_id: string;
  rule: string;
  window_start: Date;
  window_end: Date;
  severity: AlertSeverity;
  message: string;
  status: AlertStatus;
  first_seen: Date;
  last_seen: Date;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  muted_until: Date | null;
};

function toRow(r: DbAlert): AlertRow {
  return {
    id: Number(r.id),
    source: r.source,
    deviceId: r.device_id,
    rule: r.rule,
    windowStart: r.window_start.toISOString(),
    windowEnd: r.window_end.toISOString(),
    severity: r.severity,
    message: r.message,
    status: r.status,
    firstSeen: r.first_seen.toISOString(),
    lastSeen: r.last_seen.toISOString(),
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: r.acknowledged_at?.toISOString() ?? null,
    mutedUntil: r.muted_until?.toISOString() ?? null,
  };
}

/** The reference of an alert row. */
export function toRef(a: AlertRow): AlertRef {
  return {
    id: a.id,
    source: a.source,
    deviceId: a.deviceId,
    rule: a.rule,
    severity: a.severity,
    message: a.message,
    windowStart: a.windowStart,
    windowEnd: a.windowEnd,
  };
}

/**
 * Writes findings of one window in one transaction.
 * @param window `[start, end)` of the check run, ISO 8601.
 */
export async function upsertFindings(
  pool: Pool,
  window: { start: string; end: string },
  findings: readonly Finding[],
  lineage: AlertLineage = {},
): Promise<UpsertResult> {
  const client = await pool.connect();
  const inserted: AlertRef[] = [];
  let refreshed = 0;
  try {
    await client.query('BEGIN');
    for (const f of findings) {
      const r = await client.query<DbAlert & { inserted: boolean }>(
        `INSERT INTO quality.alerts (source, device_id, rule, window_start, window_end, severity, message, evidence, workflow_run_id, ingest_batch_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, ${WINDOW_BATCHES})
         ON CONFLICT (source, device_id, rule, window_start, window_end) DO UPDATE
           SET last_seen = now(), evidence = EXCLUDED.evidence, severity = EXCLUDED.severity, message = EXCLUDED.message,
               workflow_run_id = EXCLUDED.workflow_run_id, ingest_batch_ids = EXCLUDED.ingest_batch_ids
         RETURNING ${COLS}, (xmax = 0) AS inserted`,
        [
          f.source,
          f.deviceId,
          f.rule,
          window.start,
          window.end,
          f.severity,
          f.message,
          JSON.stringify(f.evidence),
          lineage.workflowRunId ?? null,
        ],
      );
      const row = r.rows[0]!;
      if (row.inserted) inserted.push(toRef(toRow(row)));
      else refreshed++;
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
  return { inserted, refreshed };
}

/** A device-level alert to open: one row per (source, device, rule, window). */
export interface NewDeviceAlert {
  source: string;
  deviceId: string;
  rule: string;
  /** Episode identity, ISO 8601 (silence: the last arrival before it). */
  windowStart: string;
  windowEnd: string;
  severity: AlertSeverity;
  message: string;
  evidence: Record<string, unknown>;
}

/**
 * Opens (or finds) one device-level alert, e.g. a silence episode (window = [since, since]).
 * @returns the alert and whether this call created it.
 */
export async function raiseAlert(
  pool: Pool,
  a: NewDeviceAlert,
  lineage: AlertLineage = {},
): Promise<{ alert: AlertRow; created: boolean }> {
  const r = await pool.query<DbAlert & { inserted: boolean }>(
    `INSERT INTO quality.alerts (source, device_id, rule, window_start, window_end, severity, message, evidence, workflow_run_id, ingest_batch_ids)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '{}')
     ON CONFLICT (source, device_id, rule, window_start, window_end) DO UPDATE SET last_seen = now()
     RETURNING ${COLS}, (xmax = 0) AS inserted`,
    [
      a.source,
      a.deviceId,
      a.rule,
      a.windowStart,
      a.windowEnd,
      a.severity,
      a.message,
      JSON.stringify(a.evidence),
      lineage.workflowRunId ?? null,
    ],
  );
  const row = r.rows[0]!;
  return { alert: toRow(row), created: row.inserted };
}

/**
 * Changes an alert's status (`acknowledged` records who; `resolved` records when).
 * @returns the updated row, or undefined when no alert has this id.
 */
export async function setAlertStatus(pool: Pool, id: number, status: AlertStatus, by?: string): Promise<AlertRow | undefined> {
  const r = await pool.query<DbAlert>(
    `UPDATE quality.alerts SET status = $2,
        acknowledged_by = CASE WHEN $2 = 'acknowledged' THEN $3 ELSE acknowledged_by END,
        acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN now() ELSE acknowledged_at END,
        resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE resolved_at END
      WHERE id = $1 RETURNING ${COLS}`,
    [id, status, by ?? null],
  );
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

/** Sets `muted_until` of every non-resolved alert of a device and rule. @returns the number of rows changed. */
export async function muteAlerts(pool: Pool, source: string, deviceId: string, rule: string, until: string): Promise<number> {
  const r = await pool.query(
    `UPDATE quality.alerts SET muted_until = $4 WHERE source = $1 AND device_id = $2 AND rule = $3 AND status <> 'resolved'`,
    [source, deviceId, rule, until],
  );
  return r.rowCount ?? 0;
}

/** One alert by id. */
export async function getAlert(pool: Pool, id: number): Promise<AlertRow | undefined> {
  const r = await pool.query<DbAlert>(`SELECT ${COLS} FROM quality.alerts WHERE id = $1`, [id]);
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

/** Filters of {@link listAlerts}. */
export interface AlertFilter {
  /** @default ['open', 'acknowledged'] */
  statuses?: AlertStatus[];
  sources?: string[];
  deviceId?: string;
  /** @default 200 */
  limit?: number;
}

/** Alerts, newest `last_seen` first. */
export async function listAlerts(pool: Pool, f: AlertFilter = {}): Promise<AlertRow[]> {
  const r = await pool.query<DbAlert>(
    `SELECT ${COLS} FROM quality.alerts
      WHERE status = ANY($1::text[]) AND ($2::text[] IS NULL OR source = ANY($2::text[])) AND ($3::text IS NULL OR device_id = $3)
      ORDER BY last_seen DESC, id DESC LIMIT $4`,
    [f.statuses ?? ['open', 'acknowledged'], f.sources ?? null, f.deviceId ?? null, f.limit ?? 200],
  );
  return r.rows.map(toRow);
}
