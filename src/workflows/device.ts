/**
 * One entity workflow per device (`deviceEntity`, ID `device-<source>-<device>`), started by
 * signal-with-start from ingest's device-activity sink or from the quality checks.
 *
 * - State: {@link DeviceState} (last seen, last position/readings, open alerts, expected interval, mutes).
 * - Silence timer: when nothing was reported for `expectedIntervalMs` after the last arrival, the workflow
 *   first asks the ingest tables (`lastArrival`: ingest reports only changes, so data may have kept
 *   arriving) and, if the device really is silent, raises a `device_silent` alert; the alert is resolved
 *   when data returns (a `came-back` report, or a later arrival found by the same check).
 * - Connection: `reportConnection` (a Sparkplug B birth or death certificate) takes the device online
 *   or offline; its status is `offline` until the next birth.
 * - `deviceState` query; `acknowledgeAlert`, `muteRule`, `setThresholds` updates with validators.
 * - Continues-as-new with its state when Temporal suggests it (or after {@link MAX_EVENTS_PER_RUN} events).
 */
import { allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DeviceActivities } from '../activities/devices';
import { DeviceState, LIVE_RANGE_RULE, SILENCE_RULE, deviceWorkflowId, type DeviceKind, type DeviceStateData } from '../devices/state';
import type { AlertRef } from '../quality/alerts';
import {
  acknowledgeAlert,
  deviceState,
  muteRule,
  reportActivity,
  reportAlerts,
  reportConnection,
  setThresholds,
  type AcknowledgeInput,
  type ActivityReport,
  type ConnectionReport,
  type MuteInput,
  type ThresholdsInput,
} from './device-messages';
import { autoUpgradeWhenVersioned } from './versioning';

/** History events of one run before continuing as new even without the server's suggestion. @default 5000 */
export const MAX_EVENTS_PER_RUN = 5000;
/** Expected interval when the starter gives none, ms. @default 600000 (10 min) */
export const DEFAULT_EXPECTED_INTERVAL_MS = 600_000;
/** Bounds of `setThresholds.expectedIntervalMs`, ms. */
export const EXPECTED_INTERVAL_BOUNDS_MS = { min: 1_000, max: 7 * 24 * 3_600_000 } as const;
/** Bounds of `muteRule.forMs`, ms. */
export const MUTE_BOUNDS_MS = { min: 60_000, max: 30 * 24 * 3_600_000 } as const;
/** Rules a device can mute. */
export const MUTABLE_RULES = [
  SILENCE_RULE,
  LIVE_RANGE_RULE,
  'gps_invalid_coordinates',
  'gps_outside_region',
  'gps_impossible_jump',
  'gps_stuck',
  'gps_duplicate_track',
  'gps_overlapping_tracks',
  'sensor_sentinel',
  'sensor_out_of_range',
] as const;

/** Database activities: short, retried on transient errors (SQL errors are non-retryable at the source). */
export const DEVICE_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 20 },
} as const;
/** Notifications: webhook retries with backoff; 4xx is non-retryable at the source. */
export const NOTIFY_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
} as const;

const act = proxyActivities<DeviceActivities>(DEVICE_ACTIVITY_OPTIONS);
const { notifyAlert } = proxyActivities<DeviceActivities>(NOTIFY_ACTIVITY_OPTIONS);

/** Input of {@link deviceEntity}. */
export interface DeviceInput {
  source: string;
  deviceId: string;
  kind: DeviceKind;
  /** @default {@link DEFAULT_EXPECTED_INTERVAL_MS} */
  expectedIntervalMs?: number;
  /** History events per run before continuing as new. @default {@link MAX_EVENTS_PER_RUN} */
  maxEventsPerRun?: number;
  /** State carried over continue-as-new. */
  carried?: DeviceStateData;
}

function validateAck(i: AcknowledgeInput, s: DeviceState): void {
  if (!Number.isInteger(i?.alertId) || i.alertId <= 0)
    throw new Error(`alertId must be a positive integer, got ${JSON.stringify(i?.alertId)}`);
  if (typeof i.by !== 'string' || i.by.trim().length === 0 || i.by.length > 100) throw new Error('by must be 1–100 characters');
  const a = s.alert(i.alertId);
  if (a && a.status === 'acknowledged') throw new Error(`alert ${i.alertId} is already acknowledged by ${a.acknowledgedBy ?? '?'}`);
}

