/** Per test-file setup: SDK and worker logs at WARN and above (LOG_LEVEL overrides), so reports stay readable. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'WARN') });
