/**
 * docker-compose.yml describes the stack for users with Docker (Docker cannot run here): its Kafka
 * service must offer what the embedded broker offers (src/stack/kafka.ts), read the way the
 * apache/kafka image reads its environment (KAFKA_<NAME>: `___` → `_`, `__` → `-`, `_` → `.`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT_DIR } from '../src/config/env';
import { KAFKA_PLAIN_USER, kafkaNodes, kafkaServerProperties } from '../src/stack/kafka';

/** The property an apache/kafka image environment variable sets. */
function propertyOf(env: string): string {
  return env
    .slice('KAFKA_'.length)
    .toLowerCase()
    .replace(/___/g, '\u0000')
    .replace(/__/g, '-')
    .replace(/_/g, '.')
    .replace(/\u0000/g, '_');
}

function properties(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('docker-compose.yml', () => {
  const compose = parse(fs.readFileSync(path.join(ROOT_DIR, 'docker-compose.yml'), 'utf8')) as {
    services: { kafka: { environment: Record<string, string | number>; ports: string[] } };
  };
  const kafka = compose.services.kafka;
  const props = new Map(Object.entries(kafka.environment).map(([k, v]) => [propertyOf(k), String(v)]));
  const embedded = properties(kafkaServerProperties('/data'));

  it('Kafka has a SASL listener with the embedded broker’s mechanisms, PLAIN user and SCRAM login modules, published on the host', () => {
    const listener = /SASL:\/\/:(\d+)/.exec(props.get('listeners') ?? '');
    expect(listener, props.get('listeners')).not.toBeNull();
    expect(props.get('advertised.listeners')).toContain(`SASL://127.0.0.1:${listener![1]}`);
    expect(props.get('listener.security.protocol.map')).toContain('SASL:SASL_PLAINTEXT');
    expect(kafka.ports).toContain(`127.0.0.1:${listener![1]}:${listener![1]}`);
    expect(props.get('sasl.enabled.mechanisms')).toBe(embedded.get('sasl.enabled.mechanisms'));
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
      expect(props.get(`listener.name.sasl.${mechanism}.sasl.jaas.config`), mechanism).toBe(
        embedded.get(`listener.name.sasl_plaintext.${mechanism}.sasl.jaas.config`),
      );
    }
    expect(props.get('listener.name.sasl.plain.sasl.jaas.config')).toContain(
      `user_${KAFKA_PLAIN_USER.username}="${KAFKA_PLAIN_USER.password}"`,
    );
  });

  it('the cluster profile runs three Kafka brokers as the stack’s KAFKA_MODE=cluster does: one quorum, the same replication settings', () => {
    const all = parse(fs.readFileSync(path.join(ROOT_DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { profiles?: string[]; environment?: Record<string, string | number> }>;
    };
    const brokers = Object.entries(all.services).filter(([name, svc]) => /^kafka-\d$/.test(name) && svc.profiles?.includes('cluster'));
    const nodes = kafkaNodes('cluster');
    expect(brokers).toHaveLength(nodes.length);
    const clusterProps = properties(kafkaServerProperties('/data', nodes[0], nodes));
    for (const [name, svc] of brokers) {
      const p = new Map(Object.entries(svc.environment ?? {}).map(([k, v]) => [propertyOf(k), String(v)]));
      expect(p.get('controller.quorum.voters'), name).toBe(brokers.map(([n], i) => `${i + 1}@${n}:9093`).join(','));
      expect(p.get('node.id'), name).toBe(name.slice('kafka-'.length));
      expect(p.get('advertised.listeners'), name).toBe(`PLAINTEXT://${name}:9092`);
      for (const key of [
        'default.replication.factor',
        'min.insync.replicas',
        'offsets.topic.replication.factor',
        'transaction.state.log.replication.factor',
        'transaction.state.log.min.isr',
        'replica.lag.time.max.ms',
      ]) {
        expect(p.get(key), `${name} ${key}`).toBe(clusterProps.get(key));
      }
    }
    expect(new Set(brokers.map(([, svc]) => svc.environment?.CLUSTER_ID)).size).toBe(1);
    expect(all.services['worker-cluster']?.environment?.KAFKA_BROKERS).toBe(brokers.map(([n]) => `${n}:9092`).join(','));
  });
});
