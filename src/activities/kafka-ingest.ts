/**
 * The Kafka ingest activity: one consumer-group member (src/ingest/kafka-consumer.ts) that heartbeats
 * its stats, positions and lag every second, and returns after `runForMs` (or when cancelled: pause,
 * worker shutdown) so the supervising workflow records progress. Messages never pass through workflow
 * history.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import type { DeviceActivitySink } from '../ingest/device-activity';
import { KafkaBatchConsumer } from '../ingest/kafka-consumer';
import { hostPort, tcpCheck, useDependency } from '../observability/dependencies';
import { setStreamState } from '../observability/metrics';
import {
  checkSecuritySettings,
  heartbeatEvery,
  prepareStreamSource,
  runConsumerLoop,
  runFailure,
  type ConsumerRunStats,
} from './stream-common';

/** Input of `consumeKafka`. */
export interface ConsumeKafkaInput {
  topic: string;
  groupId: string;
  /** Source name recorded with every row. @default the topic */
  source?: string;
  /** What the topic carries. @default 'modem' */
  kind?: string;
  /** Member index within the stream (part of the client id). @default 0 */
  member?: number;
  /** Largest transaction in messages. @default 5000 */
  batchSize?: number;
  /** Longest broker wait for a fetch, ms. @default 500 */
  flushIntervalMs?: number;
  /** How long this run lasts, ms (each run rejoins the group, so keep it long). @default 300000 */
  runForMs?: number;
  /** Where partitions without a stored position start (see `KafkaConsumerOptions.startFrom`). @default 'earliest' */
  startFrom?: 'earliest' | 'latest';
  /** Return early (with `waitingReason`) after waiting this long for the database, ms. @default 15000 */
  returnWhenWaitingMs?: number;
  /**
   * The run's heartbeat timeout, ms: the group session timeout follows it (clamped to 6–30 s, Kafka's
   * default `group.min.session.timeout.ms` is 6 s), so a dead member's partitions move about when
   * Temporal restarts its run. @default 10000 (session timeout 10 s)
   */
  heartbeatTimeoutMs?: number;
  /** A declared source (a `sources/*.yaml` file parsed to JSON): its table is created or evolved, then its mapping validates the records. */
  declaration?: unknown;
}

/** Group session timeout of a member whose run has heartbeat timeout `heartbeatTimeoutMs`, ms. */
export function sessionTimeoutFor(heartbeatTimeoutMs = 10_000): number {
  return Math.max(6_000, Math.min(30_000, heartbeatTimeoutMs));
}

/** Clients the Kafka activities need. */
export interface KafkaIngestDeps {
  pool: Pool;
  kafkaBrokers: string[];
  deviceSink?: DeviceActivitySink;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

/** Builds the Kafka ingest activities. */
export function createKafkaIngestActivities({ pool, kafkaBrokers, deviceSink }: KafkaIngestDeps) {
  return {
    /**
     * Runs one group member on `topic` for `runForMs`, heartbeating stats, positions and lag every
     * second. Cancelled (pause, worker shutdown), it lets the transactions in flight commit, leaves the
     * group and returns its stats.
     * @throws ApplicationFailure (non-retryable) on invalid input; broker or permanent database errors
     * fail the run with its counters as `details[0]` (the workflow restarts it, see stream-supervisor.ts).
     */
    async consumeKafka(input: ConsumeKafkaInput): Promise<ConsumerRunStats> {
      checkSecuritySettings('kafka');
      for (const [k, v] of [
        ['topic', input.topic],
        ['groupId', input.groupId],
        ['source', input.source ?? input.topic],
      ] as const) {
        if (!NAME.test(v)) throw ApplicationFailure.nonRetryable(`${k} ${JSON.stringify(v)} must match [A-Za-z0-9_.-]+`, 'InvalidInput');
      }
      if (input.startFrom !== undefined && input.startFrom !== 'earliest' && input.startFrom !== 'latest') {
        throw ApplicationFailure.nonRetryable(`startFrom ${JSON.stringify(input.startFrom)} must be earliest or latest`, 'InvalidInput');
      }
      const declared = await prepareStreamSource(pool, {
        declaration: input.declaration,
        kind: input.kind ?? 'modem',
        binding: {
          stream: 'kafka',
          source: input.source ?? input.topic,
          topic: input.topic,
          groupId: input.groupId,
          startFrom: input.startFrom,
        },
      });
      const startedAt = new Date().toISOString();
      const started = Date.now();
      const member = input.member ?? 0;
      const consumer = new KafkaBatchConsumer(pool, {
        brokers: kafkaBrokers,
        groupId: input.groupId,
        topic: input.topic,
        source: input.source ?? input.topic,
        kind: input.kind,
        declared,
        clientId: `iot-pipelines-${input.groupId}-m${member}`,
        batchSize: input.batchSize,
        flushIntervalMs: input.flushIntervalMs,
        startFrom: input.startFrom,
        sessionTimeoutMs: sessionTimeoutFor(input.heartbeatTimeoutMs),
        deviceSink,
        onBatch: (r) => {
          lastBatchId = r.batchId;
          lastCommitAt = new Date().toISOString();
        },
      });
      let consumingSince: string | undefined;
      let lastBatchId: number | undefined;
      let lastCommitAt: string | undefined;
      const details = (): ConsumerRunStats => ({
        ...consumer.stats,
        ratePerSecond: consumer.rate.perSecond(Date.now(), started),
        waitingReason: consumer.waitingReason,
        lastError: consumer.lastError,
        lag: consumer.lag,
        member,
        startedAt,
        consumingSince,
        lastCommitAt,
        lastBatchId,
        positions: { ...consumer.positions },
        inFlight: Math.max(0, consumer.stats.received - consumer.stats.committed),
      });
      const source = declared.source;
      const stopHeartbeats = heartbeatEvery(() => {
        const d = details();
        setStreamState(source, 'kafka', d.waitingReason ? 'waiting' : 'running');
        return d;
      });
      const releaseBrokers = kafkaBrokers.map((b) => {
        const { host, port } = hostPort(b, 9092);
        return useDependency(tcpCheck(`kafka ${host}:${port}`, host, port));
      });
      const lagTimer = setInterval(() => {
        consumer.refreshLag().catch(() => undefined);
      }, 5_000);
      try {
        await consumer.start();
        consumingSince = new Date().toISOString();
        await consumer.refreshLag().catch(() => undefined);
        await runConsumerLoop({
          waitingSince: () => consumer.waitingSince,
          fatal: () => consumer.error,
          runForMs: input.runForMs ?? 300_000,
          returnWhenWaitingMs: input.returnWhenWaitingMs,
        });
        await consumer.stop();
        await consumer.refreshLag().catch(() => undefined);
        return { ...details(), endedAt: new Date().toISOString() };
      } catch (e) {
        await consumer.stop();
        throw runFailure(e, { ...details(), endedAt: new Date().toISOString() });
      } finally {
        clearInterval(lagTimer);
        stopHeartbeats();
        for (const release of releaseBrokers) release();
        setStreamState(source, 'kafka', 'stopped');
      }
    },
  };
}

export type KafkaIngestActivities = ReturnType<typeof createKafkaIngestActivities>;
