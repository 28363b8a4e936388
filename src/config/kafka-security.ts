/**
 * How Kafka clients authenticate and encrypt, from the environment (like every address here), for
 * clusters such as Amazon MSK, Confluent Cloud or a self-run cluster with SASL listeners:
 *
 * | variable | meaning |
 * |---|---|
 * | `KAFKA_SASL_MECHANISM` | `plain`, `scram-sha-256` or `scram-sha-512`; unset = no SASL |
 * | `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` | credentials (both required with a mechanism) |
 * | `KAFKA_SSL` | `true` to connect with TLS (system CAs) |
 * | `KAFKA_SSL_CA_FILE` | PEM file of the CA to trust instead (implies TLS) |
 *
 * The shape returned is what kafkajs takes (`ssl`, `sasl` of `KafkaConfig`).
 */
import fs from 'node:fs';

/** SASL mechanisms supported (kafkajs built-ins that need nothing but a user name and password). */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
/** One of {@link KAFKA_SASL_MECHANISMS}. */
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** TLS and SASL settings of the Kafka clients. */
export interface KafkaSecurity {
  /** `true` (system CAs) or the CA to trust; absent = plaintext. */
  ssl?: true | { ca: string[] };
  sasl?: KafkaSaslOptions;
}

/** SASL credentials, one variant per mechanism (the discriminated shape kafkajs' `SASLOptions` has). */
export type KafkaSaslOptions = { [M in KafkaSaslMechanism]: { mechanism: M; username: string; password: string } }[KafkaSaslMechanism];

/** A Kafka security variable that is set wrongly; says which and what to set. */
export class KafkaSecurityConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'KafkaSecurityConfigError';
  }
}

/**
 * Reads {@link KafkaSecurity} from `env`.
 * @throws KafkaSecurityConfigError for an unknown mechanism, missing credentials, a bad `KAFKA_SSL`
 *   value or an unreadable CA file.
 */
export function kafkaSecurity(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const out: KafkaSecurity = {};
  const mechanism = env.KAFKA_SASL_MECHANISM?.trim().toLowerCase();
  if (mechanism) {
    if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(mechanism))
      throw new KafkaSecurityConfigError(
        'KAFKA_SASL_MECHANISM',
        `${JSON.stringify(mechanism)} is not one of ${KAFKA_SASL_MECHANISMS.join(', ')}`,
      );
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    if (!username || password === undefined)
      throw new KafkaSecurityConfigError('KAFKA_SASL_USERNAME', `SASL ${mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`);
    out.sasl = { mechanism: mechanism as KafkaSaslMechanism, username, password };
  }
  const ssl = env.KAFKA_SSL?.trim().toLowerCase();
  if (ssl && !['true', 'false', '1', '0'].includes(ssl))
    throw new KafkaSecurityConfigError('KAFKA_SSL', `${JSON.stringify(env.KAFKA_SSL)} must be true or false`);
  if (env.KAFKA_SSL_CA_FILE) {
    let ca: string;
    try {
      ca = fs.readFileSync(env.KAFKA_SSL_CA_FILE, 'utf8');
    } catch (e) {
      throw new KafkaSecurityConfigError('KAFKA_SSL_CA_FILE', `cannot read ${env.KAFKA_SSL_CA_FILE}: ${(e as Error).message}`);
    }
    out.ssl = { ca: [ca] };
  } else if (ssl === 'true' || ssl === '1') {
    out.ssl = true;
  }
  return out;
}
