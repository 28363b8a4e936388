/** PostgreSQL connection pool factory (node-postgres). */
import pg from 'pg';

/**
 * Creates a pool for `url`.
 * @param max largest number of connections. @default 10
 */
export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'iot-pipelines' });
  // A client losing its connection (server stopped or restarted) must not crash the process. pg-pool
  // listens for errors of idle clients only (`pool.on('error')`); a checked-out client would emit an
  // unhandled 'error' event. Its pending query still rejects, so callers see the failure and retry.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