function validateMute(i: MuteInput): void {
  if (!(MUTABLE_RULES as readonly string[]).includes(i?.rule))
    throw new Error(`unknown rule ${JSON.stringify(i?.rule)}; one of ${MUTABLE_RULES.join(', ')}`);
  if (!Number.isFinite(i.forMs) || i.forMs < MUTE_BOUNDS_MS.min || i.forMs > MUTE_BOUNDS_MS.max) {
    throw new Error(`forMs must be between ${MUTE_BOUNDS_MS.min} and ${MUTE_BOUNDS_MS.max} ms, got ${i.forMs}`);
  }
}

function validateThresholds(i: ThresholdsInput): void {
  if (!i || typeof i !== 'object') throw new Error('thresholds must be an object');
  if (i.expectedIntervalMs === undefined) throw new Error('nothing to change: give expectedIntervalMs');
  const v = i.expectedIntervalMs;
  if (!Number.isFinite(v) || v < EXPECTED_INTERVAL_BOUNDS_MS.min || v > EXPECTED_INTERVAL_BOUNDS_MS.max) {
    throw new Error(
      `expectedIntervalMs must be between ${EXPECTED_INTERVAL_BOUNDS_MS.min} and ${EXPECTED_INTERVAL_BOUNDS_MS.max} ms, got ${v}`,
    );
  }
}

