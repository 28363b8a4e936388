/**
 * A private, throw-away Temporal dev server for the latency experiments (never the shared one): its own
 * ports, an in-memory store (or a temp SQLite file), no UI, chosen `--dynamic-config-value`s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import { isPortOpen, startService, waitForService } from '../src/stack/process';

/** Options of {@link startPrivateDevServer}. */
export interface PrivateDevServerOptions {
  /** Folder of the stack (where the CLI lives). */
  stackDir: string;
  /** gRPC port. @default 17233 */
  port?: number;
  /** `KEY=VALUE` dynamic config entries. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** Use a SQLite file in a temp folder (like the project stack) instead of the in-memory store. @default false */
  sqliteFile?: boolean;
  /** `--sqlite-pragma` values, e.g. `{ journal_mode: 'WAL', synchronous: 'NORMAL' }` (file store only). */
  sqlitePragmas?: Record<string, string>;
}

/** A running private dev server. */
export interface PrivateDevServer {
  address: string;
  namespace: string;
  stop(): Promise<void>;
}

/**
 * Starts the dev server and waits until the `default` namespace answers.
 * @throws when the port is taken (to never reuse someone else's server) or the server does not come up in 60 s
 */
export async function startPrivateDevServer(o: PrivateDevServerOptions): Promise<PrivateDevServer> {
  const host = '127.0.0.1';
  const port = o.port ?? 17233;
  if (await isPortOpen(host, port))
    throw new Error(`Port ${port} is already in use; the experiments need a private Temporal dev server there.`);
  const cli = await findOrBuildTemporalCli(o.stackDir);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-bench-temporal-'));
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--headless',
    '--namespace',
    'default',
    '--log-level',
    'error',
  ];
  if (o.sqliteFile) args.push('--db-filename', path.join(dir, 'temporal.db'));
  for (const [k, v] of Object.entries(o.sqlitePragmas ?? {})) args.push('--sqlite-pragma', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${k}=${String(v)}`);
  const svc = await waitForService(startService('temporal-bench', cli, args, dir), 'private Temporal dev server', host, port, 60_000);
  // If this process exits without stop() (watchdog, crash), the server must not outlive it.
  const killOnExit = () => {
    if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    await svc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const address = `${host}:${port}`;
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const c = await Connection.connect({ address, connectTimeout: 2_000 });
        try {
          await c.workflowService.describeNamespace({ namespace: 'default' });
          break;
        } finally {
          await c.close();
        }
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, namespace: 'default', stop };
}
