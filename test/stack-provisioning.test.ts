/**
 * Provisioning that cannot flake: Kafka cluster ids in the form Kafka's tools take, failures that show
 * the failing command and its output (and make `npm test` exit non-zero), and `stack up` stopping every
 * process it started on SIGINT. Each stack here lives in its own temporary folder on free ports, beside
 * the suite's stack; the Temporal CLI and the Kafka jars of the suite's stack are reused.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings, ROOT_DIR } from '../src/config/env';
import { formatKafkaStorage, kafkaServerProperties, newKafkaClusterId } from '../src/stack/kafka';
import { isPortOpen } from '../src/stack/process';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import { exitOf, freePort, spawnCli, waitFor } from './support/processes';

const KAFKA_LIBS = path.join(loadSettings().stackDir, 'kafka', 'libs');
const kafkaJars = fs.existsSync(KAFKA_LIBS);

/** A cluster id the old code drew about once in 64 runs; kafka-storage took it for an option. */
const LEADING_DASH_ID = '-TRLnGzbQeq-PBV_hPWwRA';

function tmpStackDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-stack-'));
  fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
  return dir;
}

/** A port p with p, p+1 and p+2 free (Kafka's broker, controller and SASL listeners). */
async function freeKafkaPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const open = await Promise.all([p, p + 1, p + 2].map((q) => isPortOpen('127.0.0.1', q)));
    if (!open.some(Boolean)) return p;
  }
}

/** Environment of a stack in `dir` on free ports, none of the suite's services reused. */
async function isolatedStackEnv(dir: string): Promise<Record<string, string>> {
  return {
    STACK_DIR: dir,
    TEMPORAL_CLI_PATH: await findOrBuildTemporalCli(loadSettings().stackDir),
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(await freePort()),
    EMBEDDED_MQTT_PORT: String(await freePort()),
    EMBEDDED_KAFKA_PORT: String(await freeKafkaPort()),
    EMBEDDED_KAFKA_SASL_PORT: '',
    DATABASE_URL: '',
    MQTT_URL: '',
    KAFKA_BROKERS: '',
  };
}

/** A stack folder whose Kafka storage cannot be formatted: its data folder is a file. */
function brokenKafkaStackDir(): string {
  const dir = tmpStackDir();
  fs.mkdirSync(path.join(dir, 'kafka'), { recursive: true });
  fs.symlinkSync(KAFKA_LIBS, path.join(dir, 'kafka', 'libs'));
  fs.writeFileSync(path.join(dir, 'kafka', 'data'), '');
  return dir;
}

/** This process's environment without what vitest sets for its own workers. */
function outsideVitestEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_ENV'));
}

