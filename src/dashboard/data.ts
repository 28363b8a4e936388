/**
 * What the dashboard shows, read in one go: the latest forecast, devices, open alerts, the latest
 * occupancy prediction per room and the status of every running ingest stream (`status` query of the
 * `ingest-*` workflows with the running consumers' live counters, `streamStatus`).
 */
import type { Client } from '@temporalio/client';
import type { IngestRate } from '../observability/rates';
import type { Pool } from '../db/pool';
import { listAlerts, type AlertRow } from '../quality/alerts';
import { streamStatus } from '../ingest/stream-status';
import type { StreamStatus } from '../workflows/messages';

/** The latest stored forecast, pivoted to one row per hour. */
export interface ForecastView {
  location: string;
  runId: number;
  fetchedAt: string;
  url: string;
  latitude: number;
  longitude: number;
  /** Variable → SI unit (and the unit it came in). */
  units: Record<string, { sourceUnit: string; unit: string }>;
  variables: string[];
  hours: Array<{ time: string; values: Record<string, number | null> }>;
  stats: Record<string, unknown>;
}

/** A device row. */
export interface DeviceView {
  source: string;
  deviceId: string;
  kind: string;
  status: string;
  lastSeen: string | null;
  lastEventTime: string | null;
  latest: Record<string, unknown> | null;
  openAlerts: number;
  workflowId: string;
}

/** Latest prediction of a room. */
export interface PredictionView {
  source: string;
  deviceId: string;
  windowStart: string;
  occupied: boolean;
  probability: number;
  modelVersion: string;
}

/** A stream's status, or why it could not be read. */
export interface StreamView {
  workflowId: string;
  type: string;
  status?: StreamStatus;
  error?: string;
}

/** Everything the page renders. */
export interface Snapshot {
  forecast: ForecastView | null;
  devices: DeviceView[];
  alerts: AlertRow[];
  predictions: PredictionView[];
  streams: StreamView[];
  /** Ingest rates per source from the Prometheus counters of the process (empty when no worker runs in it). */
  ingest?: IngestRate[];
}

/** What to show. */
export interface SnapshotScope {
  /** Only these sources (devices, alerts, predictions). @default all */
  sources?: string[];
  /** Forecast location. @default the latest stored forecast of any location */
  forecastLocation?: string;
  /** Streams listed: a Temporal visibility query. @default running workflows whose ID starts with `ingest-` */
  streamsQuery?: string;
}

/** Default visibility query of the streams panel. */
export const STREAMS_QUERY = `WorkflowId STARTS_WITH "ingest-" AND ExecutionStatus = "Running"`;

async function forecast(pool: Pool, location?: string): Promise<ForecastView | null> {
  const run = await pool.query<{
    id: string;
    location: string;
    fetched_at: Date;
    url: string;
    latitude: number;
    longitude: number;
    units: ForecastView['units'];
    stats: Record<string, unknown>;
  }>(
    `SELECT id, location, fetched_at, url, latitude, longitude, units, stats FROM weather.forecast_runs
      WHERE ($1::text IS NULL OR location = $1) ORDER BY fetched_at DESC, id DESC LIMIT 1`,
    [location ?? null],
  );
  const r = run.rows[0];
  if (!r) return null;
  const vals = await pool.query<{ valid_time: Date; variable: string; value: number | null }>(
    `SELECT valid_time, variable, value FROM weather.forecast_hourly WHERE location = $1 AND run_id = $2 ORDER BY valid_time, variable`,
    [r.location, r.id],
  );
  const hours = new Map<string, Record<string, number | null>>();
  for (const v of vals.rows) {
    const t = v.valid_time.toISOString();
    const h = hours.get(t) ?? {};
    h[v.variable] = v.value;
    hours.set(t, h);
  }
  return {
    location: r.location,
    runId: Number(r.id),
    fetchedAt: r.fetched_at.toISOString(),
    url: r.url,
    latitude: r.latitude,
    longitude: r.longitude,
    units: r.units,
    variables: Object.keys(r.units),
    hours: [...hours].map(([time, values]) => ({ time, values })),
    stats: r.stats,
  };
}

