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
}

/** Stream settings changed by the `configure` update. */
export interface StreamConfig {
  batchSize?: number;
  flushIntervalMs?: number;
  /** Consumers in parallel (Kafka group members; MQTT shared-subscription sessions). */
  members?: number;
}

/** Settings in force after a `configure` update. */
export interface StreamSettings {
  batchSize: number;
  flushIntervalMs: number;
  members?: number;
}

/** Pause a stream: its consumer commits what it holds and stops; the broker keeps queueing. */
export const pause = defineSignal<[reason?: string]>('pause');
/** Resume a paused stream. */
export const resume = defineSignal('resume');
/** Current state and counters of a stream. */
export const status = defineQuery<StreamStatus>('status');
/** Change batch size / flush interval; applies from the next consumer run. Returns the new config. */
export const configure = defineUpdate<StreamSettings, [StreamConfig]>('configure');
