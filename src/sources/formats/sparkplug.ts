/**
 * `format: sparkplug_b`: Eclipse Sparkplug B 3.0 over MQTT, read as a *host application* does
 * (`src/sparkplug/`): the topic names the group, message type, edge node and device; the payload is
 * Sparkplug's protobuf; births record each metric's name, alias and datatype; data resolves aliases;
 * sequence numbers are checked per edge node; deaths are matched by `bdSeq`.
 *
 * Each message becomes one record per distinct metric timestamp (and `is_historical` flag):
 *
 * ```text
 * { group_id, edge_node_id, device_id?, device_path, message_type, seq, timestamp, is_historical,
 *   "<metric name>": value, … }
 * ```
 *
 * `device_path` is `<edge_node_id>/<device_id>` for a device's messages and `<edge_node_id>` for the
 * node's own; `timestamp` is the metric's own time, else the payload's, else the arrival (epoch ms).
 * Values are read by the datatype of the birth certificate (`src/sparkplug/payload.ts`): the Int and UInt types as
 * integers (64-bit beyond 2^53 as decimal strings), Float/Double, Boolean, String/Text/UUID, DateTime
 * as epoch ms, DataSet, Template, arrays and bytes as JSON. The protocol's own metrics (`bdSeq`,
 * `Node Control/*`) are not data and are left out.
 *
 * A message the host cannot place (a sequence gap, an unknown alias, data before its birth) is
 * rejected with the code `sparkplug_session` and the reason, and the edge node is asked for a rebirth
 * (an `NCMD` with `Node Control/Rebirth` = true, published after the batch commits); its following
 * messages are rejected too until the `NBIRTH` arrives: nothing is guessed. Births and deaths are
 * reported as connection changes, and the host's per-edge-node state is stored with each batch
 * (`ingest.source_state`) so a restarted consumer keeps its alias tables and sequence numbers.
 */
import { encodePayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { MAX_PAYLOAD_BYTES } from '../../ingest/payload';
import { BDSEQ_METRIC, REBIRTH_METRIC, SparkplugHost, type EdgeNodeState, type ResolvedMetric } from '../../sparkplug/host';
import { decodeSparkplugPayload, SparkplugPayloadError } from '../../sparkplug/payload';
import { hostStateTopic, nodeCommandTopic, parseSparkplugTopic } from '../../sparkplug/topic';
import type { DecodeResult, FormatFactory, FormatSession, MqttOutgoing, PayloadRecord, SessionEffects } from './index';

/** The host application id of the `STATE` topic when the file declares none. @default 'iot-pipelines' */
export const DEFAULT_HOST_ID = 'iot-pipelines';

const isControl = (name: string) => name === BDSEQ_METRIC || name.startsWith('Node Control/');

/** The records of one message's metrics: one per (timestamp, is_historical). */
function recordsOf(base: PayloadRecord, metrics: ResolvedMetric[]): PayloadRecord[] {
  // The usual message: every data metric at one time (one record, no grouping).
  let first: ResolvedMetric | undefined;
  let uniform = true;
  for (const m of metrics) {
    if (isControl(m.name)) continue;
    if (!first) first = m;
    else if (m.timestamp !== first.timestamp || m.isHistorical !== first.isHistorical) {
      uniform = false;
      break;
    }
  }
  if (!first) return [];
  if (uniform) {
    const r: PayloadRecord = Object.assign({}, base);
    r.timestamp = first.timestamp;
    r.is_historical = first.isHistorical;
    for (const m of metrics) if (!isControl(m.name)) r[m.name] = m.value;
    return [r];
  }
  const groups = new Map<string, PayloadRecord>();
  for (const m of metrics) {
    if (isControl(m.name)) continue;
    const k = `${m.timestamp}|${m.isHistorical ? 1 : 0}`;
    let r = groups.get(k);
    if (!r) {
      r = { ...base, timestamp: m.timestamp, is_historical: m.isHistorical };
      groups.set(k, r);
    }
    r[m.name] = m.value;
  }
  return [...groups.values()];
}

/** See the module comment. */
export const sparkplugFormat: FormatFactory = (format) => {
  const hostId = (format as { host_id?: string }).host_id ?? DEFAULT_HOST_ID;
  const host = new SparkplugHost();
  let publish: MqttOutgoing[] = [];
  let connections: SessionEffects['connections'] = [];
  let sessionStarted = 0;

  const stateMessage = (online: boolean): MqttOutgoing => ({
    topic: hostStateTopic(hostId),
    payload: Buffer.from(JSON.stringify({ online, timestamp: sessionStarted })),
    qos: 1,
    retain: true,
  });

  const session: FormatSession = {
    restore(states) {
      host.restore(states as EdgeNodeState[]);
    },
    takeEffects() {
      const out: SessionEffects = {
        state: host.takeChanged().map((s) => ({ key: `${s.groupId}/${s.edgeNodeId}`, value: s })),
        publish,
        connections,
      };
      publish = [];
      connections = [];
      return out;
    },
    mqtt: {
      start(now) {
        sessionStarted = now;
        return { will: stateMessage(false), online: stateMessage(true) };
      },
      offline: () => stateMessage(false),
    },
  };

  return {
    textual: false,
    session,
    decode(payload, message): DecodeResult {
      if (!message?.topic) return { ok: false, code: 'topic', reason: 'a Sparkplug B message is read with its topic' };
      const t = parseSparkplugTopic(message.topic);
      if (!t.ok) return { ok: false, code: 'topic', reason: t.reason };
      if (t.topic.kind === 'state') return { ok: true, records: [] };
      if (payload.byteLength > MAX_PAYLOAD_BYTES) {
        return { ok: false, code: 'oversized', reason: `payload is ${payload.byteLength} bytes; the limit is ${MAX_PAYLOAD_BYTES}` };
      }
      let decoded;
      try {
        decoded = decodeSparkplugPayload(payload);
      } catch (e) {
        if (e instanceof SparkplugPayloadError) return { ok: false, code: 'schema', reason: e.message };
        throw e;
      }
      const { groupId, edgeNodeId, deviceId, messageType } = t.topic;
      const outcome = host.handle(t.topic, decoded, message.arrivalTime, message.redelivered === true);
      if (outcome.kind === 'ignored') return { ok: true, records: [] };
      if (outcome.kind === 'rejected') {
        if (outcome.rebirth) {
          publish.push({
            topic: nodeCommandTopic(groupId, edgeNodeId),
            payload: Buffer.from(
              encodePayload({ timestamp: message.arrivalTime, metrics: [{ name: REBIRTH_METRIC, type: 'Boolean', value: true }] }),
            ),
            qos: 0,
            retain: false,
          });
        }
        return { ok: false, code: 'sparkplug_session', reason: outcome.reason };
      }
      const base: PayloadRecord = {
        group_id: groupId,
        edge_node_id: edgeNodeId,
        ...(deviceId !== undefined ? { device_id: deviceId } : {}),
        device_path: deviceId === undefined ? edgeNodeId : `${edgeNodeId}/${deviceId}`,
        message_type: messageType,
        seq: decoded.seq ?? null,
      };
      for (const c of outcome.connections) {
        connections.push({
          record: {
            group_id: c.groupId,
            edge_node_id: c.edgeNodeId,
            ...(c.deviceId !== undefined ? { device_id: c.deviceId } : {}),
            device_path: c.deviceId === undefined ? c.edgeNodeId : `${c.edgeNodeId}/${c.deviceId}`,
          },
          online: c.online,
          at: c.at,
          cause: c.cause,
        });
      }
      // PostgreSQL text and jsonb cannot hold U+0000: one such value would fail the whole batch.
      const nul = outcome.metrics.find((m) =>
        typeof m.value === 'string' ? m.value.includes('\u0000') : (JSON.stringify(m.value) ?? '').includes('\\u0000'),
      );
      if (nul) return { ok: false, code: 'schema', reason: `metric ${nul.name}: contains U+0000, which PostgreSQL cannot store` };
      return { ok: true, records: recordsOf(base, outcome.metrics) };
    },
  };
};
