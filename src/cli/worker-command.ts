/** `worker`: run every workflow and activity on the task queue until Ctrl-C. */
import type { Command } from 'commander';
import { loadSettings } from '../config/env';
import { describeTemporalConnection } from '../config/temporal-connection';
import { installRuntime } from './runtime';
import { untilSignal } from './signals';

/** Longest a stopping worker may take before it exits 1: the 30 s shutdown force time plus 10 s to close its connections, ms. */
export const WORKER_STOP_BOUND_MS = 40_000;

/** Registers `worker`. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run the worker (all workflows and activities) until Ctrl-C.')
    .action(async () => {
      await installRuntime();
      const { startWorker } = await import('../workers/worker');
      const settings = loadSettings();
      const w = await startWorker(settings);
      console.log(`Worker polling task queue ${settings.taskQueue} on ${describeTemporalConnection(settings)}.`);
      const d = settings.workerDeployment;
      if (d) console.log(`Worker Deployment Version ${d.deploymentName}.${d.buildId} (tasks come once it is current or ramping).`);
      if (w.opsUrl) console.log(`Metrics at ${w.opsUrl}/metrics, health at ${w.opsUrl}/healthz and ${w.opsUrl}/readyz.`);
      const signal = await Promise.race([untilSignal(), w.done.then(() => undefined)]);
      if (signal) console.log(`${signal}: stopping the worker (polling stopped; in-flight activities finish or commit and return)…`);
      const t0 = Date.now();
      // In-flight activities get WORKER_SHUTDOWN_FORCE_TIME, then are cancelled; one that ignores its
      // cancellation (a client stuck on a dead broker) must not keep the process: exit 1 after the bound.
      const bound = setTimeout(() => {
        console.error(`Worker did not stop within ${WORKER_STOP_BOUND_MS / 1000} s of ${signal ?? 'its end'}; exiting 1.`);
        process.exit(1);
      }, WORKER_STOP_BOUND_MS);
      bound.unref();
      await w.shutdown();
      clearTimeout(bound);
      if (signal) console.log(`Worker stopped in ${Date.now() - t0} ms.`);
    });
}
