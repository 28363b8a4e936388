/** The Temporal SDK runtime of the commands that run a worker. */
import type { LogLevel } from '@temporalio/worker';

/** Installs the SDK runtime with worker and SDK logs at WARN and above (`LOG_LEVEL` overrides). */
export async function installRuntime(): Promise<void> {
  const { DefaultLogger, Runtime } = await import('@temporalio/worker');
  Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'WARN') });
}
