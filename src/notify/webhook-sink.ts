/**
 * Notifier that POSTs each notification as JSON to a webhook URL. Errors are classified at the source
 * (see `src/activities/http.ts`): 4xx → non-retryable `HttpStatusError`; 5xx, 429, connection errors and
 * timeouts → retryable. The sink does not retry itself: the calling activity's retry policy does.
 */
import { parseUrl, postJson } from '../activities/http';
import { normalizeNotification, type Notification, type Notifier } from './types';

/** Per-POST timeout in milliseconds. @default 10000 */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Options of {@link WebhookSink}. */
export interface WebhookSinkOptions {
  /** http(s) URL receiving `POST` with the JSON body `{ ...notification }`. */
  url: string;
  /** @default {@link WEBHOOK_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Extra headers, e.g. an authorization header. */
  headers?: Record<string, string>;
  /** @default globalThis.fetch */
  fetchImpl?: typeof fetch;
}

/** Posts notifications to a webhook. The body is the notification with `severity` and `at` filled in. */
export class WebhookSink implements Notifier {
  /**
   * @throws {InvalidUrlError | UnsupportedSchemeError} when `url` is not an http(s) URL (checked at construction).
   */
  constructor(private readonly opts: WebhookSinkOptions) {
    parseUrl(opts.url);
  }

  /** @throws {HttpStatusError | NetworkError} classified; see the module comment. */
  async notify(n: Notification): Promise<void> {
    await postJson(this.opts.url, normalizeNotification(n), {
      timeoutMs: this.opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
      headers: { 'idempotency-key': n.dedupeKey, ...this.opts.headers },
      fetchImpl: this.opts.fetchImpl,
    });
  }
}
