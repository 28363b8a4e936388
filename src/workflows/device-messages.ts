/**
 * Signals, queries and updates of the device entity workflow (`deviceEntity`, ID `device-<source>-<device>`),
 * shared with clients (ingest sink, quality checks, CLI, dashboard). Each constant's name is its wire name.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertRef } from '../quality/alerts';
import type { DeviceKind, DeviceStateView } from '../devices/state';

/** What ingest reports about a device: only on changes, never per message. */
export interface ActivityReport {
  /** `first-seen`: the sink has not seen the device before; `came-back`: data after a silence; `out-of-range`: latest values violate a rule. */
  change: 'first-seen' | 'came-back' | 'out-of-range';
  /** Arrival (commit) time of the batch, epoch ms. */
  receivedAt: number;
  /** Latest event time of the device in the batch, epoch ms. */
  lastEventTime: number;
  /** Messages of the device in the batch. */
  count: number;
  /** Latest position `{lat, lon}` (degrees) or readings. */
  latest?: Record<string, number | string | null>;
  /** For `out-of-range`: the violations, e.g. `temperature=120 °C outside [-40, 85]`. */
  violations?: string[];
}

/** What ingest reports of a device's session: a birth or death certificate (Sparkplug B). */
export interface ConnectionReport {
  online: boolean;
  /** Time of the birth or death, epoch ms. */
  at: number;
  /** `NBIRTH`, `DBIRTH`, `NDEATH` or `DDEATH`. */
  cause: string;
}

/** Input of `acknowledgeAlert`. */
export interface AcknowledgeInput {
  alertId: number;
  /** Who acknowledges (operator name, `dashboard`, `cli`). 1–100 characters. */
  by: string;
}

/** Input of `muteRule`. */
export interface MuteInput {
  /** Rule to mute, e.g. `device_silent`. */
  rule: string;
  /** How long, ms: 1 minute to 30 days. */
  forMs: number;
  by?: string;
}

/** Input of `setThresholds`. */
export interface ThresholdsInput {
  /** Longest expected gap between data, ms: 1 second to 7 days. */
  expectedIntervalMs?: number;
}

/** Ingest reports a change of the device (first seen, came back, values out of range). */
export const reportActivity = defineSignal<[ActivityReport]>('reportActivity');
/** Ingest saw the device's birth or death certificate: it is online or offline. */
export const reportConnection = defineSignal<[ConnectionReport]>('reportConnection');
/** The quality checks raised alerts for this device. */
export const reportAlerts = defineSignal<[AlertRef[]]>('reportAlerts');
/** The device's state. */
export const deviceState = defineQuery<DeviceStateView>('deviceState');
/** Acknowledge an open alert of this device; returns the device state after it. */
export const acknowledgeAlert = defineUpdate<DeviceStateView, [AcknowledgeInput]>('acknowledgeAlert');
/** Mute notifications of one rule for a while; returns the time it is muted until (ISO). */
export const muteRule = defineUpdate<string, [MuteInput]>('muteRule');
/** Change the device's thresholds; returns the thresholds now in force. */
export const setThresholds = defineUpdate<Required<ThresholdsInput>, [ThresholdsInput]>('setThresholds');

export type { DeviceKind, DeviceStateView };
