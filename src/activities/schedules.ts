/**
 * Schedule activities: the previous fire time of a schedule, for the data interval of cron, calendar and
 * time-zone schedules (`previous-fire` definitions, resolved by `resolveRunInterval` in src/workflows/data-interval.ts).
 *
 * Temporal is asked, not a cron library: `ListScheduleMatchingTimes` returns the times the schedule's own
 * spec matches (its calendars, time zone, DST handling, start/end), so the interval's start is exactly the
 * time Temporal fired (or would have fired) before. The answer is recorded in the run's history as the
 * activity result, so replays are deterministic even if the schedule changes later.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';

/**
 * Look-back windows tried in turn to find the two latest matches (2 days, 40 days, 367 days, 5 years), in ms.
 * Each window is one listing: Temporal's matching-time iteration depends on where it starts (starting inside
 * an ambiguous fall-back hour it can skip or add a match), so both matches come from the same listing,
 * started days before them.
 */
export const PREVIOUS_FIRE_LOOKBACKS_MS = [2 * 86_400_000, 40 * 86_400_000, 367 * 86_400_000, 5 * 367 * 86_400_000];

/** Dependencies of {@link createScheduleActivities}. */
export interface ScheduleActivityDeps {
  /** Temporal client; @default the worker's client (`Context.current().client`) */
  client?: Client;
  /** Namespace of the schedules. @default the client's namespace */
  namespace?: string;
}

/** Input of `scheduleIntervalAt`. */
export interface ScheduleIntervalAtInput {
  scheduleId: string;
  /** The run's scheduled time (ISO 8601). */
  at: string;
}

/** The two matches of the schedule's spec around a run: `[start, end)` is its data interval. */
export interface ScheduleMatches {
  /** Latest match at or before `at` (equals `at` for a run fired by the spec); `null` when none. */
  end: string | null;
  /** Latest match strictly before `end`; `null` when `end` is the schedule's first match (first run). */
  start: string | null;
}

/** Builds the schedule activities. */
export function createScheduleActivities(deps: ScheduleActivityDeps = {}) {
  /** The two latest matches of the schedule's spec at or before `atMs`, oldest first (fewer when there are none). */
  async function latestMatches(client: Client, namespace: string, scheduleId: string, atMs: number): Promise<number[]> {
    let times: number[] = [];
    for (const lookback of PREVIOUS_FIRE_LOOKBACKS_MS) {
      try {
        // Matching times are in (startTime, endTime]: start exclusive, end inclusive (checked on the dev server).
        const res = await client.workflowService.listScheduleMatchingTimes({
          namespace,
          scheduleId,
          startTime: msToTs(atMs - lookback),
          endTime: msToTs(atMs),
        });
        times = (res.startTime ?? []).map(tsToMs).filter((t) => t <= atMs);
      } catch (e) {
        if ((e as { code?: unknown }).code === 5)
          throw ApplicationFailure.nonRetryable(`schedule ${scheduleId} not found`, 'ScheduleNotFound');
        throw e;
      }
      if (times.length >= 2) break;
    }
    return times.sort((a, b) => a - b).slice(-2);
  }

  return {
    /**
     * The schedule's matches around `at`: the latest at or before it (`end`) and the one before that
     * (`start`), searched up to 5 years back. Temporal's own spec decides (calendars, cron, time zone, DST,
     * start/end of the schedule).
     * @throws ApplicationFailure `ScheduleNotFound` (non-retryable) when the schedule no longer exists;
     * `InvalidInput` for an unparsable `at`.
     */
    async scheduleIntervalAt(input: ScheduleIntervalAtInput): Promise<ScheduleMatches> {
      const client = deps.client ?? Context.current().client;
      const namespace = deps.namespace ?? client.options.namespace;
      const at = Date.parse(input.at);
      if (!Number.isFinite(at))
        throw ApplicationFailure.nonRetryable(`at ${JSON.stringify(input.at)} is not an ISO 8601 time`, 'InvalidInput');
      const [a, b] = await latestMatches(client, namespace, input.scheduleId, at);
      if (a === undefined) return { end: null, start: null };
      if (b === undefined) return { end: new Date(a).toISOString(), start: null };
      return { end: new Date(b).toISOString(), start: new Date(a).toISOString() };
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
