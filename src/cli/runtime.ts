/** The Temporal SDK runtime of the commands that run a worker. */
import type { LogLevel } from '@temporalio/worker';

/**
 * Installs the SDK runtime with worker and SDK logs at WARN and above (`LOG_LEVEL` overrides), one line
 * each (`src/observability/log-format.ts`), and,
 * when the process has an operations endpoint (`METRICS_PORT`), the SDK's Prometheus exporter on
 * 127.0.0.1:`TEMPORAL_METRICS_PORT` (default `METRICS_PORT` + 1), which `/metrics` includes.
 */
export async function installRuntime(): Promise<void> {
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  const { loadSettings } = await import('../config/env');
  const { formatLogEntry, stacksAt } = await import('../observability/log-format');
  const port = loadSettings().temporalMetricsPort;
  const level = ((process.env.LOG_LEVEL || undefined) as LogLevel | undefined) ?? 'WARN';
  const withStacks = stacksAt(level);
  Runtime.install({
    // One line per entry (a failed activity attempt: type, attempt, workflow, error and causes); stacks at DEBUG.
    logger: new DefaultLogger(level, (entry) => process.stderr.write(`${formatLogEntry(entry, withStacks)}\n`)),
    ...(port ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } } : {}),
  });
}
