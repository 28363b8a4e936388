/**
 * What the stream consumer activities (MQTT, Kafka) share: the heartbeat/status shape, heartbeats on a
 * timer for the whole run (also while the consumer connects, joins its group or commits slowly), the
 * run loop that stops on cancellation (pause, worker shutdown) or after `runForMs` and returns early
 * when the consumer has been waiting (e.g. PostgreSQL down) so the supervising workflow can say why,
 * and the failure that carries a failed run's counters to the workflow.
 */
import type { StreamBinding } from '../sources/bind';
import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { kafkaSecurity, KafkaSecurityConfigError } from '../config/kafka-security';
import { mqttSecurity, MqttSecurityConfigError } from '../config/mqtt-security';
import type { Pool } from '../db/pool';
import type { StreamCounters } from '../ingest/kafka-consumer';
import type { LoadedSource } from '../sources/load';

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
  /** When the run started (ISO-8601). */
  startedAt: string;
  /** When the consumer was connected and subscribed (joined its group), ISO-8601; absent while it connects. */
  consumingSince?: string;
  /** When the run last committed a batch (ISO-8601). */
  lastCommitAt?: string;
  /** `ingest.batches` id of the last batch the run committed. */
  lastBatchId?: number;
  /** Kafka: next offset per partition (`<topic>/<partition>` → offset) as of the run's last commit on it. */
  positions?: Record<string, number>;
  /** Messages received but not committed yet (the batches in hand). */
  inFlight?: number;
  /** When the run ended (ISO-8601); absent in heartbeats. */
  endedAt?: string;
}

/** Consumer heartbeat period, ms: well inside the smallest heartbeat timeout (3 s). @default 1000 */
export const CONSUMER_HEARTBEAT_MS = 1000;

/**
 * Heartbeats `details()` now and every `everyMs` until the returned function is called. On a timer, not
 * between batches, so a slow connect, group join or commit never looks like a dead worker.
 */
export function heartbeatEvery(details: () => ConsumerRunStats, everyMs = CONSUMER_HEARTBEAT_MS): () => void {
  heartbeat(details());
  const t = setInterval(() => heartbeat(details()), everyMs);
  return () => clearInterval(t);
}

/**
 * The error a consumer run fails with, carrying its counters as `details[0]` so the supervising workflow
 * can tell a run that made progress (restart at once) from one that did not (back off). An
 * ApplicationFailure keeps its type and retryability.
 */
export function runFailure(e: unknown, stats: ConsumerRunStats): ApplicationFailure {
  if (e instanceof ApplicationFailure) {
    if (e.details?.length) return e;
    return ApplicationFailure.create({
      message: e.message,
      type: e.type ?? undefined,
      nonRetryable: e.nonRetryable ?? undefined,
      details: [stats],
      cause: e,
    });
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return ApplicationFailure.create({ message: err.message, type: err.name, details: [stats], cause: err });
}

/** How a consumer run ends. */
export interface RunLoopOptions {
  /** Epoch ms since when the consumer waits, or undefined. */
  waitingSince: () => number | undefined;
  /** A permanent error that must end the run, if any. */
  fatal: () => Error | undefined;
  /** @default 60000 */
  runForMs?: number;
  /** Return early after waiting this long, ms. @default 15000 */
  returnWhenWaitingMs?: number;
  /** How often the end conditions are checked, ms. @default 1000 */
  checkEveryMs?: number;
}

/**
 * Waits until `runForMs` elapsed, the activity is cancelled (pause, worker shutdown, or the server
 * timed the run out), the consumer has waited `returnWhenWaitingMs`, or `fatal()` returns an error
 * (then rejects with it). Heartbeats are sent by {@link heartbeatEvery}.
 * @returns why it ended
 */
export async function runConsumerLoop(o: RunLoopOptions): Promise<'elapsed' | 'cancelled' | 'waiting'> {
  const ctx = Context.current();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = setInterval(() => {
      const err = o.fatal();
      const since = o.waitingSince();
      if (err) finish(() => reject(err));
      else if (since !== undefined && Date.now() - since >= (o.returnWhenWaitingMs ?? 15_000)) finish(() => resolve('waiting'));
      else if (Date.now() - started >= (o.runForMs ?? 60_000)) finish(() => resolve('elapsed'));
    }, o.checkEveryMs ?? 1000);
    const onAbort = () => finish(() => resolve('cancelled'));
    const finish = (f: () => void) => {
      clearInterval(tick);
      ctx.cancellationSignal.removeEventListener('abort', onAbort);
      f();
    };
    if (ctx.cancellationSignal.aborted) return finish(() => resolve('cancelled'));
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

/**
 * The source a stream runs, compiled, with its table brought up to it (create, or add the columns of
 * new measurements), before the consumer starts: the stream's declaration (`sources apply`, or bound by
 * `streams start --kind`), else the source file named by `kind` bound to the stream (`bind.ts`; streams
 * started before the built-in kinds became source files carry only `kind`). A template's rows carry the
 * stream's source; any other declaration must name the stream's source.
 * @throws ApplicationFailure (non-retryable, type `InvalidSource`) for an unknown kind, a declaration
 *   that does not compile or a table change that is refused; database errors as they are (transient
 *   ones are retried).
 */
export async function prepareStreamSource(
  pool: Pool,
  i: { declaration?: unknown; kind: string; binding: StreamBinding },
): Promise<LoadedSource> {
  const { loadDeclaration, findSource, SourceFileError } = await import('../sources/load');
  const { bindToStream } = await import('../sources/bind');
  const { applyTable, SourceTableError } = await import('../sources/table');
  const source = i.binding.source;
  let declared: LoadedSource;
  try {
    let declaration = i.declaration;
    if (declaration === undefined) {
      const file = findSource(i.kind);
      if (!file) {
        throw ApplicationFailure.nonRetryable(
          `no source file is named ${JSON.stringify(i.kind)} (the stream's kind); add sources/${i.kind}.yaml or start the stream with another --kind`,
          'InvalidSource',
        );
      }
      declaration = bindToStream(file.declaration, i.binding);
    }
    const template = (declaration as { template?: unknown } | null)?.template === true;
    declared = loadDeclaration(declaration, `source ${source}`, template ? { source } : {});
  } catch (e) {
    if (e instanceof SourceFileError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidSource');
    throw e;
  }
  if (!declared.declaration.template && declared.name !== source) {
    throw ApplicationFailure.nonRetryable(`the declaration names source ${declared.name}, but this stream is ${source}`, 'InvalidSource');
  }
  try {
    await applyTable(pool, declared);
  } catch (e) {
    if (e instanceof SourceTableError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidSource');
    throw e;
  }
  return declared;
}
