/**
 * Kafka Connect with a JDBC sink as a peer, if a JDBC sink connector can be obtained from Maven
 * Central. The runtime is there (the stack's Kafka jars include `connect-runtime`), the connector is
 * not: Confluent's `kafka-connect-jdbc` is not published there, and neither is Debezium's
 * `debezium-connector-jdbc` (only its base `debezium-sink`). The bench asks Maven for the two
 * candidates each run (a refused artifact is remembered by Maven, so this costs seconds) and reports
 * what it tried and what Maven answered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from './spawned';

/** The JDBC sink connectors tried, in order. */
export const JDBC_SINK_CANDIDATES = [
  { name: "Debezium's JDBC sink", artifact: 'io.debezium:debezium-connector-jdbc:3.6.1.Final' },
  {
    name: "Apache Camel's PostgreSQL sink (Kafka connector package)",
    artifact: 'org.apache.camel.kafkaconnector:camel-postgresql-sink-kafka-connector:4.14.1:tar.gz:package',
  },
] as const;

/** The line of Maven's output that says why it failed. */
function mavenReason(out: string): string {
  const line = out.split('\n').find((l) => /Couldn't download artifact|Could not find|not found|Failed to/.test(l));
  return (line ?? out.split('\n').slice(-3).join(' '))
    .replace(/^\[ERROR\]\s*/, '')
    .replace(/Failed to execute goal \S+ \(default-cli\) on project standalone-pom: /, '')
    .replace(/https?:\/\/\S+/g, 'Maven Central')
    .replace(/\s+/g, ' ')
    .slice(0, 300);
}

/**
 * Tries to obtain a JDBC sink connector for Kafka Connect.
 * @returns how it was obtained, or `error` saying what was tried and why it failed
 */
export function tryKafkaConnect(stackDir: string, log: (m: string) => void): { how: string; error?: string } {
  const libs = path.join(stackDir, 'kafka', 'libs');
  const runtime = fs.existsSync(libs) ? fs.readdirSync(libs).find((f) => /^connect-runtime-[\d.]+\.jar$/.test(f)) : undefined;
  const how = `Kafka Connect standalone (${runtime ?? 'connect-runtime not found in the stack'}) with a JDBC sink from Maven Central`;
  const mvn = runCommand('mvn', ['-v']);
  if (!mvn.ok) return { how, error: `Maven is not usable here to fetch a connector: ${mvn.error}` };
  const tried: string[] = [];
  for (const c of JDBC_SINK_CANDIDATES) {
    log(`  peers: Kafka Connect: asking Maven Central for ${c.artifact}…`);
    const args = ['-B', 'dependency:get', `-Dartifact=${c.artifact}`, '-Dtransitive=false'];
    const r = runCommand('mvn', args, { timeoutMs: 180_000 });
    if (r.ok) {
      return {
        how: `${how}: obtained ${c.artifact}`,
        error: `${c.name} (${c.artifact}) was obtained, but running Kafka Connect with it is not implemented in this bench yet`,
      };
    }
    tried.push(`\`mvn ${args.join(' ')}\`: ${mavenReason(`${r.stdout}\n${r.error ?? ''}`)}`);
  }
  return { how, error: `no JDBC sink connector could be obtained from Maven Central. Tried: ${tried.join('; ')}` };
}