async function devices(pool: Pool, sources?: string[]): Promise<DeviceView[]> {
  const r = await pool.query<{
    source: string;
    device_id: string;
    kind: string;
    status: string;
    last_seen: Date | null;
    last_event_time: Date | null;
    latest: Record<string, unknown> | null;
    open_alerts: number;
    workflow_id: string;
  }>(
    `SELECT source, device_id, kind, status, last_seen, last_event_time, latest, open_alerts, workflow_id FROM fleet.devices
      WHERE ($1::text[] IS NULL OR source = ANY($1::text[])) ORDER BY source, device_id LIMIT 500`,
    [sources ?? null],
  );
  return r.rows.map((d) => ({
    source: d.source,
    deviceId: d.device_id,
    kind: d.kind,
    status: d.status,
    lastSeen: d.last_seen?.toISOString() ?? null,
    lastEventTime: d.last_event_time?.toISOString() ?? null,
    latest: d.latest,
    openAlerts: d.open_alerts,
    workflowId: d.workflow_id,
  }));
}

async function predictions(pool: Pool, sources?: string[]): Promise<PredictionView[]> {
  const r = await pool.query<{
    source: string;
    device_id: string;
    window_start: Date;
    occupied: boolean;
    probability: number;
    model_version: string;
  }>(
    `SELECT DISTINCT ON (source, device_id) source, device_id, window_start, occupied, probability, model_version
       FROM ml.occupancy_predictions WHERE ($1::text[] IS NULL OR source = ANY($1::text[]))
      ORDER BY source, device_id, window_start DESC, predicted_at DESC LIMIT 200`,
    [sources ?? null],
  );
  return r.rows.map((p) => ({
    source: p.source,
    deviceId: p.device_id,
    windowStart: p.window_start.toISOString(),
    occupied: p.occupied,
    probability: p.probability,
    modelVersion: p.model_version,
  }));
}

/** Longest wait for one stream's `status` query, ms (a stream without a live worker never answers). */
export const STREAM_QUERY_TIMEOUT_MS = 1500;

/**
 * Lists running ingest workflows and reads each one's live status (`status` query plus the running
 * consumers' heartbeat counters), in parallel, each within {@link STREAM_QUERY_TIMEOUT_MS}.
 */
export async function streams(client: Client, query = STREAMS_QUERY, signal?: AbortSignal): Promise<StreamView[]> {
  const found: StreamView[] = [];
  try {
    await client.withAbortSignal(signal ?? new AbortController().signal, async () => {
      for await (const w of client.workflow.list({ query, pageSize: 50 })) {
        if (found.length >= 50) break;
        found.push({ workflowId: w.workflowId, type: w.type });
      }
    });
  } catch (e) {
    return [{ workflowId: '(visibility)', type: '', error: (e as Error).message }];
  }
  await Promise.all(
    found.map(async (v) => {
      // The call itself is cancelled at the timeout (or when `signal` aborts): a query a worker does
      // not answer is not left retrying in the background, where it would outlive the connection.
      const timeout = AbortSignal.timeout(STREAM_QUERY_TIMEOUT_MS);
      try {
        v.status = await client.withAbortSignal(signal ? AbortSignal.any([timeout, signal]) : timeout, () =>
          streamStatus(client, v.workflowId),
        );
      } catch (e) {
        v.error = timeout.aborted ? `no answer within ${STREAM_QUERY_TIMEOUT_MS} ms (is a worker running?)` : (e as Error).message;
      }
    }),
  );
  return found.sort((a, b) => a.workflowId.localeCompare(b.workflowId));
}

/** Reads the database part of a snapshot. */
export async function readSnapshot(pool: Pool, scope: SnapshotScope = {}): Promise<Omit<Snapshot, 'streams'>> {
  const [f, d, a, p] = await Promise.all([
    forecast(pool, scope.forecastLocation),
    devices(pool, scope.sources),
    listAlerts(pool, { sources: scope.sources, limit: 200 }),
    predictions(pool, scope.sources),
  ]);
  return { forecast: f, devices: d, alerts: a, predictions: p };
}
