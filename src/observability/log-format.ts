/**
 * One line per log entry of the Temporal SDK runtime (worker, activities, workflows' `log`), for the
 * people who read the logs on call: `<time> [LEVEL] <message> key=value …`, with an error as its type,
 * message and causes on that same line. The stack trace is printed only when `LOG_LEVEL` is DEBUG or
 * TRACE, on the lines after it. A failed activity attempt is thus one WARN line (its activity type,
 * attempt, workflow and error), not the SDK's default multi-line object dump.
 */
import type { LogEntry, LogLevel } from '@temporalio/worker';

/** Meta keys that are noise on a line (an opaque task token, the namespace every line shares). */
const DROPPED = new Set(['taskToken', 'namespace', 'sdkComponent', 'isLocal']);

/**
 * `Type: message` of an error and its causes (a Temporal failure's `type` as its name, `non-retryable`
 * when so), a cause that only repeats its parent's message left out.
 */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  let previous: string | undefined;
  for (let depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) {
      const f = cur as Error & { type?: string | null; nonRetryable?: boolean | null };
      const message = cur.message.replace(/\s*\n\s*/g, ' ');
      if (message !== previous) parts.push(`${f.type ?? cur.name}: ${message}${f.nonRetryable ? ' (non-retryable)' : ''}`);
      previous = message;
      cur = cur.cause;
    } else {
      parts.push(typeof cur === 'string' ? cur : value(cur));
      break;
    }
  }
  return parts.join(' ← caused by ');
}

function value(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(describeError(v));
  if (typeof v === 'string') return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The stack traces of an error and its causes, indented (for DEBUG). */
function stacks(e: unknown): string {
  const out: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur instanceof Error && depth < 5; depth++) {
    if (cur.stack)
      out.push(
        cur.stack
          .split('\n')
          .map((l, i) => (i === 0 ? `  ${depth ? 'caused by ' : ''}${l}` : `  ${l}`))
          .join('\n'),
      );
    cur = cur.cause;
  }
  return out.join('\n');
}

/**
 * Formats one entry: a single line, then the error's stack when `withStacks`.
 * @param entry the SDK's log entry (`timestampNanos` since the epoch)
 */
export function formatLogEntry(entry: Pick<LogEntry, 'level' | 'message' | 'meta' | 'timestampNanos'>, withStacks: boolean): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta ?? {};
  const fields = Object.entries(meta)
    .filter(([k, v]) => !DROPPED.has(k) && v !== undefined && k !== 'error' && k !== 'failure')
    .map(([k, v]) => `${k}=${value(v)}`);
  const error: unknown = meta.error ?? meta.failure;
  if (error !== undefined) fields.push(`error=${value(error instanceof Error ? error : describeError(error))}`);
  const line = `${time} [${entry.level}] ${entry.message}${fields.length ? ` ${fields.join(' ')}` : ''}`;
  return withStacks && error instanceof Error ? `${line}\n${stacks(error)}` : line;
}

/** Whether `level` prints stack traces. */
export function stacksAt(level: LogLevel): boolean {
  return level === 'DEBUG' || level === 'TRACE';
}
