/**
 * MQTT with TLS and a password, on a real Mosquitto started by this test on a free port with a private
 * CA (made with openssl) and a `password_file` (made with mosquitto_passwd): the simulator publishes and
 * `MqttBatchConsumer` consumes real readings over `mqtts://` with the CA and credentials from the
 * environment; a wrong password and a missing CA fail with the broker's and TLS's own errors.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttSecurity, MqttSecurityConfigError } from '../src/config/mqtt-security';
import { MqttBatchConsumer } from '../src/ingest/mqtt-consumer';
import { loadSensorFile } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import { findOrInstallMosquitto } from '../src/stack/mosquitto';
import { isPortOpen } from '../src/stack/process';
import { testPool, uniqueSuffix } from './support/db';
import { withEnv } from './support/env';
import { freePort, killHard, waitFor } from './support/processes';

const pool = testPool();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqtt-tls-'));
const USER = 'sensor-gateway';
const PASSWORD = 's3cret-Pa55';
let broker: ChildProcess | undefined;
let url = '';

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

beforeAll(async () => {
  // A private CA and a server certificate for 127.0.0.1.
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=iot-pipelines test CA',
  ]);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('openssl', [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  run('mosquitto_passwd', ['-c', '-b', path.join(dir, 'passwd'), USER, PASSWORD]);
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      `cafile ${path.join(dir, 'ca.pem')}`,
      `certfile ${path.join(dir, 'server.pem')}`,
      `keyfile ${path.join(dir, 'server.key')}`,
      'allow_anonymous false',
      `password_file ${path.join(dir, 'passwd')}`,
      'persistence false',
      ...(os.userInfo().uid === 0 ? ['user root'] : []),
      '',
    ].join('\n'),
  );
  broker = spawn(await findOrInstallMosquitto(), ['-c', conf], { stdio: 'ignore' });
  await waitFor('the TLS broker', () => isPortOpen('127.0.0.1', port), 15_000, 100);
  url = `mqtts://127.0.0.1:${port}`;
});

afterAll(async () => {
  if (broker) await killHard(broker);
  await pool.end();
  fs.rmSync(dir, { recursive: true, force: true });
});

const secure = () => ({ MQTT_CA_FILE: path.join(dir, 'ca.pem'), MQTT_USERNAME: USER, MQTT_PASSWORD: PASSWORD });

describe('MQTT over TLS with a password', () => {
  it(
    'publishes and ingests real readings over mqtts:// with the CA and credentials from the environment',
    { timeout: 60_000 },
    async () => {
      const source = `tls-${uniqueSuffix()}`;
      const readings = loadSensorFile('uci-occupancy', 'data/uci-occupancy/datatest.txt').slice(0, 300);
      await withEnv(secure(), async () => {
        const c = new MqttBatchConsumer(pool, {
          url,
          clientId: source,
          topic: `sensors/${source}/+`,
          source,
          batchSize: 100,
          flushIntervalMs: 100,
        });
        await c.start();
        try {
          await replayReadings({ url, source, readings });
          await waitFor('every reading over TLS', () => c.stats.committed >= readings.length, 30_000, 100);
        } finally {
          await c.stop();
        }
      });
      const r = await pool.query<{ n: string; t: number }>(
        'SELECT count(*) AS n, sum(temperature) AS t FROM ingest.sensor_readings WHERE source = $1',
        [source],
      );
      expect(Number(r.rows[0]!.n)).toBe(readings.length);
      expect(r.rows[0]!.t).toBeCloseTo(
        readings.reduce((s, x) => s + (x.temperature ?? 0), 0),
        6,
      );
    },
  );

  it('refuses a wrong password and an unknown CA with their own errors', { timeout: 30_000 }, async () => {
    const attempt = (env: Record<string, string | undefined>) =>
      withEnv(env, async () => {
        const c = new MqttBatchConsumer(pool, { url, clientId: `tls-denied-${uniqueSuffix()}`, topic: 'sensors/none/+', source: 'none' });
        try {
          await c.start();
          return 'connected';
        } catch (e) {
          return (e as Error).message;
        } finally {
          await c.stop({ flush: false });
        }
      });
    expect(await attempt({ ...secure(), MQTT_PASSWORD: 'wrong' })).toMatch(/not authorized|bad user name or password/i);
    expect(await attempt({ ...secure(), MQTT_CA_FILE: undefined })).toMatch(/self[- ]signed|unable to (get|verify)/i);
  });

  it('reads the settings and says what is wrong', () => {
    expect(mqttSecurity({})).toEqual({});
    expect(mqttSecurity({ MQTT_USERNAME: 'u', MQTT_PASSWORD: '' })).toEqual({ username: 'u', password: '' });
    expect(() => mqttSecurity({ MQTT_PASSWORD: 'p' })).toThrow(/MQTT_USERNAME: MQTT_PASSWORD is set/);
    expect(() => mqttSecurity({ MQTT_CERT_FILE: '/x.pem' })).toThrow(MqttSecurityConfigError);
    expect(() => mqttSecurity({ MQTT_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/MQTT_CA_FILE: cannot read/);
  });
});
