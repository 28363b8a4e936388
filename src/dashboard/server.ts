/**
 * The dashboard server (node:http, no framework): `GET /` the page, `GET /events` server-sent events
 * (a `snapshot` event with the full state on connect and after every change), `GET /api/snapshot`,
 * `POST /api/alerts/<id>/ack` (body `{"by": "…"}`) → the device workflow's `acknowledgeAlert` update.
 *
 * Changes are pushed, not polled: the server LISTENs on PostgreSQL channel `iot_dashboard` (triggers of
 * migration 040 on devices, alerts, forecasts and predictions) and re-reads the snapshot when told.
 * Stream status comes from Temporal queries, re-read every `refreshMs`, and with it the ingest rates
 * of the Prometheus counters when the worker runs in this process (`ingestRates`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Pool, PoolClient } from '../db/pool';
import { deviceWorkflowId } from '../devices/state';
import { expectedIntervalMs, loadQualityRules } from '../quality/rules';
import { getAlert, toRef } from '../quality/alerts';
import { TASK_QUEUE } from '../config/names';
import { readSnapshot, streams, type Snapshot, type SnapshotScope, type StreamView } from './data';
import { DASHBOARD_HTML } from './page';
import type { IngestRate, IngestRates } from '../observability/rates';

/** PostgreSQL NOTIFY channel of the change feed. */
export const DASHBOARD_CHANNEL = 'iot_dashboard';

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends SnapshotScope {
  pool: Pool;
  client: Client;
  /** @default 8090 (0 = any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Task queue of device workflows started by an acknowledge. @default TASK_QUEUE */
  taskQueue?: string;
  /** How often stream status is re-read, ms. @default 5000 */
  refreshMs?: number;
  /**
   * Ingest rates from this process's Prometheus counters (`src/observability/rates.ts`), sampled at
   * every stream refresh; given where the worker runs in the same process (`npm start`).
   */
  ingestRates?: IngestRates;
}

/** A running dashboard. */
export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/** Default port. */
export const DEFAULT_DASHBOARD_PORT = 8090;

/** Acknowledges alert `id` through its device workflow (started if needed). @returns HTTP status and body. */
export async function acknowledgeThroughWorkflow(
  pool: Pool,
  client: Client,
  taskQueue: string,
  id: number,
  by: string,
): Promise<{ status: number; body: unknown }> {
  const a = await getAlert(pool, id);
  if (!a) return { status: 404, body: { error: `no alert ${id}` } };
  const kind = a.rule.startsWith('gps_') ? 'gps' : 'sensor';
  const workflowId = deviceWorkflowId(a.source, a.deviceId);
  // Make sure the device workflow exists and knows the alert (signal-with-start), then update.
  await client.workflow.signalWithStart('deviceEntity', {
    workflowId,
    taskQueue,
    args: [{ source: a.source, deviceId: a.deviceId, kind, expectedIntervalMs: expectedIntervalMs(loadQualityRules(), a.source, kind) }],
    signal: 'reportAlerts',
    signalArgs: [[toRef(a)]],
  });
  try {
    const view = await client.workflow.getHandle(workflowId).executeUpdate('acknowledgeAlert', { args: [{ alertId: id, by }] });
    return { status: 200, body: view };
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) return { status: 409, body: { error: e.cause?.message ?? e.message } };
    throw e;
  }
}

/**
 * Starts the dashboard.
 * @throws when the port is taken or PostgreSQL cannot be reached.
 */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const taskQueue = o.taskQueue ?? TASK_QUEUE;
  const clients = new Set<http.ServerResponse>();
  let last = '';
  let lastStreams: StreamView[] = [];
  let refreshing: Promise<void> | undefined;
  let again = false;
  let closed = false;

  let lastIngest: IngestRate[] = [];
  const build = async (): Promise<Snapshot> => ({ ...(await readSnapshot(o.pool, o)), streams: lastStreams, ingest: lastIngest });
  const broadcast = (json: string) => {
    for (const res of clients) res.write(`event: snapshot\ndata: ${json}\n\n`);
  };
  const refresh = (): Promise<void> => {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        try {
          const json = JSON.stringify(await build());
          if (json !== last) {
            last = json;
            broadcast(json);
          }
        } catch (e) {
          if (!closed) console.warn(`dashboard: refresh failed: ${(e as Error).message}`);
        }
      } while (again && !closed);
    })().finally(() => (refreshing = undefined));
    return refreshing;
  };

  // Change feed.
  let listener: PoolClient | undefined = await o.pool.connect();
  await listener.query(`LISTEN ${DASHBOARD_CHANNEL}`);
  listener.on('notification', () => void refresh());
  // Aborted on close: no query of the dashboard outlives it (or the client's connection).
  const queries = new AbortController();
  let streamsRound: Promise<StreamView[]> | undefined;
  const refreshStreams = async () => {
    // One round of queries at a time: a slow stream must not pile queries up on the server.
    if (streamsRound || queries.signal.aborted) return;
    streamsRound = streams(o.client, o.streamsQuery, queries.signal);
    try {
      lastStreams = await streamsRound;
      if (o.ingestRates) lastIngest = await o.ingestRates.sample();
    } finally {
      streamsRound = undefined;
    }
    if (!queries.signal.aborted) await refresh();
  };
  await refresh();
  void refreshStreams().catch(() => undefined);
  const timer = setInterval(() => void refreshStreams().catch(() => undefined), o.refreshMs ?? 5000);
  const keepAlive = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
  }, 15_000);

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(DASHBOARD_HTML);
      } else if (req.method === 'GET' && url.pathname === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        res.write('retry: 2000\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        if (!last) await refresh();
        res.write(`event: snapshot\ndata: ${last}\n\n`);
      } else if (req.method === 'GET' && url.pathname === '/api/snapshot') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(await build()));
      } else if (req.method === 'POST' && /^\/api\/alerts\/\d+\/ack$/.test(url.pathname)) {
        const id = Number(url.pathname.split('/')[3]);
        let body = '';
        for await (const chunk of req) body += String(chunk);
        let by = 'dashboard';
        try {
          const parsed = body ? (JSON.parse(body) as { by?: unknown }) : {};
          if (typeof parsed.by === 'string' && parsed.by.trim()) by = parsed.by.trim().slice(0, 100);
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'body is not JSON' }));
          return;
        }
        const r = await acknowledgeThroughWorkflow(o.pool, o.client, taskQueue, id, by);
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (e as Error).message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? DEFAULT_DASHBOARD_PORT, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    async close() {
      closed = true;
      clearInterval(timer);
      clearInterval(keepAlive);
      queries.abort();
      // Settles once its calls are cancelled (a retry the SDK had scheduled is then started cancelled).
      await streamsRound?.catch(() => undefined);
      for (const res of clients) res.end();
      clients.clear();
      const stopped = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await stopped;
      if (listener) {
        await listener.query(`UNLISTEN ${DASHBOARD_CHANNEL}`).catch(() => undefined);
        listener.release();
        listener = undefined;
      }
      await refreshing;
    },
  };
}