/** The device entity workflow; runs until terminated, continuing as new with its state. */
export async function deviceEntity(input: DeviceInput): Promise<void> {
  const state = new DeviceState(
    input.carried ?? {
      source: input.source,
      deviceId: input.deviceId,
      kind: input.kind,
      expectedIntervalMs: input.expectedIntervalMs ?? DEFAULT_EXPECTED_INTERVAL_MS,
      alerts: [],
      muted: {},
      reports: 0,
    },
  );
  const d = state.d;
  const workflowId = deviceWorkflowId(d.source, d.deviceId);
  const inbox: ActivityReport[] = [];
  const alertInbox: AlertRef[] = [];
  const connectionInbox: ConnectionReport[] = [];
  let woken = false;

  const save = () => act.saveDeviceStatus({ ...state.view(), workflowId });
  const notify = async (alert: AlertRef, transition: 'raised' | 'resolved' | 'acknowledged', by?: string) => {
    if (transition === 'raised' && state.isMuted(alert.rule, Date.now())) return;
    await notifyAlert({ alert, transition, by });
  };

  setHandler(reportActivity, (r) => {
    inbox.push(r);
  });
  setHandler(reportConnection, (r) => {
    connectionInbox.push(r);
  });
  setHandler(reportAlerts, (alerts) => {
    alertInbox.push(...alerts);
  });
  setHandler(deviceState, () => state.view());
  setHandler(
    acknowledgeAlert,
    async (i) => {
      const ref = await act.acknowledgeAlertRow({ id: i.alertId, source: d.source, deviceId: d.deviceId, by: i.by });
      state.acknowledge(i.alertId, i.by, ref);
      await save();
      await notify(ref, 'acknowledged', i.by);
      return state.view();
    },
    { validator: (i: AcknowledgeInput) => validateAck(i, state) },
  );
  setHandler(
    muteRule,
    async (i) => {
      const until = Date.now() + i.forMs;
      d.muted[i.rule] = until;
      const iso = new Date(until).toISOString();
      await act.muteAlertRows({ source: d.source, deviceId: d.deviceId, rule: i.rule, until: iso });
      await save();
      return iso;
    },
    { validator: validateMute },
  );
  setHandler(
    setThresholds,
    (i) => {
      d.expectedIntervalMs = i.expectedIntervalMs ?? d.expectedIntervalMs;
      woken = true;
      return Promise.resolve({ expectedIntervalMs: d.expectedIntervalMs });
    },
    { validator: validateThresholds },
  );

  const resolveSilence = async (why: string) => {
    const id = d.silenceAlertId;
    if (id === undefined) return;
    const alert = state.alert(id);
    await act.resolveAlertRow({ id });
    state.resolve(id);
    if (alert) await notify({ ...alert, message: `${alert.message}; data returned (${why})` }, 'resolved');
  };

  const raiseSilence = async () => {
    const last = d.lastSeen!;
    const { alert, created } = await act.raiseDeviceAlert({
      source: d.source,
      deviceId: d.deviceId,
      rule: SILENCE_RULE,
      windowStart: new Date(last).toISOString(),
      windowEnd: new Date(last).toISOString(),
      severity: 'warning',
      message: `silent: no data since ${new Date(last).toISOString()} (expected every ${Math.round(d.expectedIntervalMs / 1000)} s)`,
      evidence: {
        lastSeen: new Date(last).toISOString(),
        lastEventTime: d.lastEventTime ? new Date(d.lastEventTime).toISOString() : null,
        expectedIntervalMs: d.expectedIntervalMs,
      },
    });
    state.addAlerts([alert]);
    d.silenceAlertId = alert.id;
    await save();
    if (created) await notify(alert, 'raised');
  };

  if (!input.carried) await save();

  for (;;) {
    const due = state.silenceDueAt();
    // While silent, re-check every interval in case data returned without a report.
    const waitMs = due === undefined ? undefined : Math.max(d.silenceAlertId !== undefined ? d.expectedIntervalMs : due - Date.now(), 1);
    const suggested = () =>
      workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.maxEventsPerRun ?? MAX_EVENTS_PER_RUN);
    const signalled = await condition(
      () => inbox.length > 0 || alertInbox.length > 0 || connectionInbox.length > 0 || woken || suggested(),
      waitMs ?? '365 days',
    );
    woken = false;
    let changed = false;

    while (inbox.length > 0) {
      const r = inbox.shift()!;
      d.reports++;
      const endsSilence = state.seen(r.receivedAt, r.lastEventTime, r.latest);
      if (endsSilence) await resolveSilence(r.change);
      if (r.change === 'out-of-range' && r.violations?.length) {
        const t = new Date(r.lastEventTime).toISOString();
        const { alert, created } = await act.raiseDeviceAlert({
          source: d.source,
          deviceId: d.deviceId,
          rule: LIVE_RANGE_RULE,
          windowStart: t,
          windowEnd: t,
          severity: 'warning',
          message: `values out of range: ${r.violations.join('; ')}`,
          evidence: { violations: r.violations, latest: r.latest ?? null },
        });
        state.addAlerts([alert]);
        if (created) await notify(alert, 'raised');
      }
      changed = true;
    }
    while (connectionInbox.length > 0) {
      const c = connectionInbox.shift()!;
      if (state.connect(c.online, c.at, c.cause)) changed = true;
    }
    if (alertInbox.length > 0) {
      const fresh = state.addAlerts(alertInbox.splice(0));
      for (const a of fresh) await notify(a, 'raised');
      changed = true;
    }

    if (!signalled && due !== undefined) {
      // The timer fired: silent for real, or data kept arriving without a change to report?
      const last = await act.lastArrival({ source: d.source, deviceId: d.deviceId, kind: d.kind });
      if (last.receivedAt !== null && last.receivedAt > (d.lastSeen ?? 0)) {
        state.seen(last.receivedAt, last.eventTime ?? undefined);
        if (last.receivedAt + d.expectedIntervalMs > Date.now()) {
          if (d.silenceAlertId !== undefined) await resolveSilence('found in ingest');
        } else if (d.silenceAlertId === undefined) {
          await raiseSilence();
        }
        changed = true;
      } else if (d.silenceAlertId === undefined) {
        await raiseSilence();
      }
    }
    if (changed) await save();

    if (suggested()) {
      await condition(allHandlersFinished);
      if (inbox.length === 0 && alertInbox.length === 0 && connectionInbox.length === 0) {
        await continueAsNew<typeof deviceEntity>({
          source: d.source,
          deviceId: d.deviceId,
          kind: d.kind,
          maxEventsPerRun: input.maxEventsPerRun,
          carried: state.d,
        });
      }
    }
  }
}

// Runs for as long as the stream (or device) exists: moves to a new worker build (versioning.ts).
autoUpgradeWhenVersioned(deviceEntity);
