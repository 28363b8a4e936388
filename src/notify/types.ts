/**
 * Notification model shared by every sink. A notification carries a `dedupeKey`: the same key means
 * "the same alert" (a later alerting stage de-duplicates on it).
 */

/** Severity of a notification. */
export type Severity = 'info' | 'warning' | 'critical';

/** One notification, JSON-serialisable (it travels through Temporal and webhook bodies). */
export interface Notification {
  /** Stable identity of the alert, e.g. `launch-images/2024-03-30`; repeats of one event share it. */
  dedupeKey: string;
  /** Pipeline or component that raised it, e.g. `launchImages`. */
  source: string;
  /** Human-readable text, e.g. `There are now 7 images`. */
  message: string;
  /** @default 'info' */
  severity?: Severity;
  /** ISO-8601 time of the event; sinks fill in the current time when absent. */
  at?: string;
  /** Small structured payload (counts, ids). */
  data?: Record<string, unknown>;
}

/** Something that delivers notifications. Implementations throw classified errors (see activities/http). */
export interface Notifier {
  /**
   * Delivers `n`.
   * @throws a `ClassifiedError` from `src/activities/http` when delivery failed (`retryable` tells whether
   *   trying again may succeed).
   */
  notify(n: Notification): Promise<void>;
}

/** Returns `n` with `severity` and `at` filled in. */
export function normalizeNotification(
  n: Notification,
  now: () => Date = () => new Date(),
): Required<Omit<Notification, 'data'>> & Pick<Notification, 'data'> {
  return { ...n, severity: n.severity ?? 'info', at: n.at ?? now().toISOString() };
}
