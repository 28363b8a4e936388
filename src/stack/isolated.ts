/**
 * A second stack beside the main one, in cluster mode (two Temporal servers behind the balancer, three
 * Kafka brokers, PostgreSQL, Mosquitto), in a folder and on ports of its own: what
 * `test/cluster-failover.test.ts` and the bench's cluster section run `iot-pipelines stack up` with. The
 * Temporal server, the `temporal` CLI and the Kafka jars are built or fetched once into the main stack's
 * folder and linked into this one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ensureKafkaJars } from './kafka';
import { isPortOpen } from './process';
import { findOrBuildTemporalCli } from './temporal';
import { findOrBuildTemporalServer, TEMPORAL_SERVER_VERSION } from './temporal-cluster';

/** An isolated cluster-mode stack's folder and the environment that points every command at it. */
export interface IsolatedCluster {
  /** Its `STACK_DIR` (logs in `<dir>/logs`, pid files `<service>.pid`). */
  dir: string;
  /** Environment for `iot-pipelines stack up` and the workers and clients of this stack. */
  env: Record<string, string>;
  /** Kafka bootstrap brokers, `127.0.0.1:<port>` ×3. */
  brokers: string[];
  /** Where clients connect (the balancer). */
  temporalAddress: string;
  /** `postgres://…/iot` of its PostgreSQL. */
  databaseUrl: string;
  /** `mqtt://…` of its Mosquitto. */
  mqttUrl: string;
  /** Removes the folder (stop the stack first). */
  remove(): void;
}

/** `count` consecutive free loopback ports from a random base in [from, from + 10000), stepping by 50. */
export async function freePortBlock(from: number, count: number): Promise<number> {
  for (;;) {
    const base = from + 50 * Math.floor(Math.random() * 200);
    const open = await Promise.all(Array.from({ length: count }, (_, k) => isPortOpen('127.0.0.1', base + k)));
    if (!open.some(Boolean)) return base;
  }
}

/**
 * Prepares an isolated cluster-mode stack: builds or finds what it runs in `mainStackDir`, makes a
 * temporary folder linking them, and picks free ports (Temporal's block in 20000–29999, below the
 * server's smallint membership ports; Kafka's in 30000–39999).
 * @throws CommandFailedError when a build or download fails.
 */
export async function prepareIsolatedCluster(mainStackDir: string, log: (m: string) => void = console.log): Promise<IsolatedCluster> {
  const build = await findOrBuildTemporalServer(mainStackDir, log);
  const cli = await findOrBuildTemporalCli(mainStackDir, log);
  const libs = await ensureKafkaJars(mainStackDir, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-cluster-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when started as root
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.symlinkSync(path.dirname(build.server), path.join(dir, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}`));
  fs.mkdirSync(path.join(dir, 'kafka'));
  fs.symlinkSync(libs, path.join(dir, 'kafka', 'libs'));
  const temporalBase = await freePortBlock(20_000, 20);
  const kafkaBase = await freePortBlock(30_000, 23);
  const single = await freePortBlock(40_000, 3);
  const temporalAddress = `127.0.0.1:${single}`;
  const pgPort = single + 1;
  const mqttPort = single + 2;
  const env: Record<string, string> = {
    STACK_DIR: dir,
    TEMPORAL_MODE: 'cluster',
    KAFKA_MODE: 'cluster',
    TEMPORAL_CLI_PATH: cli,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_CLUSTER_PORT_BASE: String(temporalBase),
    TEMPORAL_NAMESPACE: 'default',
    EMBEDDED_PG_PORT: String(pgPort),
    EMBEDDED_MQTT_PORT: String(mqttPort),
    EMBEDDED_KAFKA_PORT: String(kafkaBase),
    EMBEDDED_KAFKA_SASL_PORT: String(kafkaBase + 2),
    // Every service of its own: none given by the caller's environment.
    DATABASE_URL: '',
    MQTT_URL: '',
    KAFKA_BROKERS: '',
    TEMPORAL_PROFILE: '',
    TEMPORAL_CONFIG_FILE: '',
    TASK_QUEUE: `cluster-${randomUUID()}`,
    METRICS_PORT: '',
  };
  return {
    dir,
    env,
    brokers: [0, 1, 2].map((i) => `127.0.0.1:${kafkaBase + 10 * i}`),
    temporalAddress,
    databaseUrl: `postgres://postgres:postgres@127.0.0.1:${pgPort}/iot`,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
