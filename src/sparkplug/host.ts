/**
 * The state a Sparkplug B host application keeps per edge node (Eclipse Sparkplug 3.0 §5 "Operational
 * Behavior"), as pure code: no I/O and no clock (arrival times are passed in), and the state is plain
 * JSON ({@link EdgeNodeState}) so it can be stored with each committed batch and loaded on restart.
 *
 * - `NBIRTH` starts a session: its `bdSeq` metric, its sequence number, and every metric's name,
 *   alias and datatype (the alias table; the node's devices must be born again).
 * - `DBIRTH` adds a device's metrics to the node's alias table (aliases are unique per edge node).
 * - Every message of a born node after `NBIRTH` carries `seq` = previous + 1 (mod 256); `NDEATH` has
 *   none. A gap, data of an unknown alias or name, a device without `DBIRTH`, or a node without
 *   `NBIRTH` makes the host ask for a rebirth (`NCMD` `Node Control/Rebirth` = true) and reject the
 *   message with the reason; so is every following message of that node until its next `NBIRTH`
 *   (nothing is guessed).
 * - `NDEATH` ends the session only when its `bdSeq` is the current birth's (an older will delivered
 *   late is ignored); it takes the node's devices offline. `DDEATH` takes one device offline.
 * - Commands (`NCMD`, `DCMD`) and other hosts' `STATE` are not data: they are ignored.
 */
import { columnOf, DATATYPES, metricValue, SparkplugPayloadError, type DecodedPayload, type MetricValue } from './payload';
import type { SparkplugTopic } from './topic';

/** How long a host waits for the rebirth it asked for before asking again, ms. @default 5000 */
export const REBIRTH_RETRY_MS = 5_000;
/** The metric every `NBIRTH` and `NDEATH` carries (Sparkplug 3.0 §6.4.19). */
export const BDSEQ_METRIC = 'bdSeq';
/** The metric a rebirth request sets to true in an `NCMD` (Sparkplug 3.0 §6.4.20). */
export const REBIRTH_METRIC = 'Node Control/Rebirth';

/** One known metric of an edge node or one of its devices. */
export interface KnownMetric {
  name: string;
  datatype: number;
  /** The device it belongs to; absent for the node's own metrics. */
  device?: string;
}

/** What the host knows of one edge node: plain JSON (stored with each committed batch). */
export interface EdgeNodeState {
  groupId: string;
  edgeNodeId: string;
  online: boolean;
  /** `bdSeq` of the current session's `NBIRTH` (a number, or a decimal string beyond 2^53). */
  bdSeq?: number | string;
  /** The `seq` the next message must carry (0–255). */
  nextSeq?: number;
  /** Why the node's messages are refused until its next `NBIRTH`. */
  awaitingRebirth?: string;
  /** When a rebirth was last requested (arrival time, epoch ms). */
  rebirthRequestedAt?: number;
  /** Alias (decimal) → metric. */
  aliases: Record<string, KnownMetric>;
  /** `<device>/<name>` (`/<name>` for the node's own metrics) → datatype. */
  names: Record<string, number>;
  /** Device id → online. */
  devices: Record<string, boolean>;
}

/** A metric resolved to its name and datatype, with its value and time. */
export interface ResolvedMetric {
  name: string;
  alias?: number;
  datatype: string;
  /** The column its value goes to (see `columnOf`). */
  column: string;
  value: MetricValue;
  /** Epoch ms: the metric's own timestamp, else the payload's, else the arrival time. */
  timestamp: number;
  isHistorical: boolean;
  isTransient: boolean;
}

/** A node or device that came online or went offline. */
export interface ConnectionChange {
  groupId: string;
  edgeNodeId: string;
  deviceId?: string;
  online: boolean;
  /** Epoch ms (the message's timestamp, else the arrival). */
  at: number;
  cause: 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDEATH';
}

/** What the host makes of one message. */
export type HostOutcome =
  | { kind: 'metrics'; metrics: ResolvedMetric[]; connections: ConnectionChange[] }
  | { kind: 'rejected'; reason: string; rebirth: boolean }
  | { kind: 'ignored'; why: string };

const nodeKey = (g: string, e: string) => `${g}\u0000${e}`;
/** `<device>/<name>`, `/<name>` for the node's own (device ids are one topic level: no `/`); jsonb keys cannot hold U+0000. */
const nameKey = (device: string | undefined, name: string) => `${device ?? ''}/${name}`;

