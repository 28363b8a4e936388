/**
 * One idempotent entry to the embedded stack: starts what is missing (Temporal dev server, or with
 * `TEMPORAL_MODE=cluster` two Temporal server processes on PostgreSQL; PostgreSQL, Mosquitto, Kafka on
 * demand), reuses what already listens, applies migrations, and stops only what it started.
 */
import { databaseUrl, loadSettings, mqttUrl, type Settings } from '../config/env';
import { isExternalTemporal, temporalConnectionOptions } from '../config/temporal-connection';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { hostPort, stopLiveServices } from './process';
import { startEmbeddedPostgres } from './postgres';
import { startMosquitto } from './mosquitto';
import { startTemporal, waitForTemporalReady } from './temporal';
import { startTemporalCluster } from './temporal-cluster';
import { startKafka } from './kafka';

/** Services the stack can provide. */
export type ServiceName = 'temporal' | 'postgres' | 'mosquitto' | 'kafka';

/** What {@link ensureStack} started, with a `stop()` that stops those in reverse order. */
export interface Stack {
  settings: Settings;
  /** Names of the services this call started (the others were reused or external). */
  started: ServiceName[];
  stop(): Promise<void>;
}

/** Options of {@link ensureStack}. */
export interface EnsureStackOptions {
  /** @default ['temporal', 'postgres', 'mosquitto'] (Kafka starts only when asked for) */
  services?: ServiceName[];
  log?: (msg: string) => void;
}

/** Stops of the stacks this process started and has not stopped yet. */
const activeStops = new Set<() => Promise<void>>();
const STOP_SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
let signalsHandled = false;

/**
 * On SIGINT, SIGTERM or SIGHUP, stops every stack this process started and exits with 128 + the
 * signal's number, unless something else in the process listens for that signal: a program that
 * handles the signal (the CLI's `stack up` and `start`) stops its stack itself, in its own order.
 */
function handleStopSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const [signal, number] of Object.entries(STOP_SIGNALS) as Array<[NodeJS.Signals, number]>) {
    const onSignal = () => {
      if (process.listeners(signal).some((l) => l !== onSignal)) return;
      void Promise.allSettled([...activeStops].map((stop) => stop()))
        .then(() => stopLiveServices())
        .then(() => process.exit(128 + number));
    };
    process.on(signal, onSignal);
  }
}

/**
 * Starts every requested service that is not already reachable and applies the database migrations.
 * Services given by environment (`DATABASE_URL`, `MQTT_URL`, `KAFKA_BROKERS`) are never started, nor is
 * a Temporal of the user's own (an address from a Temporal config profile, or TLS or an API key):
 * that one is only waited for.
 * @throws Error naming the service that failed to start and its log file.
 */
export async function ensureStack(options: EnsureStackOptions = {}): Promise<Stack> {
  const settings = loadSettings();
  const log = options.log ?? ((m: string) => console.log(m));
  const wanted = new Set(options.services ?? ['temporal', 'postgres', 'mosquitto']);
  const stops: Array<{ name: ServiceName; stop: () => Promise<void> }> = [];
  let stopping: Promise<void> | undefined;
  // Idempotent: a signal and the program may both ask; the second waits for the first.
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const s of [...stops].reverse()) await s.stop().catch((e: unknown) => log(`stopping ${s.name}: ${String(e)}`));
      activeStops.delete(stopAll);
    })());
  handleStopSignals();
  activeStops.add(stopAll);
  try {
    const starts: Array<Promise<void>> = [];
    // The cluster persists to the project's PostgreSQL: it needs it, and starts once it answers.
    const ownTemporal = wanted.has('temporal') && !isExternalTemporal(settings.temporalConnection);
    if (ownTemporal && settings.temporalMode === 'cluster') wanted.add('postgres');
    let postgresUp: Promise<void> = Promise.resolve();
    if (wanted.has('postgres') && !settings.databaseUrl) {
      postgresUp = startEmbeddedPostgres(settings.stackDir).then((s) => void (s && stops.push({ name: 'postgres', stop: () => s.stop() })));
      starts.push(postgresUp);
    }
    if (wanted.has('mosquitto') && !settings.mqttUrl) {
      const { port } = hostPort(new URL(mqttUrl(settings)).host);
      starts.push(
        startMosquitto(settings.stackDir, port, log).then((s) => void (s && stops.push({ name: 'mosquitto', stop: () => s.stop() }))),
      );
    }
    if (wanted.has('kafka') && !settings.kafkaBrokers) {
      starts.push(
        startKafka(settings.stackDir, log, settings.kafkaMode).then((s) => void (s && stops.push({ name: 'kafka', stop: () => s.stop() }))),
      );
    }
    if (ownTemporal && settings.temporalMode === 'cluster') {
      starts.push(
        postgresUp
          .then(() =>
            startTemporalCluster({
              stackDir: settings.stackDir,
              address: settings.temporalAddress,
              portBase: settings.temporalClusterPortBase,
              namespace: settings.temporalNamespace,
              databaseUrl: databaseUrl(settings),
              log,
            }),
          )
          .then((c) => void (c && stops.push({ name: 'temporal', stop: () => c.stop() }))),
      );
    } else if (ownTemporal) {
      starts.push(
        startTemporal({
          stackDir: settings.stackDir,
          address: settings.temporalAddress,
          uiPort: settings.temporalUiPort,
          namespace: settings.temporalNamespace,
          log,
        }).then((s) => void (s && stops.push({ name: 'temporal', stop: () => s.stop() }))),
      );
    }
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (wanted.has('temporal')) await waitForTemporalReady(temporalConnectionOptions(settings), settings.temporalNamespace);
    if (wanted.has('postgres')) {
      const pool = createPool(databaseUrl(settings));
      try {
        await migrate(pool, undefined, { log });
      } finally {
        await pool.end();
      }
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  const started = stops.map((s) => s.name);
  if (!started.length) activeStops.delete(stopAll);
  return { settings, started, stop: stopAll };
}
