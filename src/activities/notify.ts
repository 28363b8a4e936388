/**
 * Notification activity: delivers a {@link Notification} through the injected {@link Notifier}. Sink errors
 * are already classified (webhook 4xx non-retryable; 5xx/connection retryable) and are mapped to
 * `ApplicationFailure` here, so the activity's retry policy does the retrying.
 */
import { ownSpan } from '../observability/tracing';
import type { Notification, Notifier } from '../notify/index';
import { atActivityBoundary } from './http';

/** Dependencies of {@link createNotifyActivities}. */
export interface NotifyActivityDeps {
  notifier: Notifier;
}

/** Activity functions built by {@link createNotifyActivities}. */
export interface NotifyActivities {
  /**
   * Delivers `n` through every configured sink.
   * @throws ApplicationFailure typed after the sink error (`HttpNotFound`, `HttpClientError` non-retryable;
   *   `HttpServerError`, `NetworkError` retryable).
   */
  notify(n: Notification): Promise<void>;
}

/** Builds the notification activities. */
export function createNotifyActivities(deps: NotifyActivityDeps): NotifyActivities {
  return {
    async notify(n: Notification): Promise<void> {
      await ownSpan('notify', { 'iot.notification.source': n.source, 'iot.notification.severity': n.severity }, () =>
        atActivityBoundary(() => deps.notifier.notify(n)),
      );
    },
  };
}
