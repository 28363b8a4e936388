/**
 * Mosquitto MQTT broker (Debian package `mosquitto`, installed with apt-get when missing) with
 * persistence on, bound to 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPortOpen, runCommand, startService, waitForService, type ServiceProcess } from './process';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'];

function findMosquitto(): string | undefined {
  const fromPath = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' }).stdout.trim();
  return fromPath || CANDIDATES.find((p) => fs.existsSync(p));
}

/**
 * Returns the mosquitto binary, installing the Debian package when missing and running as root.
 * @throws Error saying how to install Mosquitto (or set `MQTT_URL`) otherwise.
 */
export async function findOrInstallMosquitto(log: (msg: string) => void = console.log): Promise<string> {
  const found = findMosquitto();
  if (found) return found;
  if (os.userInfo().uid === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    log('Installing Mosquitto with apt-get…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => runCommand('apt-get', ['install', '-y', '--no-install-recommends', 'mosquitto'], { env });
    try {
      await install();
    } catch {
      await runCommand('apt-get', ['update'], { env });
      await install();
    }
    const after = findMosquitto();
    if (after) return after;
  }
  throw new Error('Mosquitto is not installed. Install it (Debian/Ubuntu: `apt-get install mosquitto`) or point MQTT_URL at a broker.');
}

/** Broker configuration: loopback only, persistent sessions kept, large queues so nothing is dropped. */
export function mosquittoConfig(port: number, dataDir: string): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dataDir}/`,
    // Save the in-memory store often so a broker crash loses at most a second of queued messages.
    'autosave_interval 1',
    // Queued QoS 1 messages per offline persistent session (default 1000 would drop data).
    'max_queued_messages 1000000',
    'max_queued_bytes 0',
    // MQTT 3.1.1 clients: in-flight window (MQTT 5 clients use their Receive Maximum).
    'max_inflight_messages 1000',
    'persistent_client_expiration 7d',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'user root',
    '',
  ].join('\n');
}

/**
 * Starts Mosquitto on 127.0.0.1:`port` unless something already listens there.
 * @returns the started process, or `undefined` when an existing broker was reused.
 */
export async function startMosquitto(stackDir: string, port: number, log?: (msg: string) => void): Promise<ServiceProcess | undefined> {
  if (await isPortOpen('127.0.0.1', port)) return undefined;
  const bin = await findOrInstallMosquitto(log);
  const dir = path.join(stackDir, 'mosquitto');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, mosquittoConfig(port, dataDir));
  const svc = startService('mosquitto', bin, ['-c', conf], path.join(stackDir, 'logs'));
  return waitForService(svc, 'Mosquitto', '127.0.0.1', port, 15_000);
}
