/**
 * Plan / apply of schedule files to Temporal Schedules, like `terraform plan/apply`.
 *
 * - Files → desired state (to-temporal.ts); each id is described on the server (strongly consistent).
 * - A described schedule without this project's `managedBy` memo is someone else's: the plan reports a
 *   `conflict` and apply never touches it.
 * - Desired vs described are compared in normalized form field by field (detects drift made in the UI/CLI)
 *   and by the hash stored in the action memo (covers cron/calendar text, which the server compiles).
 * - `paused` and `note` are applied at creation only (Airflow's `is_paused_upon_creation`); afterwards the
 *   live state belongs to `schedules pause|unpause`, the UI or the temporal CLI, and apply keeps it.
 * - Delete candidates (managed, no longer in the files) come from `list()`, which reads the visibility
 *   store: eventually consistent, a schedule created a moment ago may be missing for ~1 s. Each candidate
 *   is described again before deletion and must still carry the mark. `idPrefix` restricts candidates.
 */
import { ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { LoadedSchedule } from './schema';
import {
  COMPARABLE_FIELDS,
  comparableFromDescription,
  isManaged,
  MANAGED_BY,
  toDesiredSchedule,
  type ComparableField,
  type DesiredSchedule,
} from './to-temporal';

/** One changed field: `field: from → to`. */
export interface FieldChange {
  field: ComparableField | 'hash';
  from: string;
  to: string;
}

/** What apply will do (or did not need to do) for one schedule. */
export type PlanItem =
  | { action: 'create'; id: string; file: string; desired: DesiredSchedule }
  | { action: 'update'; id: string; file: string; desired: DesiredSchedule; changes: FieldChange[] }
  | { action: 'unchanged'; id: string; file: string }
  | { action: 'delete-candidate'; id: string; file: string | undefined }
  | { action: 'conflict'; id: string; file: string; reason: string };

/** Result of {@link planSchedules}, items sorted by id. */
export interface Plan {
  items: PlanItem[];
}

/** Options of {@link planSchedules}. */
export interface PlanOptions {
  /** Only managed schedules whose id starts with this prefix can become delete candidates. @default '' (all) */
  idPrefix?: string;
}

/** Options of {@link applyPlan}. */
export interface ApplyOptions {
  /** Delete the `delete-candidate` schedules. @default false (they are only reported) */
  prune?: boolean;
}

/** What {@link applyPlan} did, by schedule id. */
export interface ApplyResult {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
  /** Delete candidates kept because `prune` was off, or because they lost the managed mark meanwhile. */
  kept: string[];
  /** Ids that exist on the server but are not managed by this project: never touched. */
  conflicts: string[];
}

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Field-by-field differences between the described and desired state, plus the hash if it alone differs. */
export function diffSchedule(desired: DesiredSchedule, described: ScheduleDescription): FieldChange[] {
  const { comparable, hash } = comparableFromDescription(described);
  const changes: FieldChange[] = [];
  for (const field of COMPARABLE_FIELDS) {
    if (comparable[field] !== desired.comparable[field]) changes.push({ field, from: comparable[field], to: desired.comparable[field] });
  }
  if (changes.length === 0 && hash !== desired.hash) changes.push({ field: 'hash', from: hash ?? 'none', to: desired.hash });
  return changes;
}

/**
 * Computes the plan for `files` against the server.
 * @param files validated files (see `loadScheduleFiles`).
 * @throws errors of the Temporal client other than "not found" (connection, permissions).
 */
export async function planSchedules(client: Client, files: readonly LoadedSchedule[], options: PlanOptions = {}): Promise<Plan> {
  const prefix = options.idPrefix ?? '';
  const items: PlanItem[] = [];
  const wanted = new Set<string>();
  for (const loaded of files) {
    const desired = toDesiredSchedule(loaded);
    wanted.add(desired.id);
    const described = await describeOrUndefined(client, desired.id);
    if (!described) {
      items.push({ action: 'create', id: desired.id, file: desired.file, desired });
    } else if (!isManaged(described.memo)) {
      items.push({
        action: 'conflict',
        id: desired.id,
        file: desired.file,
        reason: `a schedule with this id exists and is not managed by ${MANAGED_BY} (no memo managedBy); rename the file's id or delete that schedule yourself`,
      });
    } else {
      const changes = diffSchedule(desired, described);
      items.push(
        changes.length === 0
          ? { action: 'unchanged', id: desired.id, file: desired.file }
          : { action: 'update', id: desired.id, file: desired.file, desired, changes },
      );
    }
  }
  for await (const summary of client.schedule.list()) {
    if (wanted.has(summary.scheduleId) || !summary.scheduleId.startsWith(prefix) || !isManaged(summary.memo)) continue;
    // The list may lag behind (a schedule deleted a moment ago): confirm with a strongly consistent describe.
    const described = await describeOrUndefined(client, summary.scheduleId);
    if (!described || !isManaged(described.memo)) continue;
    const file = described.memo?.scheduleFile;
    items.push({ action: 'delete-candidate', id: summary.scheduleId, file: typeof file === 'string' ? file : undefined });
  }
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items };
}

