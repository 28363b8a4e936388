/**
 * What ingest tells the rest of the system about devices after each committed batch: one summary per
 * device seen in the batch, never one call per message. Device entity workflows (one per device) are fed
 * from this through a sink that signals only on changes (first seen, came back, alert raised).
 */

/** Activity of one device within one committed batch. */
export interface DeviceActivity {
  source: string;
  deviceId: string;
  /** Messages of this device in the batch (valid ones). */
  count: number;
  /** Event-time range of those messages, epoch ms. */
  firstEventTime: number;
  lastEventTime: number;
  /** Latest values of the device in the batch (measurements or position), for status displays. */
  latest?: Record<string, number | string | null>;
}

/** A device that came online or went offline (a Sparkplug B birth or death certificate), after its batch committed. */
export interface DeviceConnectionChange {
  source: string;
  deviceId: string;
  online: boolean;
  /** Time of the birth or death, epoch ms. */
  at: number;
  /** `NBIRTH`, `DBIRTH`, `NDEATH` or `DDEATH`. */
  cause: string;
}

/** Receives per-device summaries after each committed batch. Must not throw for a single bad device. */
export interface DeviceActivitySink {
  onCommitted(devices: DeviceActivity[]): Promise<void>;
  /** Births and deaths, in the order they were received (for transports with sessions). */
  onConnection?(changes: DeviceConnectionChange[]): Promise<void>;
}
