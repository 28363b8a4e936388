/**
 * Where the time of a workflow run goes, computed from its event history (server timestamps): workflow
 * task schedule → start (queueing in matching, incl. the history service's transfer queue) and
 * start → complete (worker processing + round trip), activity schedule → start and start → complete,
 * and the gap between an activity's completion and the next workflow task being scheduled.
 */
import type { History } from '@temporalio/common/lib/proto-utils';
import { tsToMs } from '@temporalio/common/lib/time';
import { round, summarize, type Summary } from './stats';

/** Durations of one run, ms; arrays have one entry per occurrence. */
export interface RunBreakdown {
  /** WorkflowExecutionStarted → WorkflowExecutionCompleted (or the last event). */
  totalMs: number;
  wftScheduleToStart: number[];
  wftStartToComplete: number[];
  activityScheduleToStart: number[];
  activityStartToComplete: number[];
  /** ActivityTaskCompleted → the next WorkflowTaskScheduled. */
  activityCompleteToWftScheduled: number[];
  /** WorkflowTaskCompleted → ActivityTaskScheduled of the activities it scheduled. */
  wftCompleteToActivityScheduled: number[];
}

type Event = NonNullable<History['events']>[number];

function idOf(v: unknown): number {
  return Number(v ?? 0);
}

/** Computes the breakdown of one history. */
export function breakdownHistory(history: History): RunBreakdown {
  const events: Event[] = history.events ?? [];
  const time = new Map<number, number>();
  const out: RunBreakdown = {
    totalMs: 0,
    wftScheduleToStart: [],
    wftStartToComplete: [],
    activityScheduleToStart: [],
    activityStartToComplete: [],
    activityCompleteToWftScheduled: [],
    wftCompleteToActivityScheduled: [],
  };
  let first: number | undefined;
  let last = 0;
  let lastActivityCompleted: number | undefined;
  for (const e of events) {
    const t = tsToMs(e.eventTime);
    time.set(idOf(e.eventId), t);
    first ??= t;
    last = t;
    if (e.workflowTaskScheduledEventAttributes) {
      if (lastActivityCompleted !== undefined) out.activityCompleteToWftScheduled.push(t - lastActivityCompleted);
      lastActivityCompleted = undefined;
    } else if (e.workflowTaskStartedEventAttributes) {
      const s = time.get(idOf(e.workflowTaskStartedEventAttributes.scheduledEventId));
      if (s !== undefined) out.wftScheduleToStart.push(t - s);
    } else if (e.workflowTaskCompletedEventAttributes) {
      const s = time.get(idOf(e.workflowTaskCompletedEventAttributes.startedEventId));
      if (s !== undefined) out.wftStartToComplete.push(t - s);
    } else if (e.activityTaskScheduledEventAttributes) {
      const w = time.get(idOf(e.activityTaskScheduledEventAttributes.workflowTaskCompletedEventId));
      if (w !== undefined) out.wftCompleteToActivityScheduled.push(t - w);
    } else if (e.activityTaskStartedEventAttributes) {
      const s = time.get(idOf(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (s !== undefined) out.activityScheduleToStart.push(t - s);
    } else if (e.activityTaskCompletedEventAttributes) {
      const s = time.get(idOf(e.activityTaskCompletedEventAttributes.startedEventId));
      if (s !== undefined) out.activityStartToComplete.push(t - s);
      lastActivityCompleted ??= t;
    }
  }
  out.totalMs = first === undefined ? 0 : last - first;
  return out;
}

/** One phase over many runs: per-occurrence summary and the per-run sum. */
export interface PhaseStats {
  /** Occurrences per run (mean). */
  perRun: number;
  /** Each occurrence, ms. */
  each: Summary;
  /** Sum per run, ms (median over runs). */
  sumP50: number;
}

/** Aggregated breakdown over many runs of one workflow type. */
export interface BreakdownSummary {
  runs: number;
  /** Server-side StartedEvent → CompletedEvent, ms. */
  serverTotal: Summary;
  phases: Record<Exclude<keyof RunBreakdown, 'totalMs'>, PhaseStats>;
}

const PHASES = [
  'wftScheduleToStart',
  'wftStartToComplete',
  'activityScheduleToStart',
  'activityStartToComplete',
  'activityCompleteToWftScheduled',
  'wftCompleteToActivityScheduled',
] as const;

/** Aggregates run breakdowns. */
export function summarizeBreakdowns(runs: readonly RunBreakdown[]): BreakdownSummary {
  const phases = {} as BreakdownSummary['phases'];
  for (const p of PHASES) {
    const each = runs.flatMap((r) => r[p]);
    const sums = runs.map((r) => r[p].reduce((a, b) => a + b, 0));
    phases[p] = { perRun: round(each.length / Math.max(1, runs.length), 2), each: summarize(each), sumP50: summarize(sums).p50 };
  }
  return { runs: runs.length, serverTotal: summarize(runs.map((r) => r.totalMs)), phases };
}

/** Human labels of the phases. */
export const PHASE_LABELS: Record<(typeof PHASES)[number], string> = {
  wftScheduleToStart: 'WFT scheduled → started (matching dispatch)',
  wftStartToComplete: 'WFT started → completed (worker)',
  activityScheduleToStart: 'activity scheduled → started',
  activityStartToComplete: 'activity started → completed',
  activityCompleteToWftScheduled: 'activity completed → next WFT scheduled',
  wftCompleteToActivityScheduled: 'WFT completed → activity scheduled',
};

export { PHASES };
