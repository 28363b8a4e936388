/**
 * Notifications de-duplicated per alert (PostgreSQL-backed claims), with the real webhook sink: a
 * failed delivery releases the claim so the activity's retry sends again; a repeat is never sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DedupingNotifier, PgDedupeStore } from '../src/notify/dedupe';
import { WebhookSink } from '../src/notify/index';
import { testPool, uniqueSuffix } from './support/db';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

describe('notification de-duplication', () => {
  it('delivers each alert key once, and again only after a failed delivery', async () => {
    const bodies: Array<{ dedupeKey: string }> = [];
    let failNext = true;
    const server = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        if (failNext) {
          failNext = false;
          res.writeHead(503).end();
          return;
        }
        bodies.push(JSON.parse(b) as { dedupeKey: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const n = new DedupingNotifier(new WebhookSink({ url }), new PgDedupeStore(pool));
      const key = `alert/test-${uniqueSuffix()}/raised`;
      const msg = { dedupeKey: key, source: 'test', message: 'device silent', severity: 'warning' as const };
      await expect(n.send(msg)).rejects.toMatchObject({ retryable: true, status: 503 });
      expect(await n.send(msg)).toBe('sent');
      expect(await n.send(msg)).toBe('duplicate');
      // A second notifier (another worker) sees the same claim.
      expect(await new DedupingNotifier(new WebhookSink({ url }), new PgDedupeStore(pool)).send(msg)).toBe('duplicate');
      expect(bodies.map((b) => b.dedupeKey)).toEqual([key]);
    } finally {
      server.close();
    }
  });
});
