/**
 * The MQTT ingest activity: a long-running consumer (see src/ingest/mqtt-consumer.ts) that heartbeats
 * its counters every second and returns its stats after `runForMs` (or when cancelled: pause, worker
 * shutdown) so the supervising workflow can record progress and continue-as-new. Messages never pass
 * through workflow history.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import type { DeviceActivitySink } from '../ingest/device-activity';
import { MqttBatchConsumer, sharedTopic } from '../ingest/mqtt-consumer';
import { hostPort, tcpCheck, useDependency } from '../observability/dependencies';
import { metrics, setStreamState } from '../observability/metrics';
import {
  checkSecuritySettings,
  heartbeatEvery,
  prepareStreamSource,
  runConsumerLoop,
  runFailure,
  type ConsumerRunStats,
} from './stream-common';

/** Input of `consumeMqtt`. */
export interface ConsumeMqttInput {
  /** Source name, e.g. `uci-occupancy`. */
  source: string;
  /** Topic filter. @default `sensors/<source>/+` */
  topic?: string;
  /** What the topic carries. @default 'sensor' */
  kind?: string;
  /**
   * Shared-subscription group: when set, subscribes `$share/<group>/<topic>` so the members of the
   * group (one session each) split the topic.
   */
  shareGroup?: string;
  /** Member index within the share group; part of the default client id. */
  member?: number;
  /** MQTT client id (persistent session). @default `iot-pipelines-ingest-<source>` (`…-m<member>` when shared) */
  clientId?: string;
  /** @default 1000 */
  batchSize?: number;
  /** @default 500 ms */
  flushIntervalMs?: number;
  /** How long this activity consumes before returning its stats, ms. @default 60000 */
  runForMs?: number;
  /** Return early (with `waitingReason`) after waiting this long for the database, ms. @default 15000 */
  returnWhenWaitingMs?: number;
  /**
   * A declared source (a `sources/*.yaml` file parsed to JSON): its table is created or evolved, then
   * its mapping validates the messages; the topic filter defaults to the one its template derives.
   */
  declaration?: unknown;
}

/** Stats of one `consumeMqtt` run; also sent as heartbeat details while it runs. */
export type ConsumeMqttStats = ConsumerRunStats;

/** Clients the MQTT activities need. */
export interface MqttIngestDeps {
  pool: Pool;
  mqttUrl: string;
  /** Receives per-device summaries after each committed batch (device entity workflows). */
  deviceSink?: DeviceActivitySink;
}

/** Builds the MQTT ingest activities. */
export function createMqttIngestActivities({ pool, mqttUrl, deviceSink }: MqttIngestDeps) {
  return {
    /**
     * Consumes `topic` with QoS 1 into PostgreSQL for `runForMs`, heartbeating every second.
     * On cancellation (pause, worker shutdown) it commits and acknowledges what it holds, then returns. When the
     * database has been unreachable for `returnWhenWaitingMs` it returns with `waitingReason`, leaving
     * what it holds unacknowledged (the broker re-sends it to the next run).
     * @throws ApplicationFailure (non-retryable) when the input is invalid; the broker's refusal or a
     * permanent database error fails the run with its counters as `details[0]` (the workflow restarts
     * it, see stream-supervisor.ts).
     */
    async consumeMqtt(input: ConsumeMqttInput): Promise<ConsumeMqttStats> {
      checkSecuritySettings('mqtt');
      if (!/^[A-Za-z0-9_.-]+$/.test(input.source)) {
        throw ApplicationFailure.nonRetryable(`source ${JSON.stringify(input.source)} must match [A-Za-z0-9_.-]+`, 'InvalidInput');
      }
      const declared = await prepareStreamSource(pool, {
        declaration: input.declaration,
        kind: input.kind ?? 'sensor',
        binding: { stream: 'mqtt', source: input.source, topic: input.topic },
      });
      const startedAt = new Date().toISOString();
      const started = Date.now();
      const filter = input.topic ?? declared?.mqttFilter ?? `sensors/${input.source}/+`;
      let topic = filter;
      try {
        if (input.shareGroup) topic = sharedTopic(input.shareGroup, filter);
      } catch (e) {
        throw ApplicationFailure.nonRetryable((e as Error).message, 'InvalidInput');
      }
      const base = `iot-pipelines-ingest-${input.source}`;
      const consumer = new MqttBatchConsumer(pool, {
        url: mqttUrl,
        clientId: input.clientId ?? (input.shareGroup ? `${base}-m${input.member ?? 0}` : base),
        topic,
        source: input.source,
        kind: input.kind,
        declared,
        batchSize: input.batchSize,
        flushIntervalMs: input.flushIntervalMs,
        deviceSink,
        onBatch: (r) => {
          lastBatchId = r.batchId;
          lastCommitAt = new Date().toISOString();
        },
      });
      let consumingSince: string | undefined = undefined;
      let lastBatchId: number | undefined;
      let lastCommitAt: string | undefined;
      const details = (): ConsumeMqttStats => ({
        ...consumer.stats,
        ratePerSecond: consumer.rate.perSecond(Date.now(), started),
        waitingReason: consumer.waitingReason ?? (consumer.connected ? undefined : 'not connected to the MQTT broker'),
        lastError: consumer.lastError,
        member: input.member,
        startedAt,
        consumingSince,
        lastCommitAt,
        lastBatchId,
        inFlight: Math.max(0, consumer.stats.received - consumer.stats.committed),
      });
      const source = declared.source;
      const stopHeartbeats = heartbeatEvery(() => {
        const d = details();
        setStreamState(source, 'mqtt', d.waitingReason ? 'waiting' : 'running');
        metrics.mqttInFlight.set({ source }, d.inFlight ?? 0);
        return d;
      });
      const broker = hostPort(mqttUrl, 1883);
      const releaseBroker = useDependency(tcpCheck(`mqtt ${broker.host}:${broker.port}`, broker.host, broker.port));
      const ended = () => {
        releaseBroker();
        setStreamState(source, 'mqtt', 'stopped');
        metrics.mqttInFlight.set({ source }, 0);
      };
      try {
        await consumer.start();
      } catch (e) {
        stopHeartbeats();
        ended();
        await consumer.stop({ flush: false });
        throw runFailure(e, { ...details(), endedAt: new Date().toISOString() });
      }
      consumingSince = new Date().toISOString();
      try {
        const ended = await runConsumerLoop({
          waitingSince: () => consumer.waitingSince,
          fatal: () => consumer.error,
          runForMs: input.runForMs,
          returnWhenWaitingMs: input.returnWhenWaitingMs,
        });
        const stats = details();
        await consumer.stop({ flush: ended !== 'waiting' });
        // Stats of the run taken before stopping (waiting reason, rate), counters after the last flush.
        return {
          ...stats,
          ...consumer.stats,
          lastBatchId,
          lastCommitAt,
          inFlight: Math.max(0, consumer.stats.received - consumer.stats.committed),
          endedAt: new Date().toISOString(),
        };
      } catch (e) {
        await consumer.stop({ flush: false });
        throw runFailure(e, { ...details(), endedAt: new Date().toISOString() });
      } finally {
        stopHeartbeats();
        ended();
      }
    },
  };
}

export type MqttIngestActivities = ReturnType<typeof createMqttIngestActivities>;
