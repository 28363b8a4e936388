/**
 * What the stream consumer activities (MQTT, Kafka) share: the heartbeat/status shape and the run loop
 * that heartbeats, stops on cancellation (pause) or after `runForMs`, and returns early when the
 * consumer has been waiting (e.g. PostgreSQL down) so the supervising workflow can say why.
 */
import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { kafkaSecurity, KafkaSecurityConfigError } from '../config/kafka-security';
import { mqttSecurity, MqttSecurityConfigError } from '../config/mqtt-security';
import type { StreamCounters } from '../ingest/kafka-consumer';

/** Stats of one consumer activity run; also its heartbeat details while it runs. */
export interface ConsumerRunStats extends StreamCounters {
  /** Committed messages per second over the last minute (or the run, when shorter). */
  ratePerSecond?: number;
  /** Why the consumer waits (e.g. database down), if it does. */
  waitingReason?: string;
  /** Last error seen during the run (also transient ones that recovered). */
  lastError?: string;
  /** Kafka: messages not yet committed per partition (`<topic>/<partition>` → count). */
  lag?: Record<string, number>;
  /** Which member of the stream this is (0-based). */
  member?: number;
  startedAt: string;
  endedAt?: string;
}

/** How a consumer run ends. */
export interface RunLoopOptions {
  /** Returns the current stats (heartbeat details). */
  details: () => ConsumerRunStats;
  /** Epoch ms since when the consumer waits, or undefined. */
  waitingSince: () => number | undefined;
  /** A permanent error that must end the run, if any. */
  fatal: () => Error | undefined;
  /** @default 60000 */
  runForMs?: number;
  /** Return early after waiting this long, ms. @default 15000 */
  returnWhenWaitingMs?: number;
  /** Heartbeat period, ms. @default 1000 */
  heartbeatMs?: number;
}

/**
 * Heartbeats `details()` until `runForMs` elapsed, the activity is cancelled, the consumer has waited
 * `returnWhenWaitingMs`, or `fatal()` returns an error (then rejects with it).
 * @returns why it ended
 */
export async function runConsumerLoop(o: RunLoopOptions): Promise<'elapsed' | 'cancelled' | 'waiting'> {
  const ctx = Context.current();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = setInterval(() => {
      heartbeat(o.details());
      const err = o.fatal();
      const since = o.waitingSince();
      if (err) finish(() => reject(err));
      else if (since !== undefined && Date.now() - since >= (o.returnWhenWaitingMs ?? 15_000)) finish(() => resolve('waiting'));
      else if (Date.now() - started >= (o.runForMs ?? 60_000)) finish(() => resolve('elapsed'));
    }, o.heartbeatMs ?? 1000);
    const onAbort = () => finish(() => resolve('cancelled'));
    const finish = (f: () => void) => {
      clearInterval(tick);
      ctx.cancellationSignal.removeEventListener('abort', onAbort);
      f();
    };
    ctx.cancellationSignal.addEventListener('abort', onAbort);
  });
}

/**
 * Checks the broker security settings of the environment before a consumer starts: a mistake there
 * (unknown SASL mechanism, missing password, unreadable CA file) cannot be fixed by retrying.
 * @throws ApplicationFailure (non-retryable, type `InvalidConfiguration`) naming the variable.
 */
export function checkSecuritySettings(broker: 'kafka' | 'mqtt'): void {
  try {
    if (broker === 'kafka') kafkaSecurity();
    else mqttSecurity();
  } catch (e) {
    if (e instanceof KafkaSecurityConfigError || e instanceof MqttSecurityConfigError)
      throw ApplicationFailure.nonRetryable(e.message, 'InvalidConfiguration');
    throw e;
  }
}
