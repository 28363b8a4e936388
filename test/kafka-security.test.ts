/**
 * Kafka with authentication, on the embedded broker's SASL listener: the CLI produces with SASL/PLAIN
 * and SCRAM-SHA-256 credentials from the environment (a SCRAM user created with Kafka's own
 * `kafka-configs` tool), `KafkaBatchConsumer` consumes over SASL, a wrong password fails with the
 * broker's authentication error, and bad security variables are rejected with what to set.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, loadSettings } from '../src/config/env';
import { kafkaSecurity, KafkaSecurityConfigError } from '../src/config/kafka-security';
import { createTopic } from '../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../src/ingest/kafka-consumer';
import { KAFKA_PLAIN_USER, KAFKA_SASL_PORT } from '../src/stack/kafka';
import { testPool, uniqueSuffix } from './support/db';
import { withEnv } from './support/env';
import { spawnCli, waitFor } from './support/processes';

const pool = testPool();
const SASL_BROKER = `127.0.0.1:${KAFKA_SASL_PORT}`;
const PLAIN = {
  KAFKA_BROKERS: SASL_BROKER,
  KAFKA_SASL_MECHANISM: 'plain',
  KAFKA_SASL_USERNAME: KAFKA_PLAIN_USER.username,
  KAFKA_SASL_PASSWORD: KAFKA_PLAIN_USER.password,
};

afterAll(async () => {
  await pool.end();
});

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawnCli(args, env);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output: child.output() };
}

describe.skipIf(process.env.KAFKA_BROKERS !== undefined)('Kafka over SASL (embedded broker)', () => {
  it('produces with PLAIN from the CLI, consumes over SASL, and refuses a wrong password', { timeout: 120_000 }, async () => {
    const topic = `sasl-plain-${uniqueSuffix()}`;
    await createTopic(kafkaBrokers(), topic, 2);
    const produced = await cli(['kafka', 'produce', topic, '--count', '500', '--devices', '20'], PLAIN);
    expect(produced.code, produced.output).toBe(0);
    expect(produced.output).toContain('Sent 500 records');
    await withEnv(PLAIN, async () => {
      const c = new KafkaBatchConsumer(pool, { brokers: [SASL_BROKER], groupId: topic, topic, source: topic, kind: 'modem' });
      await c.start();
      try {
        await waitFor('500 records over SASL', () => c.stats.committed >= 500, 30_000, 100);
      } finally {
        await c.stop();
      }
    });
    const rows = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [topic]);
    expect(Number(rows.rows[0]!.n)).toBe(500);

    const denied = await cli(['kafka', 'produce', topic, '--count', '1'], { ...PLAIN, KAFKA_SASL_PASSWORD: 'wrong' });
    expect(denied.code).not.toBe(0);
    expect(denied.output).toMatch(/SASL PLAIN authentication failed/i);
  });

  it('authenticates a SCRAM-SHA-256 user created with kafka-configs', { timeout: 120_000 }, async () => {
    const user = `scram-${uniqueSuffix()}`;
    const libs = path.join(loadSettings().stackDir, 'kafka', 'libs', '*');
    const created = spawnSync(
      'java',
      [
        '-cp',
        libs,
        'kafka.admin.ConfigCommand',
        '--bootstrap-server',
        kafkaBrokers().join(','),
        '--alter',
        '--add-config',
        'SCRAM-SHA-256=[iterations=4096,password=scram-secret]',
        '--entity-type',
        'users',
        '--entity-name',
        user,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(created.status, created.stderr).toBe(0);
    const topic = `sasl-scram-${uniqueSuffix()}`;
    await createTopic(kafkaBrokers(), topic, 1);
    const env = {
      KAFKA_BROKERS: SASL_BROKER,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD: 'scram-secret',
    };
    // The credential reaches the broker's SCRAM cache asynchronously: retry the first produce briefly.
    let produced = await cli(['kafka', 'produce', topic, '--count', '50'], env);
    for (let i = 0; i < 5 && produced.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      produced = await cli(['kafka', 'produce', topic, '--count', '50'], env);
    }
    expect(produced.code, produced.output).toBe(0);
    expect(produced.output).toContain('Sent 50 records');
    const denied = await cli(['kafka', 'produce', topic, '--count', '1'], { ...env, KAFKA_SASL_MECHANISM: 'scram-sha-512' });
    expect(denied.code).not.toBe(0);
  });
});

describe('Kafka security settings', () => {
  it('reads mechanism, credentials and TLS, and says what is wrong otherwise', () => {
    expect(kafkaSecurity({})).toEqual({});
    expect(
      kafkaSecurity({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SSL: 'true' }),
    ).toEqual({
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      ssl: true,
    });
    expect(() => kafkaSecurity({ KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/KAFKA_SASL_MECHANISM: "gssapi" is not one of plain/);
    expect(() => kafkaSecurity({ KAFKA_SASL_MECHANISM: 'plain' })).toThrow(KafkaSecurityConfigError);
    expect(() => kafkaSecurity({ KAFKA_SSL: 'yes' })).toThrow(/KAFKA_SSL: "yes" must be true or false/);
    expect(() => kafkaSecurity({ KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/KAFKA_SSL_CA_FILE: cannot read/);
  });
});
