/** PostgreSQL connection pool factory (node-postgres). */
import pg from 'pg';

/**
 * Creates a pool for `url`.
 * @param max largest number of connections. @default 10
 */
export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'iot-pipelines' });
  // An idle client losing its connection (server restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
