/** `start`: the main job (what `npm start` runs). */
import type { Command } from 'commander';
import { installRuntime } from './runtime';
import { untilSignal } from './signals';

/** The main job's operations endpoint (`/metrics`, `/healthz`, `/readyz`); 9464 is the port Prometheus lists for OpenTelemetry-style exporters. */
export const DEFAULT_METRICS_PORT = 9464;

/** Registers `start`. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('The main job: stack, worker, ingest streams, schedules, real data replay, both pipelines; runs until Ctrl-C.')
    .action(async () => {
      // The main job serves Prometheus metrics and health checks unless told otherwise (METRICS_PORT=0: none).
      if (process.env.METRICS_PORT === undefined) process.env.METRICS_PORT = String(DEFAULT_METRICS_PORT);
      else if (process.env.METRICS_PORT === '0') delete process.env.METRICS_PORT;
      await installRuntime();
      const { runMainJob } = await import('./start');
      await runMainJob(untilSignal);
    });
}
