/**
 * Runtime settings, read once from the environment. Every address the project talks to can be
 * overridden here; the defaults point at the embedded stack on loopback.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_QUEUE } from './task-queue';
import { loadTemporalConnection, type TemporalConnectionSettings } from './temporal-connection';

/**
 * Repository root: the nearest folder above this module with a `package.json`, whether the module
 * runs from `src/config/` (tsx, vitest) or from a chunk in `dist/`.
 */
export const ROOT_DIR = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..');
  }
}

function env(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`Environment variable ${name}=${JSON.stringify(raw)} is not a positive integer; unset it or fix it.`);
  }
  return n;
}

/** Port of the embedded PostgreSQL when `DATABASE_URL` is unset. @default 54329 */
export const EMBEDDED_PG_PORT = intEnv('EMBEDDED_PG_PORT', 54329);

/**
 * `name`'s value, one of `allowed` (the first is the default when unset or empty).
 * @throws Error naming the variable, its value and the allowed values.
 */
function choiceEnv<T extends string>(name: string, allowed: readonly [T, ...T[]]): T {
  const raw = env(name, allowed[0]);
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new Error(`Environment variable ${name}=${JSON.stringify(raw)} is none of ${allowed.join(', ')}; unset it or fix it.`);
  }
  return raw as T;
}

/** How the stack runs Temporal: the dev server (SQLite) or a two-process cluster on PostgreSQL. */
export type TemporalMode = 'dev' | 'cluster';

/** How the stack runs Kafka: one KRaft node, or three brokers (replication factor 3, `min.insync.replicas=2`). */
export type KafkaMode = 'single' | 'cluster';

const temporalModeEnv = () => choiceEnv<TemporalMode>('TEMPORAL_MODE', ['dev', 'cluster']);
const kafkaModeEnv = () => choiceEnv<KafkaMode>('KAFKA_MODE', ['single', 'cluster']);

/** Brokers of the embedded Kafka in cluster mode. */
export const KAFKA_CLUSTER_SIZE = 3;
/** Ports between two embedded brokers: node i listens on `EMBEDDED_KAFKA_PORT + 10·i` (+1 controller, +2 SASL). */
export const KAFKA_NODE_PORT_STEP = 10;

/**
 * PLAINTEXT ports of the embedded Kafka's brokers on 127.0.0.1: `EMBEDDED_KAFKA_PORT` (9092), and in
 * cluster mode also 9102 and 9112.
 */
export function embeddedKafkaPorts(mode: KafkaMode = kafkaModeEnv()): number[] {
  const base = intEnv('EMBEDDED_KAFKA_PORT', 9092);
  return Array.from({ length: mode === 'cluster' ? KAFKA_CLUSTER_SIZE : 1 }, (_, i) => base + KAFKA_NODE_PORT_STEP * i);
}

/** Settings of one process, resolved from the environment. */
export interface Settings {
  /** Folder for binaries, data and logs of the embedded stack. @default `<root>/.stack` */
  stackDir: string;
  /**
   * Temporal frontend `host:port`: `TEMPORAL_ADDRESS`, else the address of the Temporal config-file
   * profile (src/config/temporal-connection.ts). @default `127.0.0.1:7233`
   */
  temporalAddress: string;
  /** Temporal namespace: `TEMPORAL_NAMESPACE`, else the profile's. @default `default` */
  temporalNamespace: string;
  /**
   * The rest of the Temporal connection from Temporal's environment variables and config-file profile
   * (API key, TLS/mTLS, gRPC metadata, which profile); connections take it through
   * `temporalConnectionOptions`.
   */
  temporalConnection: Omit<TemporalConnectionSettings, 'address' | 'namespace'>;
  /** Port of the Temporal Web UI started with the dev server. @default 8233 */
  temporalUiPort: number;
  /**
   * `dev`: `temporal server start-dev`; `cluster`: two Temporal server processes on PostgreSQL
   * (src/stack/temporal-cluster.ts), the first one's frontend on `temporalAddress`. @default `dev`
   */
  temporalMode: TemporalMode;
  /**
   * Cluster mode: first of the 20 loopback ports the cluster's other listeners take (node `i` uses
   * `base + 10·i + k`, see `clusterNodes`). @default 7300
   */
  temporalClusterPortBase: number;
  /** PostgreSQL connection string; `undefined` means the embedded server. */
  databaseUrl: string | undefined;
  /** MQTT broker URL; `undefined` means the embedded Mosquitto. */
  mqttUrl: string | undefined;
  /** Kafka bootstrap brokers, comma separated; `undefined` means the embedded KRaft broker(s). */
  kafkaBrokers: string | undefined;
  /** The embedded Kafka: `KAFKA_MODE`, one node or three brokers. @default 'single' */
  kafkaMode: KafkaMode;
  /**
   * The worker's Worker Deployment Version when `WORKER_BUILD_ID` is set (Temporal Worker Versioning):
   * `WORKER_DEPLOYMENT_NAME` (default `iot-pipelines`) and the build id. Undefined: an unversioned worker.
   */
  workerDeployment: { deploymentName: string; buildId: string } | undefined;
  /** Main task queue. @default `iot-pipelines` */
  taskQueue: string;
  /** Folder of pipeline outputs (launch JSON and images, event counts, …). @default `<root>/output` */
  outputDir: string;
  /** Root of the Parquet data lake. @default `<root>/lake` */
  lakeDir: string;
  /** Webhook receiving notifications as JSON POSTs; unset = log only. */
  notifyWebhookUrl: string | undefined;
  /**
   * Port of the process's operations endpoint (`/metrics`, `/healthz`, `/readyz`;
   * src/observability/server.ts): `METRICS_PORT`; unset = no endpoint (`npm start` defaults it to 9464).
   */
  metricsPort: number | undefined;
  /** Address the operations endpoint binds: `METRICS_HOST`. @default 127.0.0.1 */
  metricsHost: string;
  /**
   * Loopback port where the Temporal SDK serves its runtime metrics, fetched by `/metrics` per scrape:
   * `TEMPORAL_METRICS_PORT`. @default metricsPort + 1
   */
  temporalMetricsPort: number | undefined;
}