/**
 * Applies a plan: creates, updates, and with `prune` deletes managed schedules that left the files.
 * Conflicts and unchanged schedules are not touched. Before an update or delete the schedule is described
 * again and must still carry the managed mark.
 * @throws errors of the Temporal client (e.g. `ScheduleAlreadyRunning` when a schedule appeared since planning).
 */
export async function applyPlan(client: Client, plan: Plan, options: ApplyOptions = {}): Promise<ApplyResult> {
  const result: ApplyResult = { created: [], updated: [], deleted: [], unchanged: [], kept: [], conflicts: [] };
  for (const item of plan.items) {
    switch (item.action) {
      case 'create':
        await client.schedule.create(item.desired.create);
        result.created.push(item.id);
        break;
      case 'update': {
        const handle = client.schedule.getHandle(item.id);
        const update = item.desired.update;
        let touched = false;
        await handle.update((previous) => {
          if (!isManaged(previous.memo)) throw new Error(`schedule ${item.id} lost its managedBy memo since planning; not updating it`);
          touched = true;
          // `paused`/`note` are creation-only (like Airflow's is_paused_upon_creation): keep the live state,
          // so an apply never unpauses a schedule someone paused with `schedules pause` or in the UI.
          return { ...update, state: { ...update.state, paused: previous.state.paused, note: previous.state.note } };
        });
        if (touched) result.updated.push(item.id);
        break;
      }
      case 'unchanged':
        result.unchanged.push(item.id);
        break;
      case 'conflict':
        result.conflicts.push(item.id);
        break;
      case 'delete-candidate': {
        if (!options.prune) {
          result.kept.push(item.id);
          break;
        }
        const described = await describeOrUndefined(client, item.id);
        if (!described) break; // already gone
        if (!isManaged(described.memo)) {
          result.kept.push(item.id);
          break;
        }
        await client.schedule.getHandle(item.id).delete();
        result.deleted.push(item.id);
        break;
      }
    }
  }
  return result;
}

/** Summary counts of a plan. */
export function planCounts(plan: Plan): Record<PlanItem['action'], number> {
  const counts = { create: 0, update: 0, unchanged: 0, 'delete-candidate': 0, conflict: 0 };
  for (const i of plan.items) counts[i.action]++;
  return counts;
}

function short(text: string, max = 100): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Human-readable plan for the CLI, e.g.
 * ```
 * + sensor-pipeline (schedules/sensor-pipeline.yaml): create
 * ~ nightly (schedules/nightly.yaml): update
 *     overlap: SKIP → BUFFER_ONE
 * = hourly (schedules/hourly.yaml): unchanged
 * - old-one (schedules/old-one.yaml): delete-candidate (deleted with --prune)
 * ! taken (schedules/taken.yaml): conflict: …
 * Plan: 1 to create, 1 to update, 1 unchanged, 1 to delete (with --prune), 1 conflict.
 * ```
 * @param prune whether the delete candidates will be deleted (changes the wording).
 */
export function formatPlan(plan: Plan, prune = false): string {
  const lines: string[] = [];
  for (const item of plan.items) {
    const where = item.file ? ` (${item.file})` : '';
    switch (item.action) {
      case 'create':
        lines.push(
          `+ ${item.id}${where}: create (${item.desired.comparable.intervals !== 'none' ? item.desired.comparable.intervals : item.desired.comparable.calendars}, workflow ${item.desired.comparable.workflow})`,
        );
        break;
      case 'update':
        lines.push(`~ ${item.id}${where}: update`);
        for (const c of item.changes) lines.push(`    ${c.field}: ${short(c.from)} → ${short(c.to)}`);
        break;
      case 'unchanged':
        lines.push(`= ${item.id}${where}: unchanged`);
        break;
      case 'delete-candidate':
        lines.push(`- ${item.id}${where}: ${prune ? 'delete' : 'delete-candidate (no longer in the files; deleted with --prune)'}`);
        break;
      case 'conflict':
        lines.push(`! ${item.id}${where}: conflict: ${item.reason}`);
        break;
    }
  }
  const c = planCounts(plan);
  lines.push(
    `Plan: ${c.create} to create, ${c.update} to update, ${c.unchanged} unchanged, ${c['delete-candidate']} ${
      prune ? 'to delete' : 'to delete (with --prune)'
    }, ${c.conflict} conflict${c.conflict === 1 ? '' : 's'}.`,
  );
  return lines.join('\n');
}
