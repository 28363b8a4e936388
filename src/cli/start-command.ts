/** `start`: the main job (what `npm start` runs). */
import type { Command } from 'commander';
import { installRuntime } from './runtime';
import { untilSignal } from './signals';

/** Registers `start`. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('The main job: stack, worker, ingest streams, schedules, real data replay, both pipelines; runs until Ctrl-C.')
    .action(async () => {
      await installRuntime();
      const { runMainJob } = await import('./start');
      await runMainJob(untilSignal);
    });
}
