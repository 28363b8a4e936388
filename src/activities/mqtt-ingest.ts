/**
 * The MQTT ingest activity: a long-running, heartbeating consumer (see src/ingest/mqtt-consumer.ts)
 * that returns its stats after `runForMs` so the supervising workflow can record progress and
 * continue-as-new. Messages never pass through workflow history.
 */
import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from '../db/pool';
import { MqttBatchConsumer } from '../ingest/mqtt-consumer';

/** Input of `consumeMqtt`. */
export interface ConsumeMqttInput {
  /** Source name, e.g. `uci-occupancy`. */
  source: string;
  /** Topic filter. @default `sensors/<source>/+` */
  topic?: string;
  /** MQTT client id (persistent session). @default `iot-pipelines-ingest-<source>` */
  clientId?: string;
  /** @default 1000 */
  batchSize?: number;
  /** @default 500 ms */
  flushIntervalMs?: number;
  /** How long this activity consumes before returning its stats, ms. @default 60000 */
  runForMs?: number;
}

/** Stats of one `consumeMqtt` run; also sent as heartbeat details while it runs. */
export interface ConsumeMqttStats {
  received: number;
  committed: number;
  inserted: number;
  duplicates: number;
  deadLettered: number;
  batches: number;
  /** Why the consumer waits (e.g. database down), if it does. */
  waitingReason?: string;
  startedAt: string;
  endedAt?: string;
}

/** Clients the MQTT activities need. */
export interface MqttIngestDeps {
  pool: Pool;
  mqttUrl: string;
}

/** Builds the MQTT ingest activities. */
export function createMqttIngestActivities({ pool, mqttUrl }: MqttIngestDeps) {
  return {
    /**
     * Consumes `topic` with QoS 1 into PostgreSQL for `runForMs`, heartbeating every second.
     * On cancellation (pause) it commits and acknowledges what it holds, then returns.
     * @throws ApplicationFailure (non-retryable) when the subscription is refused or the input is invalid.
     */
    async consumeMqtt(input: ConsumeMqttInput): Promise<ConsumeMqttStats> {
      if (!/^[A-Za-z0-9_.-]+$/.test(input.source)) {
        throw ApplicationFailure.nonRetryable(`source ${JSON.stringify(input.source)} must match [A-Za-z0-9_.-]+`, 'InvalidInput');
      }
      const ctx = Context.current();
      const startedAt = new Date().toISOString();
      const consumer = new MqttBatchConsumer(pool, {
        url: mqttUrl,
        clientId: input.clientId ?? `iot-pipelines-ingest-${input.source}`,
        topic: input.topic ?? `sensors/${input.source}/+`,
        source: input.source,
        batchSize: input.batchSize,
        flushIntervalMs: input.flushIntervalMs,
      });
      const details = (): ConsumeMqttStats => ({ ...consumer.stats, waitingReason: consumer.waitingReason, startedAt });
      await consumer.start();
      const beat = setInterval(() => heartbeat(details()), 1000);
      try {
        await new Promise<void>((resolve, reject) => {
          const done = setTimeout(resolve, input.runForMs ?? 60_000);
          const check = setInterval(() => {
            if (consumer.error) {
              clearTimeout(done);
              clearInterval(check);
              reject(consumer.error);
            }
          }, 200);
          ctx.cancellationSignal.addEventListener('abort', () => {
            clearTimeout(done);
            clearInterval(check);
            resolve();
          });
        });
        await consumer.stop({ flush: true });
      } catch (e) {
        await consumer.stop({ flush: false });
        throw e;
      } finally {
        clearInterval(beat);
      }
      return { ...details(), endedAt: new Date().toISOString() };
    },
  };
}

export type MqttIngestActivities = ReturnType<typeof createMqttIngestActivities>;
