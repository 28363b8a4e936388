/** Notifier that writes each notification as one JSON log line (pino). */
import { pino, type BaseLogger } from 'pino';
import { normalizeNotification, type Notification, type Notifier } from './types';

/** Options of {@link LogSink}. */
export interface LogSinkOptions {
  /** Logger to write to. @default a pino logger named `notify` on stdout */
  logger?: BaseLogger;
}

/** Logs every notification at `info`/`warn`/`error` according to its severity, field `notification`. Never throws. */
export class LogSink implements Notifier {
  private readonly logger: BaseLogger;
  constructor(opts: LogSinkOptions = {}) {
    this.logger = opts.logger ?? pino({ name: 'notify' });
  }

  notify(n: Notification): Promise<void> {
    // Synchronous work: the Promise executor turns a throw into a rejection, like an async function.
    return new Promise((resolve) => {
      const full = normalizeNotification(n);
      const level = full.severity === 'critical' ? 'error' : full.severity === 'warning' ? 'warn' : 'info';
      this.logger[level]({ notification: full }, full.message);
      resolve();
    });
  }
}
