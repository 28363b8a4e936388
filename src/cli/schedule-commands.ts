/**
 * `iot-pipelines schedules apply|backfill|trigger|pause|unpause|list|describe`: Temporal Schedules from
 * `schedules/*.yaml`, and their day-to-day operation (Airflow: `dags backfill`, `dags trigger`,
 * `dags pause`/`unpause`, `dags list`, `dags details`). The same schedules can be driven with
 * `temporal schedule …` and the Temporal UI.
 */
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { ScheduleOverlapPolicy } from '@temporalio/client';
import { loadSettings } from '../config/env';
import { backfillSchedule, DEFAULT_BACKFILL_CONCURRENCY } from '../schedules/backfill';
import { OVERLAP_POLICIES, type OverlapPolicy } from '../schedules/schema';
import { withClient } from './client';
import { applySchedules, describeSchedule, formatScheduleList, listSchedules, SCHEDULES_DIR } from './schedules';
import { positiveInt } from './args';

function overlapOption(v: string): OverlapPolicy {
  const p = v.toLowerCase().replace(/-/g, '_') as OverlapPolicy;
  if (!OVERLAP_POLICIES.includes(p))
    throw new InvalidArgumentError(`overlap must be one of ${OVERLAP_POLICIES.join(', ')}, got ${JSON.stringify(v)}.`);
  return p;
}

/** Adds the `schedules` command group to `program`. */
export function registerScheduleCommands(program: Command): void {
  const schedules = program.command('schedules').description('Temporal Schedules from schedules/*.yaml (Airflow DAG schedules).');

  schedules
    .command('apply')
    .description('Create missing and update changed schedules; prints the plan first. `paused`/`note` apply at creation only.')
    .option('--dry-run', 'print the plan only', false)
    .option('--prune', 'also delete managed schedules that are no longer in the files', false)
    .option('--dir <folder>', 'folder of schedule files', SCHEDULES_DIR)
    .action(async (o: { dryRun: boolean; prune: boolean; dir: string }) => {
      const r = await withClient(loadSettings(), (c) => applySchedules(c, { ...o, dir: path.resolve(o.dir) }));
      if (r)
        console.log(
          `Applied: ${r.created.length} created, ${r.updated.length} updated, ${r.deleted.length} deleted, ${r.unchanged.length} unchanged.`,
        );
    });

  schedules
    .command('backfill')
    .description('One run per data interval in [--from, --to) (Airflow `dags backfill -s -e`), in waves of --concurrency runs.')
    .argument('<id>', 'schedule id')
    .requiredOption('--from <date>', 'start of the first interval, e.g. 2023-01-01 or 2023-01-01T06:00:00Z')
    .requiredOption('--to <date>', 'end of the last interval (exclusive), e.g. 2023-01-31')
    .option('--overlap <policy>', `${OVERLAP_POLICIES.join(' | ')}`, overlapOption, 'allow_all' as OverlapPolicy)
    .option('--concurrency <n>', 'runs at once (incremental schedules: 1)', positiveInt('--concurrency'), DEFAULT_BACKFILL_CONCURRENCY)
    .option('--dry-run', 'print the runs only', false)
    .action(async (id: string, o: { from: string; to: string; overlap: OverlapPolicy; concurrency: number; dryRun: boolean }) => {
      const r = await withClient(loadSettings(), (c) => backfillSchedule(c, id, { ...o, log: (l) => console.log(l) }));
      if (o.dryRun) for (const run of r.runs) console.log(`  ${run.dataIntervalStart} → ${run.dataIntervalEnd}  ${run.workflowId}`);
      const failed = r.runs.filter((run) => run.status !== 'completed' && run.status !== 'planned');
      console.log(`${r.runs.length - failed.length}/${r.runs.length} run(s) ${o.dryRun ? 'planned' : 'completed'}.`);
      if (failed.length > 0) process.exitCode = 1;
    });

  schedules
    .command('trigger')
    .description('Start a run now (Airflow `dags trigger`); it processes the latest complete interval.')
    .argument('<id>', 'schedule id')
    .option('--overlap <policy>', 'overlap policy of this run', overlapOption)
    .action(async (id: string, o: { overlap?: OverlapPolicy }) => {
      await withClient(loadSettings(), (c) =>
        c.schedule.getHandle(id).trigger(o.overlap ? (o.overlap.toUpperCase() as Exclude<ScheduleOverlapPolicy, undefined>) : undefined),
      );
      console.log(`Triggered ${id}.`);
    });

  for (const action of ['pause', 'unpause'] as const) {
    schedules
      .command(action)
      .description(`${action === 'pause' ? 'Pause' : 'Unpause'} a schedule with a note (kept by later applies).`)
      .argument('<id>', 'schedule id')
      .option('--note <text>', 'why; shown in the UI and `temporal schedule describe`')
      .action(async (id: string, o: { note?: string }) => {
        await withClient(loadSettings(), (c) =>
          action === 'pause' ? c.schedule.getHandle(id).pause(o.note) : c.schedule.getHandle(id).unpause(o.note),
        );
        console.log(`${action === 'pause' ? 'Paused' : 'Unpaused'} ${id}.`);
      });
  }

  schedules
    .command('list')
    .description('Every schedule of the namespace; * marks the ones managed from schedules/.')
    .option('--prefix <text>', 'only ids starting with it', '')
    .action(async (o: { prefix: string }) => {
      console.log(formatScheduleList(await withClient(loadSettings(), (c) => listSchedules(c, o.prefix))));
    });

  schedules
    .command('describe')
    .description('Server state of one schedule, and whether it matches its file.')
    .argument('<id>', 'schedule id')
    .action(async (id: string) => {
      console.log(await withClient(loadSettings(), (c) => describeSchedule(c, id)));
    });
}
