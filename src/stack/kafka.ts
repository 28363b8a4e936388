/**
 * Apache Kafka 4.1.1 in KRaft mode, run from Maven Central jars with the machine's Java: one node, or
 * with `KAFKA_MODE=cluster` three brokers (each also a controller of the KRaft quorum, replication
 * factor 3, `min.insync.replicas=2`). The jars are fetched once with `mvn dependency:copy-dependencies`
 * into `<stackDir>/kafka/libs`. Listeners on 127.0.0.1: PLAINTEXT on `EMBEDDED_KAFKA_PORT` (9092), the
 * KRaft controller on the next port, and SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) on
 * `EMBEDDED_KAFKA_SASL_PORT` (9094); the other brokers of a cluster on the same three ports + 10 and + 20.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { embeddedKafkaPorts, type KafkaMode } from '../config/env';
import { isPortOpen, runCommand, startService, waitForService, type ServiceProcess } from './process';

/** Kafka version run by the embedded stack. */
export const KAFKA_VERSION = '4.1.1';

/** Broker port on 127.0.0.1. @default 9092 */
export const KAFKA_PORT = Number(process.env.EMBEDDED_KAFKA_PORT || 9092);
/** Port of the SASL listener (PLAIN and SCRAM-SHA-256/512, no TLS) for clients that authenticate. */
export const KAFKA_SASL_PORT = Number(process.env.EMBEDDED_KAFKA_SASL_PORT || KAFKA_PORT + 2);
/** The PLAIN user of the embedded broker's SASL listener (a development credential, like postgres:postgres). */
export const KAFKA_PLAIN_USER = { username: 'iot', password: 'iot-secret' } as const;

function pom(): string {
  const dep = (artifact: string) =>
    `<dependency><groupId>org.apache.kafka</groupId><artifactId>${artifact}</artifactId><version>${KAFKA_VERSION}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.iot-pipelines</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${dep('kafka_2.13')}
    ${dep('kafka-tools')}
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
`;
}

/**
 * Returns the folder of Kafka's jars, fetching them with Maven the first time.
 * @throws Error saying how to get Java/Maven (or set `KAFKA_BROKERS`) when they are missing.
 */
export async function ensureKafkaJars(stackDir: string, log: (msg: string) => void = console.log): Promise<string> {
  const dir = path.join(stackDir, 'kafka');
  const libs = path.join(dir, 'libs');
  if (fs.existsSync(path.join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`))) return libs;
  for (const tool of ['java', 'mvn']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is needed to run the embedded Kafka. Install a JDK 17+ and Maven, or point KAFKA_BROKERS at a broker.`);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'pom.xml'), pom());
  log(`Fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${libs}…`);
  await runCommand('mvn', ['-q', '-B', '-f', path.join(dir, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`]);
  return libs;
}

/** One node of the embedded Kafka: its KRaft id and its three listener ports on 127.0.0.1. */
export interface KafkaNode {
  /** `node.id`, from 1. */
  id: number;
  /** PLAINTEXT listener (clients and inter-broker). */
  port: number;
  /** KRaft controller listener. */
  controllerPort: number;
  /** SASL_PLAINTEXT listener. */
  saslPort: number;
}

/**
 * The nodes the stack runs for `mode`: one (ports `EMBEDDED_KAFKA_PORT` 9092, 9093, and
 * `EMBEDDED_KAFKA_SASL_PORT` 9094), or three (`KAFKA_CLUSTER_SIZE` in config/env.ts) whose ports step by
 * 10 (9092/9093/9094, 9102/9103/9104, 9112/9113/9114).
 */
export function kafkaNodes(mode: KafkaMode = 'single'): KafkaNode[] {
  return embeddedKafkaPorts(mode).map((port, i) => ({
    id: i + 1,
    port,
    controllerPort: port + 1,
    saslPort: i === 0 ? KAFKA_SASL_PORT : port + 2,
  }));
}

/**
 * A node's `server.properties`: a KRaft node that is broker and controller on 127.0.0.1 with its log in
 * `dataDir` and the listeners of the module comment. Alone, it has replication factors of 1; one of
 * several, the nodes are the controller quorum (`controller.quorum.voters`), and topics are replicated
 * to all of them with `min.insync.replicas` one less (3 and 2: a producer with `acks=all` keeps writing
 * while one broker is down, and nothing it was told is written is lost with one broker).
 */
export function kafkaServerProperties(dataDir: string, self: KafkaNode = kafkaNodes()[0]!, all: KafkaNode[] = [self]): string {
  const replicas = all.length;
  const minIsr = Math.max(1, replicas - 1);
  const quorum =
    replicas === 1
      ? [`controller.quorum.bootstrap.servers=127.0.0.1:${self.controllerPort}`]
      : [`controller.quorum.voters=${all.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',')}`];
  return [
    'process.roles=broker,controller',
    `node.id=${self.id}`,
    ...quorum,
    `listeners=PLAINTEXT://127.0.0.1:${self.port},CONTROLLER://127.0.0.1:${self.controllerPort},SASL_PLAINTEXT://127.0.0.1:${self.saslPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${self.port},SASL_PLAINTEXT://127.0.0.1:${self.saslPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
    // The SASL listener: PLAIN with one development user, SCRAM users added at run time (kafka-configs).
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_PLAIN_USER.username}="${KAFKA_PLAIN_USER.password}";`,
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    `log.dirs=${dataDir}`,
    'num.partitions=4',
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    `offsets.topic.replication.factor=${replicas}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    // A dead broker leaves the in-sync replicas after 10 s instead of Kafka's 30 s: until then every
    // acks=all produce to a partition it followed waits for it (and a client's 30 s request timeout fires).
    ...(replicas > 1 ? ['replica.lag.time.max.ms=10000'] : []),
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    // A broker back from a crash takes its partitions' leadership back (the default, said for the reader).
    'auto.leader.rebalance.enable=true',
    '',
  ].join('\n');
}

