/** `iot-pipelines events-api`: the events HTTP API of the events pipeline (the seed's Flask app), until Ctrl-C. */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_EVENTS_DAYS, DEFAULT_EVENTS_END_DATE, parseDay } from '../events/generator';
import { DEFAULT_EVENTS_API_PORT, startEventsApi } from '../events/server';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`--port must be 0–65535, got ${JSON.stringify(v)}.`);
  return n;
}

/** Adds `events-api [--port] [--host] [--end-date] [--days]` to `program`. */
export function registerEventsCommands(program: Command): void {
  program
    .command('events-api')
    .description('Serve GET /events?start_date=&end_date= (30 days of seeded events ending 2023-01-31) until Ctrl-C.')
    .option('--port <n>', 'port (0 = any free port)', port, DEFAULT_EVENTS_API_PORT)
    .option('--host <host>', 'interface', '127.0.0.1')
    .option('--end-date <date>', 'exclusive last date (YYYY-MM-DD)', DEFAULT_EVENTS_END_DATE)
    .option(
      '--days <n>',
      'days of data',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`--days must be a positive integer, got ${JSON.stringify(v)}.`);
        return n;
      },
      DEFAULT_EVENTS_DAYS,
    )
    .action(async (o: { port: number; host: string; endDate: string; days: number }) => {
      try {
        parseDay(o.endDate);
      } catch (e) {
        throw new InvalidArgumentError(`--end-date: ${(e as Error).message}`);
      }
      const api = await startEventsApi(o);
      const dates = [...new Set(api.events.map((e) => e.date))];
      console.log(`Events API on ${api.url}/events: ${api.events.length} events, ${dates[0]} … ${dates.at(-1)}. Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await api.close();
    });
}
