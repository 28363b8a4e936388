/**
 * `iot-pipelines` command line: stack, worker, pipelines, simulator, schedules, streams, dead letters, status.
 * Every command reads its addresses from the environment (see src/config/env.ts). Only the module of
 * the command being run is loaded (`commands.ts`); `--help` loads none.
 */
import { Command } from 'commander';
import { COMMANDS } from './commands';

const program = new Command();
program.name('iot-pipelines').description('Durable IoT and data pipelines on Temporal.').showHelpAfterError();

const name = process.argv.slice(2).find((a) => !a.startsWith('-'));
const entry = name === undefined ? undefined : COMMANDS[name];
if (entry) {
  (await entry.load())(program);
} else {
  // Help, or an unknown command (commander suggests the nearest name): list them all, load none.
  for (const [command, { summary }] of Object.entries(COMMANDS)) program.command(command).description(summary);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const { describeError } = await import('./failure');
  console.error(describeError(e));
  process.exit(1);
}