/** A bdSeq as text, for comparing a death with its birth. */
function seqText(v: unknown): string {
  return typeof v === 'number' || typeof v === 'string' ? String(v) : JSON.stringify(v ?? null);
}

function longNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    return l.high * 2 ** 32 + (l.low >>> 0);
  }
  return undefined;
}

/** The host's edge node states and the rules that change them; see the module comment. */
export class SparkplugHost {
  private readonly nodes = new Map<string, EdgeNodeState>();
  /** Nodes changed since the last {@link takeChanged}. */
  private readonly changed = new Set<string>();

  constructor(states: readonly EdgeNodeState[] = []) {
    this.restore(states);
  }

  /** Replaces what is known of these edge nodes with stored states (a restarted consumer's). */
  restore(states: readonly EdgeNodeState[]): void {
    for (const s of states) this.nodes.set(nodeKey(s.groupId, s.edgeNodeId), structuredClone(s));
  }

  /** The state of one edge node (a copy), if known. */
  node(groupId: string, edgeNodeId: string): EdgeNodeState | undefined {
    const s = this.nodes.get(nodeKey(groupId, edgeNodeId));
    return s && structuredClone(s);
  }

  /** The states changed since the last call (copies), to store with the batch. */
  takeChanged(): EdgeNodeState[] {
    const out = [...this.changed].map((k) => structuredClone(this.nodes.get(k)!));
    this.changed.clear();
    return out;
  }

  /**
   * Applies one message of an edge node or device.
   * @param arrival epoch ms, for metrics and payloads without a timestamp and for rebirth pacing
   * @param redelivered the broker re-sent it (MQTT `DUP`: it was delivered before, unacknowledged).
   *   Such a message out of sequence was already applied by the batch that committed before a restart
   *   (whose PUBACK never left): it is ignored, not taken for a gap.
   */
  handle(topic: SparkplugTopic, payload: DecodedPayload, arrival: number, redelivered = false): HostOutcome {
    if (topic.kind === 'state') return { kind: 'ignored', why: `STATE of host ${topic.hostId}` };
    const { groupId, edgeNodeId, messageType: type, deviceId } = topic;
    if (type === 'NCMD' || type === 'DCMD') return { kind: 'ignored', why: `${type} is a command, not data` };
    const key = nodeKey(groupId, edgeNodeId);
    const where = `edge node ${groupId}/${edgeNodeId}`;
    const at = payload.timestamp ?? arrival;
    if (type === 'NBIRTH') return this.birth(key, groupId, edgeNodeId, payload, arrival);
    const s = this.nodes.get(key);
    if (type === 'NDEATH') {
      const bd = payload.metrics.find((m) => m.name === BDSEQ_METRIC);
      const bdSeq = bd ? seqText(metricValue(bd, bd.datatype || 8)) : undefined;
      if (!s || !s.online) return { kind: 'ignored', why: `NDEATH of ${where}, which is not online` };
      if (bdSeq === undefined || bdSeq !== seqText(s.bdSeq)) {
        return { kind: 'ignored', why: `NDEATH of ${where} with bdSeq ${bdSeq ?? 'none'}, not the current session's ${seqText(s.bdSeq)}` };
      }
      const connections: ConnectionChange[] = [{ groupId, edgeNodeId, online: false, at, cause: 'NDEATH' }];
      for (const [d, online] of Object.entries(s.devices)) {
        if (online) connections.push({ groupId, edgeNodeId, deviceId: d, online: false, at, cause: 'NDEATH' });
        s.devices[d] = false;
      }
      s.online = false;
      s.nextSeq = undefined;
      this.changed.add(key);
      return { kind: 'metrics', metrics: [], connections };
    }
    if (!s || (!s.online && !s.awaitingRebirth)) {
      return this.refuse(key, groupId, edgeNodeId, arrival, `no NBIRTH seen from ${where} (its session is not known to this host)`);
    }
    if (s.awaitingRebirth) return this.refuse(key, groupId, edgeNodeId, arrival, s.awaitingRebirth, true);
    if (payload.seq === undefined || payload.seq !== s.nextSeq) {
      if (redelivered && payload.seq !== undefined) {
        return { kind: 'ignored', why: `redelivered ${type} of ${where} with seq ${payload.seq}: applied before (next is ${s.nextSeq})` };
      }
      return this.refuse(
        key,
        groupId,
        edgeNodeId,
        arrival,
        `sequence gap from ${where}: expected seq ${s.nextSeq}, received ${payload.seq ?? 'none'} on ${type}${deviceId ? ` of ${deviceId}` : ''}`,
      );
    }
    s.nextSeq = (payload.seq + 1) % 256;
    this.changed.add(key);
    if (type === 'DBIRTH') {
      const r = this.register(s, payload, deviceId);
      if (typeof r === 'string') return this.refuse(key, groupId, edgeNodeId, arrival, `DBIRTH of ${deviceId}: ${r}`);
      s.devices[deviceId!] = true;
      const metrics = this.resolve(s, payload, deviceId, arrival);
      if (typeof metrics === 'string') return this.refuse(key, groupId, edgeNodeId, arrival, `DBIRTH of ${deviceId}: ${metrics}`);
      return { kind: 'metrics', metrics, connections: [{ groupId, edgeNodeId, deviceId, online: true, at, cause: 'DBIRTH' }] };
    }
    if (deviceId !== undefined && !s.devices[deviceId]) {
      return this.refuse(
        key,
        groupId,
        edgeNodeId,
        arrival,
        `${type} of device ${deviceId} of ${where}, which has no DBIRTH in this session`,
      );
    }
    if (type === 'DDEATH') {
      s.devices[deviceId!] = false;
      return { kind: 'metrics', metrics: [], connections: [{ groupId, edgeNodeId, deviceId, online: false, at, cause: 'DDEATH' }] };
    }
    const metrics = this.resolve(s, payload, deviceId, arrival);
    if (typeof metrics === 'string')
      return this.refuse(key, groupId, edgeNodeId, arrival, `${type}${deviceId ? ` of ${deviceId}` : ''}: ${metrics}`);
    return { kind: 'metrics', metrics, connections: [] };
  }

