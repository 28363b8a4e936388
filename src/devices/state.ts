/**
 * The state of one device entity workflow, in one small class carried across continue-as-new as plain
 * JSON ({@link DeviceStateData}). Pure code: no I/O, no clock (times are passed in), so it runs inside
 * workflows.
 */
import type { AlertRef } from '../quality/alerts';

/** Kind of device: a GPS tracker (`ingest.gps_fixes`) or a sensor (`ingest.sensor_readings`). */
export type DeviceKind = 'gps' | 'sensor';

/** Rule name of the silence alert raised by the device workflow's timer. */
export const SILENCE_RULE = 'device_silent';
/** Rule name of the alert raised when ingest reports values out of range. */
export const LIVE_RANGE_RULE = 'sensor_out_of_range_live';

/** Open alerts kept in the workflow state (newest win); older ones stay in `quality.alerts`. @default 100 */
export const MAX_ALERTS_IN_STATE = 100;

/** An alert as the device knows it. */
export interface DeviceAlert extends AlertRef {
  status: 'open' | 'acknowledged';
  acknowledgedBy?: string;
}

/**
 * The device's session as its transport declares it: a Sparkplug B birth certificate (`NBIRTH`,
 * `DBIRTH`) takes it online, a death certificate (`NDEATH` matched by `bdSeq`, `DDEATH`) offline.
 * Devices whose transport has no sessions never have one.
 */
export interface DeviceConnection {
  online: boolean;
  /** Time of the birth or death, epoch ms. */
  since: number;
  /** What said so, e.g. `NBIRTH`, `NDEATH`. */
  cause: string;
}

/** Serializable state (workflow input on continue-as-new). */
export interface DeviceStateData {
  source: string;
  deviceId: string;
  kind: DeviceKind;
  /** Longest expected gap between data, ms. */
  expectedIntervalMs: number;
  /** Arrival times, epoch ms. */
  firstSeen?: number;
  lastSeen?: number;
  /** Event time of the latest data reported, epoch ms. */
  lastEventTime?: number;
  latest?: Record<string, number | string | null>;
  alerts: DeviceAlert[];
  /** rule → muted until (epoch ms). */
  muted: Record<string, number>;
  /** Silence alert currently open, if any. */
  silenceAlertId?: number;
  /** Changes reported by ingest (first seen, came back, out of range) over the whole life. */
  reports: number;
  /** Online or offline, for devices whose transport has sessions (Sparkplug B). */
  connection?: DeviceConnection;
}

/** What the `deviceState` query returns (times ISO 8601). */
export interface DeviceStateView {
  source: string;
  deviceId: string;
  kind: DeviceKind;
  /** `offline` after a death certificate, until the next birth; else from the alerts and the silence timer. */
  status: 'ok' | 'alerting' | 'silent' | 'offline' | 'unknown';
  expectedIntervalMs: number;
  firstSeen?: string;
  lastSeen?: string;
  lastEventTime?: string;
  latest?: Record<string, number | string | null>;
  openAlerts: DeviceAlert[];
  muted: Record<string, string>;
  reports: number;
  /** Online or offline since (ISO), and why; absent for devices without sessions. */
  connection?: { online: boolean; since: string; cause: string };
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The device's state and the rules that change it. */
export class DeviceState {
  readonly d: DeviceStateData;
  constructor(data: DeviceStateData) {
    this.d = { ...data, alerts: [...data.alerts], muted: { ...data.muted } };
  }

  /** Records data arrival. @returns true when this ends a silence (an open silence alert should be resolved). */
  seen(receivedAt: number, lastEventTime?: number, latest?: Record<string, number | string | null>): boolean {
    this.d.firstSeen ??= receivedAt;
    if (this.d.lastSeen === undefined || receivedAt > this.d.lastSeen) this.d.lastSeen = receivedAt;
    if (lastEventTime !== undefined && (this.d.lastEventTime === undefined || lastEventTime > this.d.lastEventTime)) {
      this.d.lastEventTime = lastEventTime;
      if (latest) this.d.latest = latest;
    }
    return this.d.silenceAlertId !== undefined;
  }

