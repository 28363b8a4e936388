/**
 * An MQTT 5 consumer that batches QoS 1 messages into PostgreSQL and sends each PUBACK only after the
 * batch that holds the message has committed.
 *
 * Session: `clean: false` with a session expiry, so the broker keeps the subscription and queues
 * messages while the consumer is away, and re-sends every message that was delivered but not
 * acknowledged when the consumer reconnects. Receive Maximum is raised to 65,535 so the broker keeps
 * sending while earlier messages wait for their batch to commit (the in-flight window is the batch's
 * upper bound); this is also the back-pressure: when the database is down nothing is acknowledged and
 * the broker stops sending once the window is full.
 *
 * MQTT.js sends the PUBACK as soon as its message handler returns and processes the next packet only
 * after that, so it cannot batch acknowledgements by itself (mqttjs/MQTT.js#691, #1299). This module
 * holds back the PUBACK packets MQTT.js emits and sends them after commit; it is the only place that
 * touches MQTT.js internals, and the exactly-once tests fail if that stops working.
 */
import { createHash } from 'node:crypto';
import { mqttSecurity } from '../config/mqtt-security';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { isTransientDbError } from '../db/errors';
import type { Pool } from '../db/pool';
import type { MappedBatch } from '../sources/compile';
import type { MqttOutgoing } from '../sources/formats/index';
import type { LoadedSource } from '../sources/load';
import { insertEncoded, nextBatchIds, withTransaction, type BatchResult, type DeadLetter } from './batch-writer';
import type { DeviceActivitySink } from './device-activity';
import { observeCommittedBatch } from '../observability/metrics';
import { ownSpan } from '../observability/tracing';
import { RateWindow } from './rate';

/** Options of {@link MqttBatchConsumer}. */
export interface MqttConsumerOptions {
  url: string;
  /** Stable client id: the broker keeps this session's subscription and unacknowledged messages. */
  clientId: string;
  /** Topic filter, e.g. `sensors/uci-occupancy/+` or a shared subscription `$share/g/sensors/#`. */
  topic: string;
  /** Source name recorded with every row (the stream's source; a template source file's rows carry it). */
  source: string;
  /** Messages per batch. @default 1000 */
  batchSize?: number;
  /** Longest wait before a partial batch is written, ms. @default 500 */
  flushIntervalMs?: number;
  /** Session expiry after disconnect, seconds. @default 604800 (7 days) */
  sessionExpirySeconds?: number;
  /**
   * The source file the topic carries, by name, when `declared` is not given: found like a stream's
   * kind (`findSource`) and bound to this consumer's source and topic. @default 'sensor'
   */
  kind?: string;
  /** The source (`sources/*.yaml`, compiled and bound to the stream): its mapping validates the messages and its table receives the rows. */
  declared?: LoadedSource;
  /** Receives one summary per device after each committed batch. */
  deviceSink?: DeviceActivitySink;
  /** Called after every committed batch. */
  onBatch?: (r: BatchResult) => void;
  /** Called when a flush fails and will be retried (e.g. database down). */
  onWaiting?: (reason: string | undefined) => void;
}

interface Pending {
  topic: string;
  payload: Buffer;
  messageId: number | undefined;
  /** When the consumer received it, epoch ms (a declared source's arrival time). */
  receivedAt: number;
  /** MQTT `DUP`: the broker re-sent it (delivered before, never acknowledged). */
  dup: boolean;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void) => void;

/** Topic `<prefix>/<source>/<device>` (e.g. `sensors/…`, `modems/…`, `fleet/…`) → `<source>`; shared-subscription prefixes are not part of received topics. */
export function sourceFromTopic(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts.length >= 3 && parts[0] && parts[1] ? parts[1] : undefined;
}

/**
 * SHA-256 (hex) of an MQTT message's topic and payload: MQTT carries no message identity, so this is
 * what names a message (its dead-letter dedupe key, a declared source's arrival-time `record_key`).
 */
export function mqttPayloadHash(topic: string, payload: Uint8Array): string {
  return createHash('sha256').update(topic).update('\0').update(payload).digest('hex');
}