  private birth(key: string, groupId: string, edgeNodeId: string, payload: DecodedPayload, arrival: number): HostOutcome {
    const where = `edge node ${groupId}/${edgeNodeId}`;
    const prev = this.nodes.get(key);
    const s: EdgeNodeState = { groupId, edgeNodeId, online: false, aliases: {}, names: {}, devices: {} };
    if (prev?.rebirthRequestedAt !== undefined) s.rebirthRequestedAt = prev.rebirthRequestedAt;
    this.nodes.set(key, s);
    this.changed.add(key);
    const bd = payload.metrics.find((m) => m.name === BDSEQ_METRIC);
    if (payload.seq === undefined || payload.seq < 0 || payload.seq > 255) {
      return this.refuse(key, groupId, edgeNodeId, arrival, `NBIRTH of ${where} without a seq between 0 and 255`);
    }
    if (!bd) return this.refuse(key, groupId, edgeNodeId, arrival, `NBIRTH of ${where} has no ${BDSEQ_METRIC} metric`);
    const r = this.register(s, payload, undefined);
    if (typeof r === 'string') return this.refuse(key, groupId, edgeNodeId, arrival, `NBIRTH of ${where}: ${r}`);
    const metrics = this.resolve(s, payload, undefined, arrival);
    if (typeof metrics === 'string') return this.refuse(key, groupId, edgeNodeId, arrival, `NBIRTH of ${where}: ${metrics}`);
    s.bdSeq = metricValue(bd, bd.datatype || 8) as number | string;
    s.nextSeq = (payload.seq + 1) % 256;
    s.online = true;
    delete s.rebirthRequestedAt;
    // Devices born in the previous session must be born again (and are offline until then).
    const at = payload.timestamp ?? arrival;
    const connections: ConnectionChange[] = [{ groupId, edgeNodeId, online: true, at, cause: 'NBIRTH' }];
    for (const [d, online] of Object.entries(prev?.devices ?? {})) {
      s.devices[d] = false;
      if (online) connections.push({ groupId, edgeNodeId, deviceId: d, online: false, at, cause: 'NBIRTH' });
    }
    return { kind: 'metrics', metrics, connections };
  }

