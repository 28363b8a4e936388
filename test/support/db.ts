/** PostgreSQL access for tests: the same database the stack serves (migrations applied by global setup). */
import { databaseUrl } from '../../src/config/env';
import { createPool, type Pool } from '../../src/db/pool';

/** A pool on the test database; end it in `afterAll`. */
export function testPool(): Pool {
  return createPool(databaseUrl(), 5);
}

/** A short random suffix for names that must not collide between test runs. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