/** Every live descendant of `pid`, from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(state); // a zombie has exited
  } catch {
    return false;
  }
}

function pidFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.pid'));
}

describe('Kafka cluster ids', () => {
  it('100,000 draws: 22 URL-safe base64 characters for 16 bytes, none with a leading "-"', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = newKafkaClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
      seen.add(id);
    }
    expect(seen.size).toBe(100_000);
  });

  it('draws again after an id with a leading "-" and after the reserved all-zero id, as Kafka does', () => {
    const draws = [Buffer.from(LEADING_DASH_ID, 'base64url'), Buffer.alloc(16), Buffer.from('AAECAwQFBgcICQoLDA0ODw', 'base64url')];
    expect(Buffer.from(LEADING_DASH_ID, 'base64url').toString('base64url')).toBe(LEADING_DASH_ID);
    expect(newKafkaClusterId(() => draws.shift()!)).toBe('AAECAwQFBgcICQoLDA0ODw');
    expect(draws).toHaveLength(0);
  });

  it.runIf(kafkaJars)('the real kafka-storage format takes an id with a leading "-" as --cluster-id=<id>', async () => {
    const dir = tmpStackDir();
    const props = path.join(dir, 'server.properties');
    fs.writeFileSync(props, kafkaServerProperties(path.join(dir, 'data')));
    await formatKafkaStorage(KAFKA_LIBS, props, LEADING_DASH_ID);
    expect(fs.readFileSync(path.join(dir, 'data', 'meta.properties'), 'utf8')).toContain(`cluster.id=${LEADING_DASH_ID}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe.runIf(kafkaJars)('a provisioning failure', () => {
  it('`stack up` exits non-zero with the failing command line and Kafka’s own output', async () => {
    const dir = brokenKafkaStackDir();
    const env = await isolatedStackEnv(dir);
    const cli = spawnCli(['stack', 'up', '--services', 'kafka'], env);
    expect(await exitOf(cli, 120_000)).toBe(1);
    const out = cli.output();
    expect(out).toMatch(
      /error: `java -cp \S+ kafka\.tools\.StorageTool format --cluster-id=[A-Za-z0-9_][A-Za-z0-9_-]{21} -c \S+ --standalone` failed \(exit code 1\)/,
    );
    // Kafka's own words, which `quiet: true` used to hide.
    expect(out).toContain('No available log directories to format.');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('in the tests’ global setup makes vitest exit non-zero with the reason framed before its own report', async () => {
    const dir = brokenKafkaStackDir();
    const env = await isolatedStackEnv(dir);
    const child = spawn(
      process.execPath,
      [path.join(ROOT_DIR, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/fixtures/failing-setup/vitest.config.ts'],
      { cwd: ROOT_DIR, env: { ...outsideVitestEnv(), ...env, TEST_KAFKA: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await exitOf(child, 240_000);
    expect(code, stdout + stderr).not.toBe(0);
    const framed = stderr.indexOf('npm test could not start: provisioning the stack failed.');
    expect(framed, stdout + stderr).toBeGreaterThanOrEqual(0);
    expect(stderr.slice(framed)).toMatch(
      /kafka\.tools\.StorageTool format --cluster-id=\S+[\s\S]*No available log directories to format\./,
    );
    expect(stdout + stderr).not.toContain('is not run when the global setup fails');
    // What the failed setup had started (Temporal, PostgreSQL, Mosquitto) is stopped again.
    for (const port of [env.TEMPORAL_ADDRESS!.split(':')[1], env.EMBEDDED_PG_PORT, env.EMBEDDED_MQTT_PORT]) {
      expect(await isPortOpen('127.0.0.1', Number(port))).toBe(false);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe.runIf(kafkaJars)('stack up', () => {
  it('stops every process it started on SIGINT: none is left and no pid file remains', async () => {
    const dir = tmpStackDir();
    fs.mkdirSync(path.join(dir, 'kafka'), { recursive: true });
    fs.symlinkSync(KAFKA_LIBS, path.join(dir, 'kafka', 'libs'));
    const env = await isolatedStackEnv(dir);
    const cli = spawnCli(['stack', 'up', '--services', 'temporal,postgres,mosquitto,kafka'], env);
    try {
      await waitFor('the stack to be ready', () => cli.output().includes('Press Ctrl-C to stop.') || cli.exitCode !== null, 180_000);
      expect(cli.output()).toContain('started: ');
      expect(cli.exitCode, cli.output()).toBeNull();
      const tree = descendants(cli.pid!);
      const names = tree.map((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim());
      // The four services (PostgreSQL's postmaster has its own children).
      expect(names).toEqual(expect.arrayContaining(['temporal', 'postgres', 'mosquitto', 'java']));
      expect(pidFiles(dir).length).toBeGreaterThanOrEqual(3);

      cli.kill('SIGINT');
      expect(await exitOf(cli, 60_000), cli.output()).toBe(0);
      const left = tree.filter(alive);
      expect(left.map((p) => `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`)).toEqual([]);
      expect(pidFiles(dir)).toEqual([]);
      for (const port of [env.TEMPORAL_ADDRESS!.split(':')[1], env.EMBEDDED_PG_PORT, env.EMBEDDED_MQTT_PORT, env.EMBEDDED_KAFKA_PORT]) {
        expect(await isPortOpen('127.0.0.1', Number(port))).toBe(false);
      }
    } finally {
      if (cli.exitCode === null) cli.kill('SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