  /** Records a birth's metric definitions; a reason when one is incomplete or an alias is taken. */
  private register(s: EdgeNodeState, payload: DecodedPayload, device: string | undefined): string | undefined {
    if (device !== undefined) {
      // A device's rebirth replaces its definitions.
      for (const [a, m] of Object.entries(s.aliases)) if (m.device === device) delete s.aliases[a];
      for (const k of Object.keys(s.names)) if (k.startsWith(`${device}/`)) delete s.names[k];
    }
    for (const [i, m] of payload.metrics.entries()) {
      if (!m.name) return `metric ${i + 1} has no name (a birth certificate names every metric)`;
      if (m.name.includes('\u0000')) return `metric ${i + 1}: its name contains U+0000, which PostgreSQL cannot store`;
      if (!m.datatype || !columnOf(m.datatype)) return `metric ${m.name} has no known datatype (${m.datatype ?? 'none'})`;
      s.names[nameKey(device, m.name)] = m.datatype;
      const alias = longNumber(m.alias);
      if (alias !== undefined && m.alias !== null && Object.prototype.hasOwnProperty.call(m, 'alias')) {
        const taken = s.aliases[String(alias)];
        if (taken && (taken.device !== device || taken.name !== m.name)) {
          return `alias ${alias} of ${m.name} is already ${taken.name}${taken.device ? ` of ${taken.device}` : ''} (aliases are unique per edge node)`;
        }
        s.aliases[String(alias)] =
          device === undefined ? { name: m.name, datatype: m.datatype } : { name: m.name, datatype: m.datatype, device };
      }
    }
    return undefined;
  }

  /** The message's metrics by name and datatype; a reason when one cannot be resolved or read. */
  private resolve(s: EdgeNodeState, payload: DecodedPayload, device: string | undefined, arrival: number): ResolvedMetric[] | string {
    const out: ResolvedMetric[] = [];
    for (const [i, m] of payload.metrics.entries()) {
      const hasAlias = Object.prototype.hasOwnProperty.call(m, 'alias') && m.alias !== null && m.alias !== undefined;
      const alias = hasAlias ? longNumber(m.alias) : undefined;
      let name = m.name ?? undefined;
      let datatype = m.datatype || undefined;
      let born: number | undefined;
      if (!name) {
        if (alias === undefined) return `metric ${i + 1} has neither a name nor an alias`;
        const known = s.aliases[String(alias)];
        if (!known || known.device !== device)
          return `unknown alias ${alias}${device ? ` for device ${device}` : ''} (not in the birth certificate)`;
        name = known.name;
        born = known.datatype;
      } else {
        born = s.names[nameKey(device, name)];
        if (born === undefined) return `unknown metric ${name}${device ? ` of device ${device}` : ''} (not in the birth certificate)`;
      }
      if (born === undefined) return `metric ${name}: no datatype known`;
      if (datatype !== undefined && datatype !== born) {
        return `metric ${name}: datatype ${DATATYPES[datatype] ?? datatype} differs from its birth certificate's ${DATATYPES[born] ?? born}`;
      }
      datatype = born;
      let value: MetricValue;
      try {
        value = metricValue(m, datatype);
      } catch (e) {
        if (e instanceof SparkplugPayloadError) return `metric ${name}: ${e.message}`;
        throw e;
      }
      const ts = Object.prototype.hasOwnProperty.call(m, 'timestamp') ? longNumber(m.timestamp) : undefined;
      const r: ResolvedMetric = {
        name,
        datatype: DATATYPES[datatype] ?? String(datatype),
        column: columnOf(datatype) ?? 'jsonb',
        value,
        timestamp: ts ?? payload.timestamp ?? arrival,
        isHistorical: m.isHistorical === true,
        isTransient: m.isTransient === true,
      };
      if (alias !== undefined) r.alias = alias;
      out.push(r);
    }
    return out;
  }

  /** Rejects a message of a node, asking for a rebirth unless one was asked for in the last {@link REBIRTH_RETRY_MS}. */
  private refuse(key: string, groupId: string, edgeNodeId: string, arrival: number, reason: string, waiting = false): HostOutcome {
    let s = this.nodes.get(key);
    if (!s) {
      s = { groupId, edgeNodeId, online: false, aliases: {}, names: {}, devices: {} };
      this.nodes.set(key, s);
    }
    const full = waiting ? `${edgeNodeId} awaits its rebirth: ${reason}` : reason;
    if (!s.awaitingRebirth) s.awaitingRebirth = reason;
    const rebirth = s.rebirthRequestedAt === undefined || arrival - s.rebirthRequestedAt >= REBIRTH_RETRY_MS;
    if (rebirth) s.rebirthRequestedAt = arrival;
    this.changed.add(key);
    return { kind: 'rejected', reason: rebirth ? `${full}; rebirth requested` : full, rebirth };
  }
}
