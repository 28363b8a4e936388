/**
 * Temporal dev server: finds or builds the `temporal` CLI and runs `temporal server start-dev` with a
 * SQLite file, the Web UI, eager activity execution and the project's search attributes.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../config/names';
import { hostPort, isPortOpen, runCommand, startService, waitForService, type ServiceProcess } from './process';

/** CLI module built when no binary is found; later versions carry a `replace` directive and cannot be go-installed. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, bin);
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

function goBinDir(): string | undefined {
  const r = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  return r.status === 0 ? path.join(r.stdout.trim().split(path.delimiter)[0] ?? '', 'bin') : undefined;
}

/**
 * Returns the path of the `temporal` CLI: `TEMPORAL_CLI_PATH`, `PATH`, `<stackDir>/bin`, Go's bin
 * folder; otherwise builds it with `go install` into `<stackDir>/bin` (about 3 minutes the first time).
 * @throws Error saying how to install the CLI when no binary exists and Go is missing.
 */
export async function findOrBuildTemporalCli(stackDir: string, log: (msg: string) => void = console.log): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} does not exist.`);
    return fromEnv;
  }
  const binDir = path.join(stackDir, 'bin');
  const goBin = goBinDir();
  const candidates = [onPath('temporal'), path.join(binDir, 'temporal'), goBin && path.join(goBin, 'temporal')];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  if (!onPath('go')) {
    throw new Error(
      'The Temporal CLI was not found and Go is not installed to build it. Install the CLI ' +
        '(https://docs.temporal.io/cli#install), put it on PATH or set TEMPORAL_CLI_PATH, ' +
        `or install Go and re-run to build it with \`go install ${TEMPORAL_CLI_MODULE}\`.`,
    );
  }
  fs.mkdirSync(binDir, { recursive: true });
  log(`Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${binDir}; this takes a few minutes once…`);
  await runCommand('go', ['install', TEMPORAL_CLI_MODULE], { env: { ...process.env, GOBIN: binDir } });
  return path.join(binDir, 'temporal');
}

/** Options of {@link startTemporal}. */
export interface TemporalOptions {
  stackDir: string;
  /** Frontend `host:port`. */
  address: string;
  uiPort: number;
  namespace: string;
  log?: (msg: string) => void;
}

/**
 * Starts the dev server unless something already listens on `address`.
 * @returns the started process, or `undefined` when an existing server was reused.
 */
export async function startTemporal(o: TemporalOptions): Promise<ServiceProcess | undefined> {
  const { host, port } = hostPort(o.address);
  if (await isPortOpen(host, port)) return undefined;
  const cli = await findOrBuildTemporalCli(o.stackDir, o.log);
  const dataDir = path.join(o.stackDir, 'temporal');
  fs.mkdirSync(dataDir, { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--ui-port',
    String(o.uiPort),
    '--db-filename',
    path.join(dataDir, 'temporal.db'),
    '--namespace',
    o.namespace,
    '--log-level',
    'warn',
    // Latency (bench/README.md): eager activities skip the activity hand-off through matching; the
    // transfer queue's default poll rate (20/s) otherwise delays every workflow task by up to 50 ms.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    '--dynamic-config-value',
    'history.transferProcessorMaxPollRPS=1000',
    // A dev store: WAL with synchronous=NORMAL steadies latency; a power loss may drop the last transactions.
    '--sqlite-pragma',
    'journal_mode=WAL',
    '--sqlite-pragma',
    'synchronous=NORMAL',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  const svc = startService('temporal', cli, args, path.join(o.stackDir, 'logs'));
  return waitForService(svc, 'Temporal dev server', host, port, 60_000);
}

/**
 * Waits until the Temporal frontend at `address` (a `host:port`, or connection options with TLS or an
 * API key) answers `DescribeNamespace` for `namespace`, retrying every 300 ms.
 * @throws Error with the last failure when `timeoutMs` (default 60 s) passes.
 */
export async function waitForTemporalReady(
  address: string | (ConnectionOptions & { address: string }),
  namespace: string,
  timeoutMs = 60_000,
): Promise<void> {
  const options = typeof address === 'string' ? { address } : address;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ ...options, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (e) {
      lastError = e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`Temporal at ${options.address} did not serve namespace ${namespace} within ${timeoutMs} ms: ${String(lastError)}`);
}
