/**
 * Temporal's standard connection settings (src/config/temporal-connection.ts, `@temporalio/envconfig`):
 * how the environment, the config-file profile and the defaults combine, and, on the real dev server,
 * the compiled CLI, a compiled worker and `schedules apply` reaching a namespace that only a profile
 * names (`TEMPORAL_CONFIG_FILE` + `TEMPORAL_PROFILE`, no `TEMPORAL_ADDRESS`), and a clear error for a
 * profile the file lacks.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { loadSettings } from '../src/config/env';
import { SEARCH_ATTRIBUTES } from '../src/config/names';
import {
  DEFAULT_TEMPORAL_ADDRESS,
  isExternalTemporal,
  loadTemporalConnection,
  TemporalProfileError,
} from '../src/config/temporal-connection';
import { LAUNCH_SNAPSHOTS, startLaunchServer, type LaunchServer } from '../src/simulator/launch-server';
import { exitOf, killHard, spawnCli, startCliWorker, waitFor } from './support/processes';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-profile-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `text` to a file of the temp folder and returns its path. */
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

describe('loadTemporalConnection: environment > config-file profile > defaults', () => {
  const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n');
  const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
  const config = file(
    'temporal.toml',
    `[profile.default]
address = "default.example:7233"
namespace = "ns-default"

[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "secret-key"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "prod"
[profile.mtls.tls]
client_cert_path = "${cert}"
client_key_path = "${key}"
server_ca_cert_path = "${ca}"
server_name = "temporal.internal"
[profile.mtls.grpc_meta]
x_tenant = "plant-3"
`,
  );
  // No default config file is found under an empty HOME / XDG_CONFIG_HOME.
  const home = fs.mkdtempSync(path.join(dir, 'home-'));
  const base = { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') };

  it('uses the embedded defaults when nothing is set', () => {
    const c = loadTemporalConnection(base);
    expect(c).toMatchObject({ address: DEFAULT_TEMPORAL_ADDRESS, namespace: 'default', addressFrom: 'default', profile: undefined });
    expect(c.tls).toBeUndefined();
    expect(isExternalTemporal(c)).toBe(false);
  });

  it('reads the default profile of the default config file', () => {
    fs.mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
    fs.copyFileSync(config, path.join(home, '.config', 'temporalio', 'temporal.toml'));
    try {
      const c = loadTemporalConnection(base);
      expect(c).toMatchObject({ address: 'default.example:7233', namespace: 'ns-default', addressFrom: 'profile' });
      expect(c.profile?.name).toBe('default');
      expect(isExternalTemporal(c)).toBe(true);
    } finally {
      fs.rmSync(path.join(home, '.config'), { recursive: true });
    }
  });

  it('takes TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE over the profile, and empty ones as unset', () => {
    const env = { ...base, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'cloud' };
    expect(loadTemporalConnection({ ...env, TEMPORAL_ADDRESS: '127.0.0.1:7999', TEMPORAL_NAMESPACE: 'mine' })).toMatchObject({
      address: '127.0.0.1:7999',
      namespace: 'mine',
      apiKey: 'secret-key',
      addressFrom: 'env',
    });
    expect(loadTemporalConnection({ ...env, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '' })).toMatchObject({
      address: 'my-ns.a1b2c.tmprl.cloud:7233',
      namespace: 'my-ns.a1b2c',
      addressFrom: 'profile',
    });
  });

  it('an API key turns TLS on (Temporal Cloud); TEMPORAL_API_KEY overrides the profile’s', () => {
    const c = loadTemporalConnection({ ...base, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'cloud', TEMPORAL_API_KEY: 'from-env' });
    expect(c.apiKey).toBe('from-env');
    expect(c.tls).toBe(true);
    expect(isExternalTemporal({ ...c, addressFrom: 'env' })).toBe(true);
  });

  it('mTLS: certificate files of the profile are read; gRPC metadata and TEMPORAL_TLS=false', () => {
    const env = { ...base, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'mtls' };
    const c = loadTemporalConnection(env);
    expect(c.tls).toMatchObject({ serverNameOverride: 'temporal.internal' });
    const tls = c.tls as { clientCertPair: { crt: Uint8Array; key: Uint8Array }; serverRootCACertificate: Uint8Array };
    expect(Buffer.from(tls.clientCertPair.crt).toString()).toBe(fs.readFileSync(cert, 'utf8'));
    expect(Buffer.from(tls.clientCertPair.key).toString()).toBe(fs.readFileSync(key, 'utf8'));
    expect(Buffer.from(tls.serverRootCACertificate).toString()).toBe(fs.readFileSync(ca, 'utf8'));
    expect(c.metadata).toEqual({ 'x-tenant': 'plant-3' });
    expect(loadTemporalConnection({ ...env, TEMPORAL_TLS: 'false' }).tls).toBe(false);
  });

  it('says which profiles exist when TEMPORAL_PROFILE names a missing one', () => {
    expect(() => loadTemporalConnection({ ...base, TEMPORAL_CONFIG_FILE: config, TEMPORAL_PROFILE: 'prod' })).toThrow(
      new TemporalProfileError(
        `TEMPORAL_PROFILE=prod: the Temporal config file ${config} has no [profile.prod] (its profiles: default, cloud, mtls).`,
      ),
    );
    expect(() => loadTemporalConnection({ ...base, TEMPORAL_PROFILE: 'prod' })).toThrow(/no \[profile\.prod\] \(it has no profiles\)/);
  });

  it('rejects a TEMPORAL_CONFIG_FILE that does not exist, a file that is not TOML, a certificate that is missing', () => {
    const missing = path.join(dir, 'missing.toml');
    expect(() => loadTemporalConnection({ ...base, TEMPORAL_CONFIG_FILE: missing })).toThrow(
      `TEMPORAL_CONFIG_FILE=${missing} does not exist; create it or unset the variable.`,
    );
    const broken = file('broken.toml', '[profile.default\naddress = 1\n');
    expect(() => loadTemporalConnection({ ...base, TEMPORAL_CONFIG_FILE: broken })).toThrow(
      new RegExp(`^Cannot read the Temporal config file ${broken}: `),
    );
    const noCert = file(
      'no-cert.toml',
      `[profile.default]\naddress = "x:7233"\n[profile.default.tls]\nserver_ca_cert_path = "${dir}/none.pem"\n`,
    );
    expect(() => loadTemporalConnection({ ...base, TEMPORAL_CONFIG_FILE: noCert })).toThrow(
      /^Cannot load the Temporal connection of profile default in .*no-cert\.toml: ENOENT/,
    );
  });
});

describe('the compiled CLI, a worker and schedules through a config-file profile (dev server)', () => {
  const settings = loadSettings();
  const namespace = `profile-${randomUUID().slice(0, 8)}`;
  const taskQueue = `profile-${randomUUID()}`;
  const configFile = path.join(dir, 'stack.toml');
  // Only the profile says where Temporal is and which namespace: the suite's TEMPORAL_ADDRESS and
  // TEMPORAL_NAMESPACE are blanked (an empty variable counts as unset).
  const env = {
    TEMPORAL_ADDRESS: '',
    TEMPORAL_NAMESPACE: '',
    TEMPORAL_CONFIG_FILE: configFile,
    TEMPORAL_PROFILE: 'stack',
    TASK_QUEUE: taskQueue,
  };
  let connection: Connection | undefined;
  let client: Client;
  let worker: (ChildProcess & { output: () => string }) | undefined;
  let launchServer: LaunchServer | undefined;

  beforeAll(async () => {
    connection = await Connection.connect({ address: settings.temporalAddress });
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    const types = temporal.api.enums.v1.IndexedValueType;
    await waitFor(
      `namespace ${namespace} to take search attributes`,
      async () => {
        try {
          await connection!.operatorService.addSearchAttributes({
            namespace,
            searchAttributes: Object.fromEntries(
              Object.entries(SEARCH_ATTRIBUTES).map(([n, t]) => [
                n,
                t === 'Keyword' ? types.INDEXED_VALUE_TYPE_KEYWORD : types.INDEXED_VALUE_TYPE_DATETIME,
              ]),
            ),
          });
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      500,
    );
    client = new Client({ connection, namespace });
    fs.writeFileSync(
      configFile,
      `[profile.other]\naddress = "127.0.0.1:1"\n\n[profile.stack]\naddress = "${settings.temporalAddress}"\nnamespace = "${namespace}"\n`,
    );
    launchServer = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'] });
    worker = await startCliWorker(env);
  });

  afterAll(async () => {
    if (worker) await killHard(worker);
    await launchServer?.close();
    await connection?.close();
  });

  it('the worker names the profile; a pipeline run by the CLI lands in the profile’s namespace', async () => {
    expect(worker!.output()).toContain(
      `Worker polling task queue ${taskQueue} on ${settings.temporalAddress}, namespace ${namespace} (profile stack of ${configFile}).`,
    );
    const logicalDate = `profile-${randomUUID().slice(0, 8)}`;
    const run = spawnCli(['run', 'launch-images', `url=${launchServer!.url}`, `logicalDate=${logicalDate}`], env);
    expect(await exitOf(run), run.output()).toBe(0);
    const described = await client.workflow.getHandle(`launch-images-${logicalDate}`).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.taskQueue).toBe(taskQueue);
  });

  it('schedules apply creates the schedule in the profile’s namespace', async () => {
    const schedulesDir = fs.mkdtempSync(path.join(dir, 'schedules-'));
    const id = `profile-${randomUUID().slice(0, 8)}`;
    fs.writeFileSync(
      path.join(schedulesDir, `${id}.yaml`),
      `id: ${id}\nworkflow: eventsStats\ntaskQueue: ${taskQueue}\nevery: 1h\npaused: true\nargs: {}\n`,
    );
    const apply = spawnCli(['schedules', 'apply', '--dir', schedulesDir], env);
    expect(await exitOf(apply), apply.output()).toBe(0);
    expect(apply.output()).toContain('Applied: 1 created');
    const d = await client.schedule.getHandle(id).describe();
    expect(d.state.paused).toBe(true);
    await client.schedule.getHandle(id).delete();
  });

  it('stack up leaves a Temporal named by a profile alone (the user’s own) and says so', async () => {
    const up = spawnCli(['stack', 'up', '--services', 'temporal'], env);
    try {
      await waitFor('stack up to be ready', () => up.output().includes('Press Ctrl-C') || up.exitCode !== null, 60_000, 100);
      expect(up.output()).toContain('Stack ready (started: none, all reused).');
      expect(up.output()).toContain(
        `Temporal  ${settings.temporalAddress}, namespace ${namespace} (profile stack of ${configFile}) (your own; not started by the stack)`,
      );
    } finally {
      up.kill('SIGINT');
      expect(await exitOf(up, 30_000), up.output()).toBe(0);
    }
  });

  it('a profile the config file lacks stops the CLI with the profiles it has', async () => {
    const cli = spawnCli(['status'], { ...env, TEMPORAL_PROFILE: 'prod' });
    expect(await exitOf(cli)).toBe(1);
    expect(cli.output()).toContain(
      `TEMPORAL_PROFILE=prod: the Temporal config file ${configFile} has no [profile.prod] (its profiles: other, stack).`,
    );
  });
});
