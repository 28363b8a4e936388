/** `schedules apply`: syncs `schedules/*.yaml` to Temporal Schedules (plan first, then apply). */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ROOT_DIR } from '../config/env';
import { applyPlan, formatPlan, planSchedules, type ApplyResult } from '../schedules/apply';
import { loadScheduleFiles } from '../schedules/schema';

/** Folder of schedule files. */
export const SCHEDULES_DIR = path.join(ROOT_DIR, 'schedules');

/** Options of {@link applySchedules}. */
export interface ApplySchedulesOptions {
  dir?: string;
  dryRun?: boolean;
  prune?: boolean;
  log?: (line: string) => void;
}

/**
 * Loads and validates the files, prints the plan, and applies it unless `dryRun`.
 * @throws ScheduleValidationError listing every problem (file, field, reason) before anything is changed.
 * @throws Error when a schedule id is taken by a schedule this project does not manage.
 */
export async function applySchedules(client: Client, o: ApplySchedulesOptions = {}): Promise<ApplyResult | undefined> {
  const log = o.log ?? console.log;
  const files = loadScheduleFiles(o.dir ?? SCHEDULES_DIR);
  const plan = await planSchedules(client, files);
  log(formatPlan(plan, o.prune));
  if (o.dryRun) return undefined;
  const result = await applyPlan(client, plan, { prune: o.prune });
  if (result.conflicts.length) {
    throw new Error(`Schedule id(s) ${result.conflicts.join(', ')} exist on the server and are not managed by iot-pipelines; rename them in schedules/.`);
  }
  return result;
}
