/**
 * `schedules apply|list|describe`: syncs `schedules/*.yaml` to Temporal Schedules (plan first, then apply) and
 * shows their server state. Command registration: src/cli/schedule-commands.ts.
 */
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ROOT_DIR } from '../config/env';
import { applyPlan, diffSchedule, formatPlan, planSchedules, type ApplyResult } from '../schedules/apply';
import { formatDuration, loadScheduleFiles } from '../schedules/schema';
import { isManaged, toDesiredSchedule } from '../schedules/to-temporal';

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
    throw new Error(
      `Schedule id(s) ${result.conflicts.join(', ')} exist on the server and are not managed by iot-pipelines; rename them in schedules/.`,
    );
  }
  return result;
}

/** One line of `schedules list`. */
export interface ScheduleListing {
  id: string;
  managed: boolean;
  workflow: string;
  paused: boolean;
  note: string;
  spec: string;
  nextActionTimes: string[];
  file?: string;
}

/**
 * Every schedule in the namespace (visibility store: a schedule created a moment ago may be missing), with
 * whether this project manages it.
 * @param prefix only ids starting with it. @default ''
 */
export async function listSchedules(client: Client, prefix = ''): Promise<ScheduleListing[]> {
  const out: ScheduleListing[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(prefix)) continue;
    const file = s.memo?.scheduleFile;
    out.push({
      id: s.scheduleId,
      managed: isManaged(s.memo),
      workflow: s.action?.type === 'startWorkflow' ? s.action.workflowType : '?',
      paused: s.state.paused,
      note: s.state.note ?? '',
      spec: s.spec?.intervals?.length
        ? s.spec.intervals.map((i) => `every ${formatDuration(i.every)}${i.offset ? ` offset ${formatDuration(i.offset)}` : ''}`).join('; ')
        : `${s.spec?.calendars?.length ?? 0} calendar(s)`,
      nextActionTimes: s.info.nextActionTimes.map((t) => t.toISOString()),
      ...(typeof file === 'string' ? { file } : {}),
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Readable table of {@link listSchedules}. */
export function formatScheduleList(rows: readonly ScheduleListing[]): string {
  if (rows.length === 0) return 'No schedules.';
  return rows
    .map(
      (r) =>
        `${r.managed ? '*' : ' '} ${r.id.padEnd(28)} ${r.workflow.padEnd(18)} ${(r.paused ? 'paused' : 'active').padEnd(7)} ${r.spec.padEnd(20)} next ${
          r.nextActionTimes[0] ?? '-'
        }${r.note ? `  (${r.note})` : ''}`,
    )
    .concat('* managed by iot-pipelines (schedules/*.yaml)')
    .join('\n');
}

/**
 * `schedules describe`: the server state of one schedule, and for a managed one whether it matches its file.
 * @throws ScheduleNotFoundError when the id does not exist.
 */
export async function describeSchedule(client: Client, id: string, dir: string = SCHEDULES_DIR): Promise<string> {
  const d = await client.schedule.getHandle(id).describe();
  const lines = [
    `Schedule ${id}${isManaged(d.memo) ? ` (managed, file ${typeof d.memo?.scheduleFile === 'string' ? d.memo.scheduleFile : '?'})` : ' (not managed by iot-pipelines)'}`,
    `  workflow      ${d.action.type === 'startWorkflow' ? `${d.action.workflowType} on ${String(d.action.taskQueue)}` : d.action.type}`,
    `  spec          ${typeof d.action.memo?.scheduleSpec === 'string' ? d.action.memo.scheduleSpec : JSON.stringify(d.spec)}  tz ${d.spec.timezone ?? 'UTC'}`,
    `  start / end   ${d.spec.startAt?.toISOString() ?? 'none'} / ${d.spec.endAt?.toISOString() ?? 'none'} (fire times)`,
    `  policies      overlap ${d.policies.overlap}, catchup window ${formatDuration(d.policies.catchupWindow)}, pause on failure ${d.policies.pauseOnFailure}`,
    `  state         ${d.state.paused ? 'paused' : 'active'}${d.state.note ? ` — ${d.state.note}` : ''}`,
    `  actions       ${d.info.numActionsTaken} taken, ${d.info.numActionsSkippedOverlap} skipped (overlap), ${d.info.numActionsMissedCatchupWindow} missed (catchup window), ${d.info.runningActions.length} running`,
    `  next          ${
      d.info.nextActionTimes
        .slice(0, 5)
        .map((t) => t.toISOString())
        .join(', ') || 'none'
    }`,
  ];
  for (const a of d.info.recentActions.slice(-5)) {
    lines.push(`  recent        ${a.scheduledAt.toISOString()} → ${a.action.workflow.workflowId}`);
  }
  if (isManaged(d.memo)) {
    try {
      const files = loadScheduleFiles(dir).filter((f) => f.config.id === id);
      if (files.length === 0) lines.push('  file          gone (delete with `schedules apply --prune`)');
      else {
        const changes = diffSchedule(toDesiredSchedule(files[0]!), d);
        lines.push(
          changes.length === 0
            ? '  file          in sync'
            : `  file          differs: ${changes.map((c) => c.field).join(', ')} (run \`schedules apply\`)`,
        );
      }
    } catch (e) {
      lines.push(`  file          cannot be checked: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return lines.join('\n');
}
