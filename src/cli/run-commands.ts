/** `run <pipeline>` and `status`. */
import type { Command } from 'commander';
import { loadSettings } from '../config/env';
import { withClient } from './client';
import { parseArgs, PIPELINES, runPipeline } from './run';
import { showStatus } from './status';

/** Registers `run` and `status`. */
export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description(`Run a pipeline by name and wait for its result: ${Object.keys(PIPELINES).join(', ')}.`)
    .argument(
      '<pipeline>',
      Object.entries(PIPELINES)
        .map(([k, v]) => `${k}: ${v.description}`)
        .join('; '),
    )
    .argument('[args...]', 'workflow input as key=value pairs (values parsed as JSON when possible)')
    .action(async (pipeline: string, args: string[]) => {
      const settings = loadSettings();
      const input = parseArgs(args);
      console.log(`Starting ${pipeline} on task queue ${settings.taskQueue}…`);
      const r = await withClient(settings, (c) => runPipeline(c, settings, pipeline, input));
      console.log(`${r.workflowId} completed:`);
      console.log(JSON.stringify(r.result, null, 2));
    });

  program
    .command('status')
    .description('Recent pipeline runs, ingest streams and schedules.')
    .action(async () => {
      const settings = loadSettings();
      await withClient(settings, (c) => showStatus(c, settings));
    });
}
