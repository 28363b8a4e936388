/**
 * Signals, queries and updates shared by workflows and clients (CLI, tests, dashboard). Each constant's
 * name is its wire name.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StreamCounters } from '../ingest/kafka-consumer';

/** Stream state reported by the `status` query. */
export interface StreamStatus extends StreamCounters {
  source: string;
  /** `pausing`: pause requested, the consumer is committing what it holds and stopping. */
  state: 'running' | 'pausing' | 'paused';
  // The counters are totals over the workflow's whole life (carried across continue-as-new).
  /** Consumer activity runs completed. */
  runs: number;
  batchSize: number;
  flushIntervalMs: number;
  lastError?: string;
  lastRunEndedAt?: string;
  pausedReason?: string;
  /** Stream kind: `mqtt` or `kafka`. @default 'mqtt' (absent in older runs) */
  stream?: 'mqtt' | 'kafka';
  /** Message kind the stream carries (`sensor`, `modem`, `gps`). */
  kind?: string;
  /** Consumers running in parallel (MQTT shared-subscription sessions, Kafka group members). */
  members?: number;
  /** Why the stream is waiting (e.g. PostgreSQL unreachable), reported by the last consumer run; cleared when it commits again. */
  waitingReason?: string;
  /** Committed messages per second over the last minute of completed consumer runs. */
  ratePerSecond?: number;
  /** Kafka: uncommitted messages per partition (`<topic>/<partition>` → count), from the last consumer run. */
  lag?: Record<string, number>;
  /** When `lastError` was recorded (workflow time, ISO-8601). */
  lastErrorAt?: string;
  /**
   * Heartbeat timeout of the consumer activities, ms: a run whose worker died is failed (and restarted
   * elsewhere) this long after its last heartbeat. Absent in streams started before it was configurable
   * (15 s then). @default {@link DEFAULT_HEARTBEAT_TIMEOUT_MS}
   */
  heartbeatTimeoutMs?: number;
  /** Delays between restarts of runs that failed without progress. @default {@link DEFAULT_RESTART_BACKOFF} */
  restartBackoff?: RestartBackoff;
  /** The current run of each member, as the workflow knows it (live counters: `streams status`). */
  consumers?: MemberRun[];
  /**
   * The declared source the consumers map with (a `sources/*.yaml` file as applied, parsed to JSON),
   * for streams of declared sources; replaced by the `applySource` update.
   */
  declaration?: unknown;
  /** How many times `applySource` replaced the declaration (0: as started). */
  sourceRevision?: number;
}

/**
 * How long a stream waits before restarting a consumer run that failed without progress: the n-th such
 * failure in a row waits `min(initialIntervalMs × coefficient^(n−1), maximumIntervalMs)`. A run that
 * committed a batch (or was consuming an idle topic) is restarted at once and the count starts over.
 */
export interface RestartBackoff {
  /** Delay after the first failure without progress, ms (100 – 60000). @default 1000 */
  initialIntervalMs: number;
  /** Growth factor per further failure without progress (1 – 10). @default 2 */
  coefficient: number;
  /** Longest delay, ms (≥ `initialIntervalMs`, ≤ 600000). @default 30000 */
  maximumIntervalMs: number;
}

/** Default heartbeat timeout of stream consumers, ms. @default 10000 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;
/** Default restart backoff of stream consumers (1 s doubling up to 30 s). */
export const DEFAULT_RESTART_BACKOFF: RestartBackoff = { initialIntervalMs: 1000, coefficient: 2, maximumIntervalMs: 30_000 };

/** One member's current consumer run, as the supervising workflow knows it. */
export interface MemberRun {
  /** Member index (0-based). */
  member: number;
  /** Activity ID of the current run (`consume-m<member>-<n>`); the live counters of `describe` are keyed by it. */
  activityId?: string;
  /** Runs since the member last made progress, this one included: 1 while healthy, 2+ after failures without progress. */
  attempt: number;
  /** `running`: a run is in progress; `backoff`: waiting `backoffMs` before the next; `stopped`: paused or removed. */
  state: 'running' | 'backoff' | 'stopped';
  /** When the current run (or backoff) started, workflow time (ISO-8601). */
  since?: string;
  /** Backoff before the next run, ms (only in `backoff`). */
  backoffMs?: number;
  /** Messages the member committed since its last failed run (runs that ended; the crashed run's last heartbeat). */
  committedSinceFailure?: number;
  /** Why the member's last run failed, if it did; cleared once a run of the member completes. */
  lastError?: string;
  /** When `lastError` was recorded (workflow time, ISO-8601). */
  lastErrorAt?: string;
}

/** Stream settings changed by the `configure` update. */
export interface StreamConfig {
  batchSize?: number;
  flushIntervalMs?: number;
  /** Consumers in parallel (Kafka group members; MQTT shared-subscription sessions). */
  members?: number;
  /** Heartbeat timeout of the consumer runs, ms (3000 – 600000); applies from the next run. */
  heartbeatTimeoutMs?: number;
  /** Restart backoff after failures without progress; fields not given are kept. */
  restartBackoff?: Partial<RestartBackoff>;
}

/** Settings in force after a `configure` update. */
export interface StreamSettings {
  batchSize: number;
  flushIntervalMs: number;
  members?: number;
  heartbeatTimeoutMs?: number;
  restartBackoff?: RestartBackoff;
}

/** Pause a stream: its consumer commits what it holds and stops; the broker keeps queueing. */
export const pause = defineSignal<[reason?: string]>('pause');
/** Resume a paused stream. */
export const resume = defineSignal('resume');
/** Current state and counters of a stream. */
export const status = defineQuery<StreamStatus>('status');
/**
 * Change batch size, flush interval, members, heartbeat timeout or restart backoff; applies from the
 * next consumer run. Returns the settings in force.
 * @throws (rejected by its validator, nothing changed) when a value is out of range.
 */
export const configure = defineUpdate<StreamSettings, [StreamConfig]>('configure');

/**
 * Replaces the declared source of a running stream (`sources apply`): the consumers commit what they
 * hold and restart with the new declaration at once (their table was evolved before the update was
 * sent). Returns the revision now in force.
 */
export const applySource = defineUpdate<{ revision: number }, [declaration: unknown]>('applySource');

/**
 * Adds `from`'s counters (received, committed, inserted, duplicates, dead letters, batches) to `into`:
 * the workflow's totals of ended runs, and clients' totals with the running consumers' heartbeats.
 */
export function addCounters(into: StreamCounters, from: StreamCounters): void {
  into.received += from.received;
  into.committed += from.committed;
  into.inserted += from.inserted;
  into.duplicates += from.duplicates;
  into.deadLettered += from.deadLettered;
  into.batches += from.batches;
}
