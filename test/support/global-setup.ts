/**
 * Vitest global setup: brings up the real stack (Temporal dev server, PostgreSQL, Mosquitto, Kafka;
 * `TEST_KAFKA=0` leaves Kafka out) before any test, and stops what it started afterwards.
 */
import { ensureStack, type ServiceName, type Stack } from '../../src/stack/index';

let stack: Stack | undefined;

export async function setup(): Promise<void> {
  const services: ServiceName[] = ['temporal', 'postgres', 'mosquitto'];
  if (process.env.TEST_KAFKA !== '0') services.push('kafka');
  const t0 = Date.now();
  stack = await ensureStack({ services, log: (m) => console.log(`[stack] ${m}`) });
  console.log(`[stack] ready in ${Date.now() - t0} ms (started: ${stack.started.join(', ') || 'none, all reused'})`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
