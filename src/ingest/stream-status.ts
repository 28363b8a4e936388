/**
 * The live status of a stream, as clients see it (CLI `streams status`, dashboard): the workflow's
 * `status` query (totals of runs that ended, settings, each member's current run) plus the running
 * consumers' heartbeat details read with `describe` (`pendingActivities[].heartbeatDetails`), so
 * progress shows while a run is in progress without a single workflow history event for it.
 */
import type { Client } from '@temporalio/client';
import type { ConsumerRunStats } from '../activities/stream-common';
import { queryWorkflow } from '../client/query';
import { addCounters, status, type StreamStatus } from '../workflows/messages';

/** A running consumer activity of a stream, from `describe` (`pendingActivities`). */
export interface LiveRun {
  activityId: string;
  /** Member index, when the workflow names its runs (`consume-m<member>-<n>`). */
  member?: number;
  /**
   * Runs since the member last made progress, this one included (1 while healthy), from the workflow;
   * for streams started before runs were named, the activity's attempt number.
   */
  attempt: number;
  /** Heartbeat details: the run's counters so far (see `ConsumerRunStats`). */
  details?: ConsumerRunStats;
  /** Milliseconds since the run last committed a batch (since it started, when it has not yet). */
  sinceLastCommitMs?: number;
  /** When the server last received a heartbeat of the run (ISO-8601). */
  lastHeartbeatAt?: string;
  /** Failure of an earlier attempt of this activity (only streams started before runs were named). */
  lastFailure?: string;
}

/**
 * Status of a stream with its live progress: the `status` query's totals (runs that ended) plus the
 * counters the running consumers report in their heartbeats (`live`), so `received`, `committed`, … are
 * current while a run is in progress, not only when it ends.
 */
export interface LiveStreamStatus extends StreamStatus {
  workflowId: string;
  /** One entry per running member activity. */
  live: LiveRun[];
  /** Milliseconds since any member last committed a batch (absent before the first commit). */
  sinceLastCommitMs?: number;
  /** `ingest.batches` id of the last batch committed by a running member, per member order. */
  lastBatchId?: number;
}

function memberOf(activityId: string): number | undefined {
  const m = /^consume-m(\d+)-\d+$/.exec(activityId);
  return m ? Number(m[1]) : undefined;
}

/**
 * Reads a stream's live status: the `status` query and, right after it, `describe` of the workflow,
 * whose pending activities carry the running consumers' last heartbeat details. The running runs'
 * counters are added to the query's totals when both name the same runs; a run that ended or started
 * between the two reads makes them disagree, and they are read again (up to 5 times). `lastError` is
 * cleared once every member that reported it has committed again since (it stays in `consumers[]`
 * until the run ends).
 * @throws WorkflowNotFoundError when there is no such stream; the query's errors (no worker, …).
 */
export async function streamStatus(client: Client, workflowId: string): Promise<LiveStreamStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const conv = client.options.loadedDataConverter.payloadConverter;
  for (let tries = 1; ; tries++) {
    const s = await queryWorkflow(handle, status, []);
    const d = await handle.describe();
    const nowMs = Date.now();
    const runs = new Map((s.consumers ?? []).filter((m) => m.state === 'running' && m.activityId).map((m) => [m.activityId!, m]));
    const live: LiveRun[] = (d.raw.pendingActivities ?? []).map((a) => {
      const payload = a.heartbeatDetails?.payloads?.[0];
      const details = payload ? conv.fromPayload<ConsumerRunStats>(payload) : undefined;
      const activityId = String(a.activityId);
      const since = details?.lastCommitAt ?? details?.startedAt;
      const hb = a.lastHeartbeatTime?.seconds;
      return {
        activityId,
        member: memberOf(activityId),
        attempt: runs.get(activityId)?.attempt ?? a.attempt ?? 1,
        details,
        sinceLastCommitMs: since ? Math.max(0, nowMs - Date.parse(since)) : undefined,
        lastHeartbeatAt: hb ? new Date(Number(hb) * 1000 + Math.floor((a.lastHeartbeatTime?.nanos ?? 0) / 1e6)).toISOString() : undefined,
        lastFailure: a.lastFailure?.message ?? undefined,
      };
    });
    const named = s.consumers !== undefined && s.consumers.some((m) => m.activityId);
    const consistent = !named || (live.length === runs.size && live.every((r) => runs.has(r.activityId)));
    if (!consistent && tries < 5) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const out: LiveStreamStatus = { ...s, workflowId, live };
    for (const r of live) {
      const x = r.details;
      if (!x) continue;
      addCounters(out, x);
      if (x.lastBatchId !== undefined) out.lastBatchId = Math.max(out.lastBatchId ?? 0, x.lastBatchId);
    }
    if (live.some((r) => r.details)) {
      out.ratePerSecond = Math.round(live.reduce((t, r) => t + (r.details?.ratePerSecond ?? 0), 0) * 10) / 10;
      out.waitingReason = live.map((r) => r.details?.waitingReason).find((w) => w !== undefined);
      const lags = live.map((r) => r.details?.lag).filter((l) => l && Object.keys(l).length);
      if (lags.length) out.lag = Object.assign({}, ...lags) as Record<string, number>;
    }
    const commits = live.map((r) => r.details?.lastCommitAt).filter((t): t is string => t !== undefined);
    const lastCommit = commits.length ? Math.max(...commits.map((t) => Date.parse(t))) : undefined;
    if (lastCommit !== undefined) out.sinceLastCommitMs = Math.max(0, nowMs - lastCommit);
    // Flowing again: every member with an error has committed in a run that started after it.
    const committedSince = (m: { member: number; lastErrorAt?: string }) =>
      live.some(
        (r) =>
          r.member === m.member &&
          r.details?.lastCommitAt !== undefined &&
          (m.lastErrorAt === undefined || Date.parse(r.details.lastCommitAt) >= Date.parse(m.lastErrorAt)),
      );
    if (out.consumers && out.lastError !== undefined) {
      const erring = out.consumers.filter((m) => m.lastError !== undefined);
      if (erring.every(committedSince)) {
        out.lastError = undefined;
        out.lastErrorAt = undefined;
        out.consumers = out.consumers.map((m) => (committedSince(m) ? { ...m, lastError: undefined, lastErrorAt: undefined } : m));
      }
    }
    return out;
  }
}