/**
 * A shared subscription (`$share/<group>/<filter>`): the broker hands each message to one of the
 * group's sessions, so several workers split one topic. MQTT 5 §4.8.2.
 * @throws Error when the group name contains `/`, `+` or `#`.
 */
export function sharedTopic(group: string, filter: string): string {
  if (!group || /[/+#]/.test(group)) throw new Error(`Shared subscription group ${JSON.stringify(group)} must be non-empty without / + #.`);
  return `$share/${group}/${filter}`;
}

/**
 * The source file named `kind` bound to an MQTT stream (`sources/bind.ts`), compiled. The sources
 * module is loaded here, on first use, so importing the consumer stays cheap.
 * @throws Error when no source file has that name
 */
async function resolveSource(kind: string, source: string, topic: string): Promise<LoadedSource> {
  const { findSource, loadDeclaration } = await import('../sources/load');
  const { bindToStream } = await import('../sources/bind');
  const file = findSource(kind);
  if (!file) throw new Error(`no source file is named ${JSON.stringify(kind)}; add sources/${kind}.yaml`);
  const filter = topic.startsWith('$share/') ? topic.split('/').slice(2).join('/') : topic;
  const d = bindToStream(file.declaration, { stream: 'mqtt', source, topic: filter });
  return loadDeclaration(d, file.file, file.declaration.template ? { source } : {});
}

/** Batches MQTT messages into PostgreSQL; see the module comment for the delivery guarantees. */
export class MqttBatchConsumer {
  private client: MqttClient | undefined;
  private buffer: Pending[] = [];
  private heldAcks = new Map<number, { cmd: string; messageId?: number }>();
  private sendPacket: SendPacket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private followUp: Promise<void> | undefined;
  private stopped = false;
  private fatal: Error | undefined;
  /** No duplicates in the last batch: the next one tries the plain INSERT (see `Batch.assumeNew`). */
  private assumeNew = true;
  /** The source the messages are mapped through (set by `start`). */
  private declared: LoadedSource | undefined;
  /** The device sink's connection signals, one batch after the other. */
  private connectionSignals: Promise<void> = Promise.resolve();
  /** A session format's presence messages (Sparkplug host STATE), set by `start`. */
  private presence: { online: MqttOutgoing; offline: () => MqttOutgoing } | undefined;
  /** Totals since start. */
  readonly stats = { received: 0, committed: 0, inserted: 0, duplicates: 0, deadLettered: 0, batches: 0, published: 0 };
  /** Committed messages per second. */
  readonly rate = new RateWindow(60);
  /** Why the consumer is waiting (e.g. the database is unreachable), or undefined. */
  waitingReason: string | undefined;
  /** Since when it waits, epoch ms. */
  waitingSince: number | undefined;
  /** Last transient error seen (kept after recovery, for status). */
  lastError: string | undefined;
  /** Broker connection state. */
  connected = false;

  constructor(
    private readonly pool: Pool,
    private readonly options: MqttConsumerOptions,
  ) {}

  private get batchSize(): number {
    return this.options.batchSize ?? 1000;
  }

  /** Connects, subscribes with QoS 1 and starts batching. @throws when the broker refuses the connection or subscription. */
  async start(): Promise<void> {
    this.declared = this.options.declared ?? (await resolveSource(this.options.kind ?? 'sensor', this.options.source, this.options.topic));
    const session = this.declared.session;
    if (session) {
      // A session format (Sparkplug B) resumes where the last committed batch left it.
      const { rows } = await this.pool.query<{ state: unknown }>('SELECT state FROM ingest.source_state WHERE source = $1 ORDER BY key', [
        this.declared.source,
      ]);
      session.restore(rows.map((r) => r.state));
    }
    const presence = session?.mqtt?.start(Date.now());
    const mqttPresence = session?.mqtt;
    this.presence = presence && mqttPresence ? { online: presence.online, offline: () => mqttPresence.offline() } : undefined;
    const client = mqtt.connect(this.options.url, {
      ...mqttSecurity(),
      clientId: this.options.clientId,
      protocolVersion: 5,
      clean: false,
      manualConnect: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      properties: {
        sessionExpiryInterval: this.options.sessionExpirySeconds ?? 7 * 24 * 3600,
        receiveMaximum: 65535,
      },
      customHandleAcks: (_topic, _message, _packet, done) => done(0),
      ...(presence
        ? {
            will: {
              topic: presence.will.topic,
              payload: Buffer.from(presence.will.payload),
              qos: presence.will.qos,
              retain: presence.will.retain,
            },
          }
        : {}),
    });
    this.client = client;
    // A resumed session delivers its queued messages right after CONNACK: hold acknowledgements and
    // listen before connecting, or those messages would be acknowledged and dropped.
    this.holdPubacks(client);
    client.on('message', (topic, payload, packet: IPublishPacket) => this.onMessage(topic, payload, packet));
    let connections = 0;
    client.on('connect', () => {
      // A new connection cannot acknowledge packet ids of the old one: the broker re-sends them.
      this.heldAcks.clear();
      this.connected = true;
      // After a reconnect, subscribe again even when the broker says the session is present:
      // Mosquitto 2.0 does not restore shared subscriptions from persistence after a restart, and
      // re-subscribing an existing subscription is harmless (MQTT 5 §3.8.4: it replaces it, queued
      // messages are kept).
      if (connections++ > 0) {
        // `resubscribe: true` makes MQTT.js send the SUBSCRIBE although it believes it is subscribed.
        client
          .subscribeAsync({ [this.options.topic]: { qos: 1 }, resubscribe: true } as unknown as string)
          .then(() => {
            // The session's presence again (Sparkplug's host STATE): the will has said offline meanwhile.
            if (this.presence) this.publishAll([this.presence.online]);
          })
          .catch((e: unknown) => {
            this.lastError = `resubscribe: ${(e as Error).message}`;
          });
      }
    });
    client.on('close', () => {
      this.connected = false;
    });
    client.on('error', (e) => {
      this.lastError = `broker: ${e.message}`;
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => {
        client.removeListener('connect', onConnect);
        client.end(true);
        reject(e);
      };
      const onConnect = () => {
        client.removeListener('error', onError);
        resolve();
      };
      client.once('connect', onConnect);
      client.once('error', onError);
      client.connect();
    });
    const granted = await client.subscribeAsync(this.options.topic, { qos: 1 });
    const bad = granted.find((g) => g.qos !== 1);
    if (bad) throw new Error(`Broker refused the QoS 1 subscription to ${this.options.topic} (granted ${bad.qos}).`);
    // Subscribed first, then present (Sparkplug 3.0 §5.2: a host publishes its STATE online once it can receive).
    if (this.presence) await this.publish(this.presence.online);
  }

  private holdPubacks(client: MqttClient): void {
    const internal = client as unknown as { _sendPacket: SendPacket };
    const original = internal._sendPacket.bind(client);
    if (typeof original !== 'function') throw new Error('This MQTT.js version has no _sendPacket; deferred PUBACK cannot work.');
    this.sendPacket = original;
    internal._sendPacket = (packet, cb) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined) {
        this.heldAcks.set(packet.messageId, packet);
        cb?.();
        return;
      }
      original(packet, cb);
    };
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.stopped) return;
    this.stats.received++;
    this.buffer.push({
      topic,
      payload,
      messageId: packet.qos > 0 ? packet.messageId : undefined,
      receivedAt: Date.now(),
      dup: packet.dup === true,
    });
    // A flush that fails for good records its error in `error` (the run loop ends the run with it);
    // the rejection itself is handled here, or it would end the whole worker process.
    if (this.buffer.length >= this.batchSize) this.flush().catch(() => undefined);
    else if (!this.timer) this.timer = setTimeout(() => this.flush().catch(() => undefined), this.options.flushIntervalMs ?? 500);
  }

  /** Error that stopped the consumer (a permanent database error), if any. */
  get error(): Error | undefined {
    return this.fatal;
  }

  /** Writes everything buffered so far, then acknowledges it. Concurrent calls are serialised. */
  flush(): Promise<void> {
    if (this.flushing) {
      // One follow-up flush per running one, however many messages ask for it meanwhile.
      this.followUp ??= this.flushing
        .catch(() => undefined)
        .then(() => {
          this.followUp = undefined;
          return this.buffer.length ? this.flush() : undefined;
        });
      return this.followUp;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.buffer.length) return Promise.resolve();
    const batch = this.buffer.splice(0, this.buffer.length);
    this.flushing = this.commit(batch).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Maps a batch through the source; the returned `write` writes it in one transaction (with a session
   * format's state), `after` publishes the session's messages and reports its connection changes.
   */
  private async mapBatch(declared: LoadedSource, batch: Pending[]): Promise<{ write: () => Promise<BatchResult>; after?: () => void }> {
    const messages = batch.map((m) => ({
      payload: m.payload,
      topic: m.topic,
      arrivalTime: m.receivedAt,
      redelivered: m.dup,
      // MQTT carries no message identity: arrival-time rows are keyed by the payload's hash and time
      // (computed only for those rows).
      get identity() {
        return mqttPayloadHash(m.topic, m.payload).slice(0, 32);
      },
    }));
    const mapped = await declared.map(messages, Date.now());
    const deadLetters = mapped.rejected.map((r) => this.deadLetter(batch[r.index]!, r.code, r.reason));
    const session = mapped.session;
    const write = () =>
      withTransaction(this.pool, async (client) => {
        const [batchId] = await nextBatchIds(client, 1);
        const result = await insertEncoded(client, {
          source: declared.source,
          consumer: this.options.clientId,
          batchId: batchId!,
          records: declared.encode(mapped.rows, batchId!),
          deadLetters,
          assumeNew: this.assumeNew,
        });
        if (session?.state.length) {
          await client.query(
            `INSERT INTO ingest.source_state (source, key, state, batch_id)
             SELECT $1, k, s, $4 FROM unnest($2::text[], $3::jsonb[]) AS t(k, s)
             ON CONFLICT (source, key) DO UPDATE SET state = EXCLUDED.state, batch_id = EXCLUDED.batch_id, updated_at = now()`,
            [declared.source, session.state.map((x) => x.key), session.state.map((x) => JSON.stringify(x.value)), batchId],
          );
        }
        return result;
      });
    return session ? { write, after: () => this.afterSession(declared, session) } : { write };
  }

  /** After a session format's batch committed: its commands (Sparkplug rebirth requests) and connection changes. */
  private afterSession(declared: LoadedSource, session: NonNullable<MappedBatch['session']>): void {
    if (session.publish.length) this.publishAll(session.publish);
    const sink = this.options.deviceSink;
    if (sink?.onConnection && session.connections.length) {
      const changes = session.connections.map((c) => ({ source: declared.source, ...c }));
      // In order across batches: a device's birth and death signals must not overtake each other.
      this.connectionSignals = this.connectionSignals
        .then(() => sink.onConnection!(changes))
        .catch((e: unknown) => {
          this.lastError = `device sink: ${(e as Error).message}`;
        });
    }
  }

  /** Publishes one session message. @throws when not started or the broker refuses it */
  private publish(m: MqttOutgoing): Promise<unknown> {
    if (!this.client) return Promise.reject(new Error('MqttBatchConsumer: start() first'));
    return this.client.publishAsync(m.topic, Buffer.from(m.payload), { qos: m.qos, retain: m.retain });
  }

  /** Publishes `messages` in order; a failure is recorded, not thrown (commands are re-sent when asked again). */
  private publishAll(messages: MqttOutgoing[]): void {
    if (!this.client) return;
    for (const m of messages) {
      this.publish(m)
        .then(() => {
          this.stats.published++;
        })
        .catch((e: unknown) => {
          this.lastError = `publish ${m.topic}: ${(e as Error).message}`;
        });
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const declared = this.declared;
    if (!declared) throw new Error('MqttBatchConsumer: start() first');
    let mapped: { write: () => Promise<BatchResult>; after?: () => void };
    try {
      mapped = await this.mapBatch(declared, batch);
    } catch (e) {
      // A mapping that throws (instead of rejecting a message) is a bug: end the run, unacknowledged.
      this.fatal = e as Error;
      throw e;
    }
    return this.commitWith(batch, mapped.write, mapped.after);
  }

  /** Runs `write` until it commits (retrying while PostgreSQL is unavailable), then acknowledges `batch` and runs `after`. */
  private async commitWith(batch: Pending[], write: () => Promise<BatchResult>, after?: () => void): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        const t0 = performance.now();
        const result = await ownSpan(
          'ingest.commit',
          { 'iot.source': this.declared?.source ?? this.options.source, 'iot.transport': 'mqtt', 'iot.messages': batch.length },
          async (span) => {
            const r = await write();
            span.setAttributes({ 'iot.rows': r.inserted, 'iot.dead_letters': r.deadLettered, 'iot.batch_id': r.batchId });
            return r;
          },
        );
        observeCommittedBatch({
          source: this.declared?.source ?? this.options.source,
          transport: 'mqtt',
          messages: batch.length,
          inserted: result.inserted,
          duplicates: result.duplicates,
          deadLettersByCode: result.deadLettersByCode,
          seconds: (performance.now() - t0) / 1000,
        });
        this.assumeNew = result.duplicates === 0;
        this.setWaiting(undefined);
        this.ackAll(batch);
        after?.();
        this.rate.add(batch.length);
        if (this.options.deviceSink && result.devices.length) {
          // A sink failure must not undo or block ingest: the rows are committed and acknowledged.
          this.options.deviceSink.onCommitted(result.devices).catch((e: unknown) => {
            this.lastError = `device sink: ${(e as Error).message}`;
          });
        }
        this.stats.committed += batch.length;
        this.stats.inserted += result.inserted;
        this.stats.duplicates += result.duplicates;
        this.stats.deadLettered += result.deadLettered;
        this.stats.batches++;
        this.options.onBatch?.(result);
        return;
      } catch (e) {
        if (!isTransientDbError(e) || this.stopped) {
          // Not acknowledged: the broker re-sends these messages to the next session.
          if (!isTransientDbError(e)) this.fatal = e as Error;
          throw e;
        }
        this.lastError = `database: ${(e as Error).message}`;
        this.setWaiting(
          `database unavailable: ${(e as Error).message}; holding ${batch.length} unacknowledged messages, retrying in ${delay} ms`,
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private setWaiting(reason: string | undefined): void {
    if (reason !== this.waitingReason) {
      if (reason === undefined) this.waitingSince = undefined;
      else this.waitingSince ??= Date.now();
      this.waitingReason = reason;
      this.options.onWaiting?.(reason);
    }
  }

  private dedupeKey(m: Pending): string {
    return `mqtt:${mqttPayloadHash(m.topic, m.payload)}`;
  }

  private deadLetter(m: Pending, code: DeadLetter['code'], reason: string): DeadLetter {
    return {
      source: this.declared!.source,
      origin: { mqttTopic: m.topic, messageId: m.messageId ?? null },
      payload: m.payload,
      code,
      reason,
      dedupeKey: this.dedupeKey(m),
      kind: this.declared!.kind as DeadLetter['kind'],
    };
  }

  private ackAll(batch: Pending[]): void {
    if (!this.sendPacket) return;
    for (const m of batch) {
      if (m.messageId === undefined) continue;
      const packet = this.heldAcks.get(m.messageId);
      if (!packet) continue;
      this.heldAcks.delete(m.messageId);
      this.sendPacket(packet);
    }
  }

  /**
   * Stops consuming. With `flush` (graceful), commits and acknowledges what is buffered first, giving
   * up after `flushTimeoutMs` (e.g. the database is down); whatever is not committed then is dropped
   * unacknowledged, so the broker re-sends it to the next session.
   */
  async stop({ flush = true, flushTimeoutMs = 10_000 }: { flush?: boolean; flushTimeoutMs?: number } = {}): Promise<void> {
    if (flush) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([
        this.flush().then(
          () => false,
          () => false,
        ),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), flushTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (gaveUp) {
        this.stopped = true;
        await this.flushing?.catch(() => {});
      }
    }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.presence && this.client?.connected) {
      // A clean stop says so itself (Sparkplug 3.0 §5.2: the host's STATE offline, before disconnecting).
      await this.publish(this.presence.offline()).catch(() => undefined);
    }
    await this.client?.endAsync(!flush).catch(() => {});
  }
}
