/** The runtime's log lines (src/observability/log-format.ts): one line per entry, the error's causes on it, stacks only when asked. */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { describeError, formatLogEntry, stacksAt } from '../src/observability/log-format';

const at = BigInt(Date.UTC(2026, 11, 7, 4, 0, 0)) * 1_000_000n;

describe('log format', () => {
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:9\nsecond line');
  const error = ApplicationFailure.create({ message: 'Network error for http://x/a.jpg', type: 'NetworkError', cause });
  const entry = {
    level: 'WARN' as const,
    message: 'Activity failed',
    timestampNanos: at,
    meta: {
      activityType: 'downloadImage',
      attempt: 2,
      taskToken: 'AAAA',
      namespace: 'default',
      workflowId: 'launch-images-2024-03-30',
      error,
      durationMs: 12,
    },
  };

  it('puts an entry on one line: time, level, message, fields, then the error and its causes', () => {
    expect(formatLogEntry(entry, false)).toBe(
      '2026-12-07T04:00:00.000Z [WARN] Activity failed activityType=downloadImage attempt=2 workflowId=launch-images-2024-03-30 durationMs=12 ' +
        'error="NetworkError: Network error for http://x/a.jpg ← caused by Error: connect ECONNREFUSED 127.0.0.1:9 second line"',
    );
    expect(describeError('plain')).toBe('plain');
    // A failure wrapping an error of the same message (the SDK's conversion) is said once; non-retryable is said.
    const same = ApplicationFailure.create({ message: 'HTTP 404', type: 'HttpNotFound', nonRetryable: true, cause: new Error('HTTP 404') });
    expect(describeError(same)).toBe('HttpNotFound: HTTP 404 (non-retryable)');
  });

  it('prints the stacks of the error and its causes after the line only at DEBUG and TRACE', () => {
    const withStacks = formatLogEntry(entry, true).split('\n');
    expect(withStacks[0]).toBe(formatLogEntry(entry, false));
    expect(withStacks.some((l) => /^\s+at /.test(l))).toBe(true);
    expect(withStacks.some((l) => l.startsWith('  caused by Error: connect ECONNREFUSED'))).toBe(true);
    expect([stacksAt('DEBUG'), stacksAt('TRACE'), stacksAt('INFO'), stacksAt('WARN')]).toEqual([true, true, false, false]);
  });
});
