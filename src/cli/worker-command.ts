/** `worker`: run every workflow and activity on the task queue until Ctrl-C. */
import type { Command } from 'commander';
import { loadSettings } from '../config/env';
import { describeTemporalConnection } from '../config/temporal-connection';
import { installRuntime } from './runtime';
import { untilSignal } from './signals';

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
      await w.shutdown();
      if (signal) console.log(`Worker stopped in ${Date.now() - t0} ms.`);
    });
}
