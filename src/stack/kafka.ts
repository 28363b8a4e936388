/**
 * Single-node Apache Kafka 4.1.1 in KRaft mode, run from Maven Central jars with the machine's Java.
 * The jars are fetched once with `mvn dependency:copy-dependencies` into `<stackDir>/kafka/libs`.
 * Listeners on 127.0.0.1: PLAINTEXT on `EMBEDDED_KAFKA_PORT` (9092), the KRaft controller on the next
 * port, and SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) on `EMBEDDED_KAFKA_SASL_PORT` (9094).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isPortOpen, runCommand, startService, waitForService, type ServiceProcess } from './process';

/** Kafka version run by the embedded stack. */
export const KAFKA_VERSION = '4.1.1';

/** Broker port on 127.0.0.1. @default 9092 */
export const KAFKA_PORT = Number(process.env.EMBEDDED_KAFKA_PORT || 9092);
const CONTROLLER_PORT = KAFKA_PORT + 1;
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

/**
 * The broker's `server.properties`: one KRaft node (broker and controller) on 127.0.0.1 with its log
 * in `dataDir`, the listeners of the module comment, replication factors of 1.
 */
export function kafkaServerProperties(dataDir: string): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${CONTROLLER_PORT}`,
    `listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}`,
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
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
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
 * Formats the broker's storage once (`kafka-storage format --standalone`). The cluster id is passed as
 * `--cluster-id=<id>`, one argument, so no id can be taken for an option.
 * @throws CommandFailedError with the command line and Kafka's own output when the tool fails.
 */
export async function formatKafkaStorage(libs: string, propertiesFile: string, clusterId: string): Promise<void> {
  await runCommand(
    'java',
    ['-cp', path.join(libs, '*'), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propertiesFile, '--standalone'],
    { quiet: true },
  );
}

/**
 * Starts the broker unless something already listens on its port; formats storage the first time.
 * @returns the started process, or `undefined` when an existing broker was reused.
 */
export async function startKafka(stackDir: string, log?: (msg: string) => void): Promise<ServiceProcess | undefined> {
  if (await isPortOpen('127.0.0.1', KAFKA_PORT)) return undefined;
  const libs = await ensureKafkaJars(stackDir, log);
  const dir = path.join(stackDir, 'kafka');
  const dataDir = path.join(dir, 'data');
  const props = path.join(dir, 'server.properties');
  fs.writeFileSync(props, kafkaServerProperties(dataDir));
  const classpath = path.join(libs, '*');
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) await formatKafkaStorage(libs, props, newKafkaClusterId());
  const svc = startService('kafka', 'java', ['-Xmx1g', '-cp', classpath, 'kafka.Kafka', props], path.join(stackDir, 'logs'));
  return waitForService(svc, 'Kafka', '127.0.0.1', KAFKA_PORT, 60_000);
}
