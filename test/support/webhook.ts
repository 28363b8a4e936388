/** A real local HTTP server that records webhook POSTs, for notifier and pipeline tests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when empty. */
  body: unknown;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` */
  base: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * Starts a receiver on a free loopback port. It answers `defaultStatus`, or NNN for a path starting
 * with `/status/NNN` (to exercise 4xx/5xx handling).
 */
export async function startWebhookReceiver(defaultStatus = 200): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: text ? (JSON.parse(text) as unknown) : undefined,
      });
      res.writeHead(Number(/^\/status\/(\d{3})/.exec(req.url ?? '')?.[1] ?? defaultStatus));
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
