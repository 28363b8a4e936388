/**
 * Notifications: the {@link Notifier} interface, its sinks and {@link createNotifier}, which always logs
 * and also posts to a webhook when one is configured.
 */
import type { BaseLogger } from 'pino';
import { LogSink } from './log-sink';
import { WebhookSink } from './webhook-sink';
import { normalizeNotification, type Notification, type Notifier } from './types';

export type { Notification, Notifier, Severity } from './types';
export { normalizeNotification } from './types';
export { LogSink, type LogSinkOptions } from './log-sink';
export { WebhookSink, WEBHOOK_TIMEOUT_MS, type WebhookSinkOptions } from './webhook-sink';

/** Sends every notification to each sink in order; the first failing sink's error is thrown after all ran. */
export class FanOutNotifier implements Notifier {
  constructor(private readonly sinks: readonly Notifier[]) {}

  async notify(n: Notification): Promise<void> {
    // Fix `at` once so every sink reports the same time.
    const full = normalizeNotification(n);
    const errors: unknown[] = [];
    for (const sink of this.sinks) {
      try {
        await sink.notify(full);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Options of {@link createNotifier}. */
export interface NotifierOptions {
  /**
   * Webhook URL; posting is enabled when set and non-empty. The caller reads it from the environment
   * (`NOTIFY_WEBHOOK_URL`); nothing in this module reads `process.env`.
   */
  webhookUrl?: string;
  /** Logger of the log sink. @default pino logger named `notify` */
  logger?: BaseLogger;
  /** Webhook POST timeout in ms. @default 10000 */
  webhookTimeoutMs?: number;
}

/**
 * Builds the project notifier: always a {@link LogSink}, plus a {@link WebhookSink} when `webhookUrl` is set.
 * @throws {InvalidUrlError | UnsupportedSchemeError} when `webhookUrl` is set but not an http(s) URL
 */
export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const sinks: Notifier[] = [new LogSink({ logger: opts.logger })];
  if (opts.webhookUrl) sinks.push(new WebhookSink({ url: opts.webhookUrl, timeoutMs: opts.webhookTimeoutMs }));
  return new FanOutNotifier(sinks);
}