/**
 * Reads {@link Settings} from `process.env` (and, when a Temporal setting is first read, the Temporal
 * config file of the profile).
 * @throws Error for a malformed variable; reading `temporalAddress`, `temporalNamespace` or
 *   `temporalConnection` throws TemporalProfileError for a Temporal config file or profile that cannot
 *   be used (see `loadTemporalConnection`).
 */
export function loadSettings(): Settings {
  // The Temporal settings are resolved on first read (getters; a spread reads them): commands that
  // never talk to Temporal (`models`) do not load envconfig, nor fail on a broken Temporal profile.
  let temporal: TemporalConnectionSettings | undefined;
  const resolved = () => (temporal ??= loadTemporalConnection());
  return {
    stackDir: path.resolve(env('STACK_DIR', path.join(ROOT_DIR, '.stack'))),
    get temporalAddress() {
      return resolved().address;
    },
    get temporalNamespace() {
      return resolved().namespace;
    },
    get temporalConnection() {
      const { address: _address, namespace: _namespace, ...rest } = resolved();
      return rest;
    },
    temporalUiPort: intEnv('TEMPORAL_UI_PORT', 8233),
    temporalMode: temporalModeEnv(),
    temporalClusterPortBase: intEnv('TEMPORAL_CLUSTER_PORT_BASE', 7300),
    databaseUrl: process.env.DATABASE_URL || undefined,
    mqttUrl: process.env.MQTT_URL || undefined,
    kafkaBrokers: process.env.KAFKA_BROKERS || undefined,
    kafkaMode: kafkaModeEnv(),
    workerDeployment: process.env.WORKER_BUILD_ID
      ? { deploymentName: env('WORKER_DEPLOYMENT_NAME', 'iot-pipelines'), buildId: process.env.WORKER_BUILD_ID }
      : undefined,
    taskQueue: env('TASK_QUEUE', TASK_QUEUE),
    outputDir: path.resolve(env('OUTPUT_DIR', path.join(ROOT_DIR, 'output'))),
    lakeDir: path.resolve(env('LAKE_DIR', path.join(ROOT_DIR, 'lake'))),
    notifyWebhookUrl: process.env.NOTIFY_WEBHOOK_URL || undefined,
    metricsPort: process.env.METRICS_PORT ? intEnv('METRICS_PORT', 0) : undefined,
    metricsHost: env('METRICS_HOST', '127.0.0.1'),
    temporalMetricsPort: process.env.TEMPORAL_METRICS_PORT
      ? intEnv('TEMPORAL_METRICS_PORT', 0)
      : process.env.METRICS_PORT
        ? intEnv('METRICS_PORT', 0) + 1
        : undefined,
  };
}

/** Connection string of the embedded PostgreSQL. */
export function embeddedDatabaseUrl(): string {
  return `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PG_PORT}/iot`;
}

/** Effective PostgreSQL URL: `DATABASE_URL` or the embedded server's. */
export function databaseUrl(s: Settings = loadSettings()): string {
  return s.databaseUrl ?? embeddedDatabaseUrl();
}

/** Effective MQTT URL: `MQTT_URL` or the embedded Mosquitto's (`mqtt://127.0.0.1:1883`). */
export function mqttUrl(s: Settings = loadSettings()): string {
  return s.mqttUrl ?? `mqtt://127.0.0.1:${intEnv('EMBEDDED_MQTT_PORT', 1883)}`;
}

/**
 * Effective Kafka brokers: `KAFKA_BROKERS` or the embedded broker(s) (`127.0.0.1:9092`; with
 * `KAFKA_MODE=cluster` also `:9102` and `:9112`).
 */
export function kafkaBrokers(s: Settings = loadSettings()): string[] {
  if (s.kafkaBrokers) return s.kafkaBrokers.split(',').map((b) => b.trim());
  return embeddedKafkaPorts(s.kafkaMode).map((p) => `127.0.0.1:${p}`);
}
