/**
 * The {@link DeviceActivitySink} that feeds device entity workflows from ingest: after each committed
 * batch it looks at every device's summary and signals the device's workflow (signal-with-start, so a
 * new device gets its workflow) ONLY on a change:
 * - `first-seen`: the device is not known to this sink (new device, or a restarted process);
 * - `came-back`: its previous data arrived longer ago than its expected interval (it had been silent);
 * - `out-of-range`: its latest values violate a rule of `config/quality-rules.yaml` while the previous
 *   ones did not.
 * Everything else (a device that keeps sending normally) causes no signal at all. Births and deaths
 * (`onConnection`) are signalled as `reportConnection`, one signal per change, in order per device.
 */
import type { Client } from '@temporalio/client';
import type { DeviceActivity, DeviceActivitySink, DeviceConnectionChange } from '../ingest/device-activity';
import { expectedIntervalMs, outOfRangeValues, type QualityRules } from '../quality/rules';
import type { ActivityReport } from '../workflows/device-messages';
import { deviceWorkflowId, type DeviceKind } from './state';

/** Options of {@link DeviceWorkflowSink}. */
export interface DeviceWorkflowSinkOptions {
  client: Client;
  taskQueue: string;
  rules: QualityRules;
  /** Kind of a source's devices. @default `gps` when the latest values have `lat`/`lon`, else `sensor` */
  kindOf?: (source: string, d: DeviceActivity) => DeviceKind;
  /** Clock, epoch ms. @default Date.now */
  now?: () => number;
  /** Called for a device whose signal failed (the batch is not failed). @default console.warn */
  onError?: (d: DeviceActivity, e: unknown) => void;
}

interface Known {
  lastArrival: number;
  outOfRange: boolean;
}

/** Signals device workflows on changes only; see the module comment. */
export class DeviceWorkflowSink implements DeviceActivitySink {
  private readonly known = new Map<string, Known>();
  /** Signals sent, by change (for status displays and tests). */
  readonly sent: Record<ActivityReport['change'], number> = { 'first-seen': 0, 'came-back': 0, 'out-of-range': 0 };
  /** Births and deaths signalled. */
  readonly connections = { online: 0, offline: 0 };

  constructor(private readonly o: DeviceWorkflowSinkOptions) {}

  private kind(d: DeviceActivity): DeviceKind {
    if (this.o.kindOf) return this.o.kindOf(d.source, d);
    return d.latest && 'lat' in d.latest && 'lon' in d.latest ? 'gps' : 'sensor';
  }

  /** The change a summary represents, or undefined (no signal). Updates the sink's memory. */
  classify(d: DeviceActivity, now: number): { report: ActivityReport; kind: DeviceKind } | undefined {
    const key = `${d.source}\u0000${d.deviceId}`;
    const kind = this.kind(d);
    const prev = this.known.get(key);
    const violations = kind === 'sensor' ? outOfRangeValues(this.o.rules, d.latest) : [];
    const out = violations.length > 0;
    this.known.set(key, { lastArrival: now, outOfRange: out });
    const base = { receivedAt: now, lastEventTime: d.lastEventTime, count: d.count, latest: d.latest };
    let change: ActivityReport['change'] | undefined;
    if (!prev) change = 'first-seen';
    else if (now - prev.lastArrival > expectedIntervalMs(this.o.rules, d.source, kind)) change = 'came-back';
    else if (out && !prev.outOfRange) change = 'out-of-range';
    if (!change) return undefined;
    return { kind, report: { ...base, change, ...(out ? { violations } : {}) } };
  }

  /** Signal-with-start of the device's workflow: starts it (with its kind and expected interval) when it does not run. */
  private signal(d: DeviceActivity, kind: DeviceKind, signal: 'reportActivity' | 'reportConnection', arg: unknown): Promise<unknown> {
    return this.o.client.workflow.signalWithStart('deviceEntity', {
      workflowId: deviceWorkflowId(d.source, d.deviceId),
      taskQueue: this.o.taskQueue,
      args: [{ source: d.source, deviceId: d.deviceId, kind, expectedIntervalMs: expectedIntervalMs(this.o.rules, d.source, kind) }],
      signal,
      signalArgs: [arg],
    });
  }

  private failed(d: DeviceActivity, e: unknown): void {
    (this.o.onError ?? ((dev, err) => console.warn(`device sink: ${dev.source}/${dev.deviceId}: ${(err as Error).message}`)))(d, e);
  }

  async onCommitted(devices: DeviceActivity[]): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    await Promise.all(
      devices.map(async (d) => {
        const c = this.classify(d, now);
        if (!c) return;
        try {
          await this.signal(d, c.kind, 'reportActivity', c.report);
          this.sent[c.report.change]++;
        } catch (e) {
          // Forget the device so the next batch reports it again.
          this.known.delete(`${d.source}\u0000${d.deviceId}`);
          this.failed(d, e);
        }
      }),
    );
  }

  /** Signals each birth or death to its device's workflow (started when new), one device's changes in order. */
  async onConnection(changes: DeviceConnectionChange[]): Promise<void> {
    const byDevice = new Map<string, DeviceConnectionChange[]>();
    for (const c of changes) {
      const k = `${c.source}\u0000${c.deviceId}`;
      byDevice.set(k, [...(byDevice.get(k) ?? []), c]);
    }
    await Promise.all(
      [...byDevice.values()].map(async (list) => {
        for (const c of list) {
          const d: DeviceActivity = { source: c.source, deviceId: c.deviceId, count: 0, firstEventTime: c.at, lastEventTime: c.at };
          try {
            await this.signal(d, this.kind(d), 'reportConnection', { online: c.online, at: c.at, cause: c.cause });
            this.connections[c.online ? 'online' : 'offline']++;
          } catch (e) {
            this.failed(d, e);
          }
        }
      }),
    );
  }
}
