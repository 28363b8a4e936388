/**
 * What a process depends on, for `/readyz` (`server.ts`): a check per dependency that resolves when it
 * answers and throws a readable reason when it does not. The fixed ones (Temporal, PostgreSQL) are
 * given by the process; brokers are registered by the stream consumers while they run
 * ({@link useDependency}), so a worker without streams is not unready because Kafka is absent.
 */
import net from 'node:net';
import type { Pool } from '../db/pool';

/** One dependency's check. */
export interface DependencyCheck {
  /** e.g. `postgresql`, `temporal`, `mqtt 127.0.0.1:1883`, `kafka 127.0.0.1:9092`. */
  name: string;
  /** Resolves when the dependency answers. @throws Error saying why not */
  check(): Promise<void>;
}

const inUse = new Map<string, { check: DependencyCheck; users: number }>();

/** Registers `check` while something uses it; call the returned function when it no longer does. */
export function useDependency(check: DependencyCheck): () => void {
  const e = inUse.get(check.name) ?? { check, users: 0 };
  e.users++;
  inUse.set(check.name, e);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    e.users--;
    if (e.users <= 0) inUse.delete(check.name);
  };
}

/** The checks of the dependencies in use now. */
export function dependencyChecks(): DependencyCheck[] {
  return [...inUse.values()].map((e) => e.check);
}

/** PostgreSQL answers `SELECT 1` on the pool. */
export function postgresCheck(pool: Pool): DependencyCheck {
  return {
    name: 'postgresql',
    check: async () => {
      await pool.query('SELECT 1');
    },
  };
}

/** A TCP connection to `host:port` opens (a broker that listens). */
export function tcpCheck(name: string, host: string, port: number, timeoutMs = 2_000): DependencyCheck {
  return {
    name,
    check: () =>
      new Promise<void>((resolve, reject) => {
        const s = net.connect({ host, port });
        const fail = (e: Error) => {
          s.destroy();
          reject(new Error(`${host}:${port}: ${e.message}`));
        };
        s.setTimeout(timeoutMs, () => fail(new Error(`no connection within ${timeoutMs} ms`)));
        s.once('error', fail);
        s.once('connect', () => {
          s.end();
          resolve();
        });
      }),
  };
}

/** `host:port` of a broker address (`mqtt://h:1883`, `mqtts://h`, `h:9092`), with the scheme's default port. */
export function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const u = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? new URL(address) : new URL(`tcp://${address}`);
  const port = u.port ? Number(u.port) : u.protocol === 'mqtts:' || u.protocol === 'wss:' ? 8883 : defaultPort;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}