  /** When the silence timer is due, epoch ms; undefined before any data. */
  silenceDueAt(): number | undefined {
    return this.d.lastSeen === undefined ? undefined : this.d.lastSeen + this.d.expectedIntervalMs;
  }

  /** Adds alerts (ignores ones already known), keeping the newest {@link MAX_ALERTS_IN_STATE}. @returns the new ones. */
  addAlerts(alerts: readonly AlertRef[]): AlertRef[] {
    const known = new Set(this.d.alerts.map((a) => a.id));
    const fresh = alerts.filter((a) => !known.has(a.id));
    this.d.alerts.push(...fresh.map((a) => ({ ...a, status: 'open' as const })));
    if (this.d.alerts.length > MAX_ALERTS_IN_STATE) this.d.alerts.splice(0, this.d.alerts.length - MAX_ALERTS_IN_STATE);
    return fresh;
  }

  alert(id: number): DeviceAlert | undefined {
    return this.d.alerts.find((a) => a.id === id);
  }

  acknowledge(id: number, by: string, ref?: AlertRef): void {
    let a = this.alert(id);
    if (!a && ref) {
      this.addAlerts([ref]);
      a = this.alert(id);
    }
    if (a) {
      a.status = 'acknowledged';
      a.acknowledgedBy = by;
    }
  }

  /** Removes an alert that was resolved. */
  resolve(id: number): void {
    this.d.alerts = this.d.alerts.filter((a) => a.id !== id);
    if (this.d.silenceAlertId === id) this.d.silenceAlertId = undefined;
  }

  /**
   * Records a birth (`online`) or death, in the order received: ingest signals a device's births and
   * deaths in the order its transport delivered them (the edge node's own clock may be off, so `at` is
   * shown, not used to order them). A repeat of the current report changes nothing.
   * @returns true when the connection changed
   */
  connect(online: boolean, at: number, cause: string): boolean {
    const c = this.d.connection;
    if (c && c.online === online && c.cause === cause && c.since === at) return false;
    this.d.connection = { online, since: at, cause };
    return true;
  }

  isMuted(rule: string, now: number): boolean {
    const until = this.d.muted[rule];
    return until !== undefined && until > now;
  }

  status(): DeviceStateView['status'] {
    if (this.d.connection && !this.d.connection.online) return 'offline';
    if (this.d.silenceAlertId !== undefined) return 'silent';
    if (this.d.alerts.some((a) => a.status === 'open')) return 'alerting';
    return this.d.lastSeen === undefined ? 'unknown' : 'ok';
  }

  view(): DeviceStateView {
    return {
      source: this.d.source,
      deviceId: this.d.deviceId,
      kind: this.d.kind,
      status: this.status(),
      expectedIntervalMs: this.d.expectedIntervalMs,
      firstSeen: iso(this.d.firstSeen),
      lastSeen: iso(this.d.lastSeen),
      lastEventTime: iso(this.d.lastEventTime),
      latest: this.d.latest,
      openAlerts: this.d.alerts.map((a) => ({ ...a })),
      muted: Object.fromEntries(Object.entries(this.d.muted).map(([k, v]) => [k, new Date(v).toISOString()])),
      reports: this.d.reports,
      ...(this.d.connection
        ? {
            connection: {
              online: this.d.connection.online,
              since: new Date(this.d.connection.since).toISOString(),
              cause: this.d.connection.cause,
            },
          }
        : {}),
    };
  }
}

/** Workflow ID of a device: `device-<source>-<deviceId>` (device IDs are unique per source). */
export function deviceWorkflowId(source: string, deviceId: string): string {
  return `device-${source}-${deviceId}`;
}
