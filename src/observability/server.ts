/**
 * The operations endpoint of a process (`METRICS_PORT`, bound to `METRICS_HOST`, 127.0.0.1 by default):
 *
 * - `GET /metrics`: Prometheus text exposition (format 0.0.4) of the application's metrics
 *   (`metrics.ts`) followed by the Temporal SDK's runtime metrics (`temporal_*`), which the SDK serves
 *   on its own address (`TEMPORAL_METRICS_PORT`, loopback) and this endpoint fetches per scrape, so
 *   Prometheus scrapes one port;
 * - `GET /healthz`: 200 while the process is alive (its event loop answers);
 * - `GET /readyz`: 200 when every dependency answers (Temporal, PostgreSQL, and the MQTT broker and
 *   Kafka brokers that a running stream uses), else 503 naming each failing dependency and why, as
 *   JSON `{ "status": "ready" | "not ready", "checks": { "<name>": "ok" | "<error>" } }`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics';
import { dependencyChecks, type DependencyCheck } from './dependencies';

/** How long one readiness check may take before it counts as failed, ms. @default 2000 */
export const READINESS_TIMEOUT_MS = 2_000;

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  port: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** The checks of this process's fixed dependencies (Temporal, PostgreSQL); brokers in use are added while streams run. */
  checks: DependencyCheck[];
  /** Where the Temporal SDK serves its runtime metrics, if it does (`http://127.0.0.1:<port>/metrics`). */
  temporalMetricsUrl?: string;
}

/** A running operations endpoint. */
export interface OpsServer {
  /** `http://<host>:<port>` */
  url: string;
  close(): Promise<void>;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms))),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Runs every check; `failing` names those that threw, with their message. */
export async function readiness(checks: DependencyCheck[]): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        await withTimeout(c.check(), READINESS_TIMEOUT_MS, c.name);
        return [c.name, 'ok'] as const;
      } catch (e) {
        return [c.name, (e as Error).message || String(e)] as const;
      }
    }),
  );
  return { ready: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
}

async function temporalMetrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    const res = await withTimeout(fetch(url), READINESS_TIMEOUT_MS, url);
    return res.ok ? await res.text() : `# Temporal SDK metrics unavailable: HTTP ${res.status} from ${url}\n`;
  } catch (e) {
    return `# Temporal SDK metrics unavailable: ${(e as Error).message}\n`;
  }
}

/**
 * Starts the endpoint. @throws Error naming the address when the port is taken
 */
export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const host = o.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'GET only\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') {
      readiness([...o.checks, ...dependencyChecks()])
        .then((r) =>
          send(
            r.ready ? 200 : 503,
            'application/json',
            `${JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks })}\n`,
          ),
        )
        .catch((e: unknown) => send(500, 'text/plain', `${(e as Error).message}\n`));
      return;
    }
    if (path === '/metrics') {
      Promise.all([registry.metrics(), temporalMetrics(o.temporalMetricsUrl)])
        .then(([ours, temporal]) => send(200, registry.contentType, ours + (ours.endsWith('\n') ? '' : '\n') + temporal))
        .catch((e: unknown) => send(500, 'text/plain', `${(e as Error).message}\n`));
      return;
    }
    send(404, 'text/plain', 'GET /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new Error(`cannot serve metrics on ${host}:${o.port}: ${e.message}; set METRICS_PORT to a free port`)),
    );
    server.listen(o.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
