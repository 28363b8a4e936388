/**
 * Notifier sinks against a real local HTTP server: the webhook body, 4xx non-retryable, 5xx and
 * connection errors retryable, the log line, and the activity-boundary mapping to ApplicationFailure.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { pino } from 'pino';
import { HttpStatusError, NetworkError, InvalidUrlError, UnsupportedSchemeError } from '../src/activities/http';
import { createNotifyActivities } from '../src/activities/notify';
import { createNotifier, LogSink, WebhookSink, type Notification } from '../src/notify/index';
import { closedPort } from './support/processes';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './support/webhook';

let receiver: WebhookReceiver;
let base = '';
let received: ReceivedRequest[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver(204);
  base = receiver.base;
  received = receiver.received;
});

afterAll(async () => {
  await receiver.close();
});

const sample: Notification = {
  dedupeKey: 'launch-images/2024-03-30',
  source: 'launchImages',
  message: 'There are now 7 images',
  data: { imagesDownloaded: 7 },
};

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('WebhookSink', () => {
  it('POSTs the notification as JSON with severity and time filled in', async () => {
    const before = received.length;
    await new WebhookSink({ url: `${base}/hook` }).notify(sample);
    const got = received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.method).toBe('POST');
    expect(got[0]!.path).toBe('/hook');
    expect(got[0]!.headers['content-type']).toBe('application/json');
    expect(got[0]!.headers['idempotency-key']).toBe(sample.dedupeKey);
    const body = got[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ ...sample, severity: 'info' });
    expect(Number.isNaN(Date.parse(String(body.at)))).toBe(false);
  });

  it('classifies 4xx as non-retryable', async () => {
    for (const status of [400, 404, 410]) {
      const e = await rejection(new WebhookSink({ url: `${base}/status/${status}` }).notify(sample));
      expect(e).toBeInstanceOf(HttpStatusError);
      expect((e as HttpStatusError).status).toBe(status);
      expect((e as HttpStatusError).retryable).toBe(false);
      expect((e as HttpStatusError).message).toContain(`${base}/status/${status}`);
    }
    const e404 = (await rejection(new WebhookSink({ url: `${base}/status/404` }).notify(sample))) as HttpStatusError;
    expect(e404.type).toBe('HttpNotFound');
  });

  it('classifies 5xx and 429 as retryable', async () => {
    for (const status of [500, 502, 503, 429]) {
      const e = await rejection(new WebhookSink({ url: `${base}/status/${status}` }).notify(sample));
      expect(e).toBeInstanceOf(HttpStatusError);
      expect((e as HttpStatusError).retryable).toBe(true);
    }
  });

  it('classifies a refused connection as a retryable network error', async () => {
    const port = await closedPort();
    const e = await rejection(new WebhookSink({ url: `http://127.0.0.1:${port}/hook`, timeoutMs: 2000 }).notify(sample));
    expect(e).toBeInstanceOf(NetworkError);
    expect((e as NetworkError).code).toBe('ECONNREFUSED');
    expect((e as NetworkError).retryable).toBe(true);
  });

  it('rejects an invalid webhook URL at construction', () => {
    expect(() => new WebhookSink({ url: 'not a url' })).toThrow(InvalidUrlError);
    expect(() => new WebhookSink({ url: 'htp:/bad' })).toThrow(UnsupportedSchemeError);
  });

  it("treats a port on fetch's bad-port list (127.0.0.1:1) as a non-retryable invalid URL", async () => {
    const e = await rejection(new WebhookSink({ url: 'http://127.0.0.1:1/hook' }).notify(sample));
    expect(e).toBeInstanceOf(InvalidUrlError);
    expect((e as InvalidUrlError).retryable).toBe(false);
  });
});

describe('LogSink and createNotifier', () => {
  function capture(): { logger: ReturnType<typeof pino>; lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    return { logger: pino({ name: 'notify-test' }, stream), lines };
  }

  it('logs one JSON line per notification, at a level following the severity', async () => {
    const { logger, lines } = capture();
    const sink = new LogSink({ logger });
    await sink.notify(sample);
    await sink.notify({ ...sample, severity: 'critical' });
    expect(lines).toHaveLength(2);
    expect(lines[0]!.msg).toBe(sample.message);
    expect(lines[0]!.level).toBe(30);
    expect(lines[1]!.level).toBe(50);
    expect((lines[0]!.notification as Record<string, unknown>).dedupeKey).toBe(sample.dedupeKey);
  });

  it('always logs, and posts only when a webhook URL is configured', async () => {
    const a = capture();
    const before = received.length;
    await createNotifier({ logger: a.logger }).notify(sample);
    expect(a.lines).toHaveLength(1);
    expect(received.length).toBe(before);

    const b = capture();
    await createNotifier({ logger: b.logger, webhookUrl: `${base}/both` }).notify(sample);
    expect(b.lines).toHaveLength(1);
    const posted = received.slice(before);
    expect(posted.map((r) => r.path)).toEqual(['/both']);
    // Both sinks report the same time.
    expect((posted[0]!.body as Record<string, unknown>).at).toBe((b.lines[0]!.notification as Record<string, unknown>).at);
  });

  it('logs even when the webhook fails, then throws the classified error', async () => {
    const { logger, lines } = capture();
    const e = await rejection(createNotifier({ logger, webhookUrl: `${base}/status/503` }).notify(sample));
    expect(lines).toHaveLength(1);
    expect(e).toBeInstanceOf(HttpStatusError);
    expect((e as HttpStatusError).retryable).toBe(true);
  });
});

describe('notify activity boundary', () => {
  it('maps 4xx to a non-retryable ApplicationFailure and 5xx to a retryable one', async () => {
    const { logger } = { logger: pino({ level: 'silent' }) };
    const notFound = createNotifyActivities({ notifier: createNotifier({ logger, webhookUrl: `${base}/status/404` }) });
    const e1 = await rejection(notFound.notify(sample));
    expect(e1).toBeInstanceOf(ApplicationFailure);
    expect((e1 as ApplicationFailure).type).toBe('HttpNotFound');
    expect((e1 as ApplicationFailure).nonRetryable).toBe(true);

    const down = createNotifyActivities({ notifier: createNotifier({ logger, webhookUrl: `${base}/status/500` }) });
    const e2 = await rejection(down.notify(sample));
    expect(e2).toBeInstanceOf(ApplicationFailure);
    expect((e2 as ApplicationFailure).type).toBe('HttpServerError');
    expect((e2 as ApplicationFailure).nonRetryable).toBe(false);
  });
});
