/**
 * Signals, queries and updates shared by workflows and clients (CLI, tests, dashboard). Each constant's
 * name is its wire name.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** Stream state reported by the `status` query. */
export interface StreamStatus {
  source: string;
  /** `pausing`: pause requested, the consumer is committing what it holds and stopping. */
  state: 'running' | 'pausing' | 'paused';
  /** Totals over the workflow's whole life (carried across continue-as-new). */
  received: number;
  committed: number;
  inserted: number;
  duplicates: number;
  deadLettered: number;
  batches: number;
  /** Consumer activity runs completed. */
  runs: number;
  batchSize: number;
  flushIntervalMs: number;
  lastError?: string;
  lastRunEndedAt?: string;
  pausedReason?: string;
}

/** Stream settings changed by the `configure` update. */
export interface StreamConfig {
  batchSize?: number;
  flushIntervalMs?: number;
}

/** Pause a stream: its consumer commits what it holds and stops; the broker keeps queueing. */
export const pause = defineSignal<[reason?: string]>('pause');
/** Resume a paused stream. */
export const resume = defineSignal('resume');
/** Current state and counters of a stream. */
export const status = defineQuery<StreamStatus>('status');
/** Change batch size / flush interval; applies from the next consumer run. Returns the new config. */
export const configure = defineUpdate<Required<StreamConfig>, [StreamConfig]>('configure');
