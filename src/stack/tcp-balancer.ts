/**
 * A TCP load balancer for the stack's Temporal cluster: what a Kubernetes Service or a cloud load
 * balancer is in front of Temporal's frontends in production. Clients (CLI, workers, schedules) connect
 * to one address (`TEMPORAL_ADDRESS`); each new connection goes to the next frontend in turn, and to the
 * one after it when that one refuses, so when a server process dies its clients' reconnects land on a
 * survivor with no change of configuration. Bytes are piped untouched (gRPC over HTTP/2, TLS or not).
 */
import net from 'node:net';

/** An upstream or listen address. */
export interface TcpAddress {
  host: string;
  port: number;
}

/** A running balancer. */
export interface TcpBalancer {
  /** Where it listens, `host:port`. */
  address: string;
  /** Connections open now, per upstream `host:port`. */
  connections(): Record<string, number>;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

/** Options of {@link startTcpBalancer}. */
export interface TcpBalancerOptions {
  /** Time to wait for one upstream to accept before trying the next, ms. @default 2000 */
  connectTimeoutMs?: number;
}

/**
 * Listens on `listen` and forwards each connection to one of `upstreams`: round robin, skipping an
 * upstream that refuses or does not accept within `connectTimeoutMs`; a client none accepts is closed.
 * @throws Error when `listen` cannot be bound (e.g. the port is taken).
 */
export async function startTcpBalancer(listen: TcpAddress, upstreams: TcpAddress[], o: TcpBalancerOptions = {}): Promise<TcpBalancer> {
  if (upstreams.length === 0) throw new Error('startTcpBalancer: no upstreams');
  const timeout = o.connectTimeoutMs ?? 2000;
  const open = new Set<net.Socket>();
  const counts = new Map<string, number>();
  let next = 0;

  const connectTo = (u: TcpAddress): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: u.host, port: u.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`${u.host}:${u.port} did not accept within ${timeout} ms`));
      }, timeout);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });

  const server = net.createServer((client) => {
    client.pause(); // hold the client's first bytes until an upstream is chosen
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    const first = next++ % upstreams.length;
    void (async () => {
      for (let k = 0; k < upstreams.length; k++) {
        const u = upstreams[(first + k) % upstreams.length]!;
        if (client.destroyed) return;
        let up: net.Socket;
        try {
          up = await connectTo(u);
        } catch {
          continue; // refused or too slow: the next one
        }
        if (client.destroyed) {
          up.destroy();
          return;
        }
        const key = `${u.host}:${u.port}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        open.add(up);
        up.once('close', () => {
          open.delete(up);
          counts.set(key, (counts.get(key) ?? 1) - 1);
          client.destroy();
        });
        up.on('error', () => up.destroy());
        client.once('close', () => up.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
        return;
      }
      client.destroy(); // no upstream accepted
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: `${listen.host}:${listen.port}`,
    connections: () => Object.fromEntries(counts),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
