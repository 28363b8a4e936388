/** The Temporal SDK runtime of the commands that run a worker. */
import type { LogLevel } from '@temporalio/worker';

/**
 * Installs the SDK runtime with worker and SDK logs at WARN and above (`LOG_LEVEL` overrides), and,
 * when the process has an operations endpoint (`METRICS_PORT`), the SDK's Prometheus exporter on
 * 127.0.0.1:`TEMPORAL_METRICS_PORT` (default `METRICS_PORT` + 1), which `/metrics` includes.
 */
export async function installRuntime(): Promise<void> {
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  const { loadSettings } = await import('../config/env');
  const port = loadSettings().temporalMetricsPort;
  Runtime.install({
    logger: new DefaultLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'WARN'),
    ...(port ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } } : {}),
  });
}
