/**
 * Vitest global setup: builds `dist/` (the CLI and worker processes that tests spawn run the compiled
 * code, so it must be this checkout's), brings up the real stack (Temporal dev server, or two Temporal
 * server processes on PostgreSQL with `TEMPORAL_MODE=cluster`; PostgreSQL,
 * Mosquitto, Kafka; `TEST_KAFKA=0` leaves Kafka out) before any test, and stops what it started
 * afterwards. When either fails, the reason is printed first, framed, and `npm test` exits non-zero.
 */
import { ensureStack, type ServiceName, type Stack } from '../../src/stack/index';
import { buildDist } from '../../scripts/build.mjs';

let stack: Stack | undefined;

function fail(what: string, e: unknown): never {
  const text = e instanceof Error ? e.message : String(e);
  const rule = '═'.repeat(78);
  process.stderr.write(`\n${rule}\nnpm test could not start: ${what} failed.\n\n${text}\n${rule}\n\n`);
  throw e;
}

export async function setup(): Promise<void> {
  const t0 = Date.now();
  try {
    await buildDist({ quiet: true });
  } catch (e) {
    fail('building dist/', e);
  }
  console.log(`[build] dist/ built in ${Date.now() - t0} ms`);
  const services: ServiceName[] = ['temporal', 'postgres', 'mosquitto'];
  if (process.env.TEST_KAFKA !== '0') services.push('kafka');
  const t1 = Date.now();
  try {
    stack = await ensureStack({ services, log: (m) => console.log(`[stack] ${m}`) });
  } catch (e) {
    fail('provisioning the stack', e);
  }
  // TEMPORAL_MODE=cluster runs the suite on two Temporal server processes on PostgreSQL (ensureStack).
  console.log(
    `[stack] ready in ${Date.now() - t1} ms (Temporal ${stack.settings.temporalMode === 'cluster' ? 'cluster' : 'dev server'}; ` +
      `started: ${stack.started.join(', ') || 'none, all reused'})`,
  );
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
