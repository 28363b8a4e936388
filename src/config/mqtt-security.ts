/**
 * How MQTT clients authenticate and encrypt, from the environment, for brokers that require it (AWS IoT
 * Core, HiveMQ Cloud, a Mosquitto with `password_file` and TLS). TLS itself is chosen by the URL scheme
 * (`mqtts://…:8883`); these add what the URL cannot carry safely:
 *
 * | variable | meaning |
 * |---|---|
 * | `MQTT_USERNAME`, `MQTT_PASSWORD` | credentials (instead of putting them in `MQTT_URL`) |
 * | `MQTT_CA_FILE` | PEM file of the CA that signed the broker's certificate (e.g. a private CA) |
 * | `MQTT_CERT_FILE`, `MQTT_KEY_FILE` | client certificate and key (mutual TLS, as AWS IoT Core requires) |
 *
 * The shape returned is a subset of MQTT.js' `IClientOptions`, merged into every connection.
 */
import fs from 'node:fs';

/** Connection options for MQTT.js from the environment. */
export interface MqttSecurity {
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** An MQTT security variable that is set wrongly; says which and what to set. */
export class MqttSecurityConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'MqttSecurityConfigError';
  }
}

function readPem(env: NodeJS.ProcessEnv, variable: string): Buffer | undefined {
  const file = env[variable];
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new MqttSecurityConfigError(variable, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * Reads {@link MqttSecurity} from `env`.
 * @throws MqttSecurityConfigError for a password without a user name, a client certificate without its
 *   key (or the reverse), or an unreadable file.
 */
export function mqttSecurity(env: NodeJS.ProcessEnv = process.env): MqttSecurity {
  const out: MqttSecurity = {};
  if (env.MQTT_PASSWORD !== undefined && !env.MQTT_USERNAME)
    throw new MqttSecurityConfigError('MQTT_USERNAME', 'MQTT_PASSWORD is set but MQTT_USERNAME is not');
  if (env.MQTT_USERNAME) out.username = env.MQTT_USERNAME;
  if (env.MQTT_PASSWORD !== undefined) out.password = env.MQTT_PASSWORD;
  if (!env.MQTT_CERT_FILE !== !env.MQTT_KEY_FILE)
    throw new MqttSecurityConfigError(
      env.MQTT_CERT_FILE ? 'MQTT_KEY_FILE' : 'MQTT_CERT_FILE',
      'a client certificate needs both MQTT_CERT_FILE and MQTT_KEY_FILE',
    );
  const ca = readPem(env, 'MQTT_CA_FILE');
  const cert = readPem(env, 'MQTT_CERT_FILE');
  const key = readPem(env, 'MQTT_KEY_FILE');
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}