/**
 * A new KRaft cluster id in the form Kafka's own `Uuid.randomUuid().toString()` makes: 16 random bytes
 * as URL-safe base64 without padding (22 characters). Like Kafka
 * (`clients/src/main/java/org/apache/kafka/common/Uuid.java`), it draws again when the id starts with
 * `-`, which a command line would read as an option, or is one of Kafka's reserved ids (all zeros, and
 * the metadata topic's id 1).
 * @param random source of random bytes. @default node:crypto's randomBytes
 */
export function newKafkaClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = random(16);
    const reserved = bytes.subarray(0, 15).every((b) => b === 0) && (bytes[15] === 0 || bytes[15] === 1);
    const id = bytes.toString('base64url');
    if (!reserved && !id.startsWith('-')) return id;
  }
}

/**
 * Formats a node's storage once. The cluster id is passed as `--cluster-id=<id>`, one argument, so no
 * id can be taken for an option. A single node formats as `--standalone` (its own one-voter quorum);
 * nodes of a cluster name their voters in `controller.quorum.voters` and format without it.
 * @throws CommandFailedError with the command line and Kafka's own output when the tool fails.
 */
export async function formatKafkaStorage(libs: string, propertiesFile: string, clusterId: string, standalone = true): Promise<void> {
  await runCommand(
    'java',
    [
      '-cp',
      path.join(libs, '*'),
      'kafka.tools.StorageTool',
      'format',
      `--cluster-id=${clusterId}`,
      '-c',
      propertiesFile,
      ...(standalone ? ['--standalone'] : []),
    ],
    { quiet: true },
  );
}

/** The embedded Kafka's running nodes. */
export interface KafkaService {
  /** The started nodes, in node id order (a test kills one with its `child`). */
  nodes: Array<KafkaNode & { service: ServiceProcess }>;
  /** Stops every node. */
  stop(): Promise<void>;
}

/**
 * Starts the embedded Kafka (`mode` single: one node in `<stackDir>/kafka/data`, log `kafka.log`;
 * cluster: three nodes in `kafka/node-<id>/data`, logs `kafka-<id>.log`, one cluster
 * id kept in `kafka/cluster-id`) unless something already listens on the first node's port; formats
 * storage the first time. The nodes start together (a cluster's controllers need each other for a
 * quorum) and each is waited for on its port.
 * @returns the started nodes, or `undefined` when an existing broker was reused.
 * @throws Error naming the node that did not start and the tail of its log (its siblings are stopped).
 */
export async function startKafka(
  stackDir: string,
  log?: (msg: string) => void,
  mode: KafkaMode = 'single',
): Promise<KafkaService | undefined> {
  const nodes = kafkaNodes(mode);
  if (await isPortOpen('127.0.0.1', nodes[0]!.port)) return undefined;
  const libs = await ensureKafkaJars(stackDir, log);
  const dir = path.join(stackDir, 'kafka');
  const classpath = path.join(libs, '*');
  const single = nodes.length === 1;
  let clusterId: string | undefined;
  if (!single) {
    const idFile = path.join(dir, 'cluster-id');
    if (!fs.existsSync(idFile)) fs.writeFileSync(idFile, newKafkaClusterId());
    clusterId = fs.readFileSync(idFile, 'utf8').trim();
  }
  const started: Array<KafkaNode & { service: ServiceProcess }> = [];
  const stop = async () => {
    for (const n of [...started].reverse()) await n.service.stop();
  };
  try {
    for (const node of nodes) {
      const nodeDir = single ? dir : path.join(dir, `node-${node.id}`);
      const dataDir = path.join(nodeDir, 'data');
      fs.mkdirSync(nodeDir, { recursive: true });
      const props = path.join(nodeDir, 'server.properties');
      fs.writeFileSync(props, kafkaServerProperties(dataDir, node, nodes));
      if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
        await formatKafkaStorage(libs, props, clusterId ?? newKafkaClusterId(), single);
      }
      const name = single ? 'kafka' : `kafka-${node.id}`;
      const heap = single ? '-Xmx1g' : '-Xmx512m';
      started.push({
        ...node,
        service: startService(name, 'java', [heap, '-cp', classpath, 'kafka.Kafka', props], path.join(stackDir, 'logs')),
      });
    }
    await Promise.all(started.map((n) => waitForService(n.service, `Kafka node ${n.id}`, '127.0.0.1', n.port, 90_000)));
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes: started, stop };
}
