/**
 * The events HTTP API (the seed's Flask app): `GET /events?start_date=&end_date=` returns the events whose
 * date is in `[start_date, end_date)` as a JSON array of `{ "user": "<IPv4>", "date": "YYYY-MM-DD" }`.
 * Both parameters are optional (open bounds) and take `YYYY-MM-DD` or an ISO 8601 date-time with a zone
 * (`2023-01-05T00:00:00Z`); an event is in the range when 00:00 UTC of its date is. A bad date, or a start
 * after the end, gets `400 {"error": "<reason>"}`; other paths get 404. `GET /health` answers `{"ok": true}`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_EVENTS_DAYS, DEFAULT_EVENTS_END_DATE, generateEvents, parseDay, type WebEvent } from './generator';

/** Default port (Flask's). @default 5000 */
export const DEFAULT_EVENTS_API_PORT = 5000;

const ISO_DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** A query parameter could not be used; `message` is the reason sent with the 400. */
export class BadQueryError extends Error {
  override readonly name = 'BadQueryError';
  constructor(
    readonly parameter: string,
    readonly value: string,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Parses a `start_date`/`end_date` value into epoch milliseconds.
 * @throws {@link BadQueryError} naming the parameter and the accepted formats.
 */
export function parseDateParam(name: string, value: string): number {
  if (ISO_DATE_TIME_RE.test(value) && Number.isFinite(Date.parse(value))) return Date.parse(value);
  try {
    return parseDay(value);
  } catch {
    throw new BadQueryError(
      name,
      value,
      `${name} ${JSON.stringify(value)} is not a date: use YYYY-MM-DD or an ISO 8601 date-time with zone (e.g. 2023-01-05T00:00:00Z)`,
    );
  }
}

/**
 * Filters `events` to `[start, end)` given as query parameter values (either may be absent).
 * @throws {@link BadQueryError} for an unparsable date or a start after the end.
 */
export function selectEvents(events: readonly WebEvent[], startText: string | null, endText: string | null): WebEvent[] {
  const start = startText === null ? -Infinity : parseDateParam('start_date', startText);
  const end = endText === null ? Infinity : parseDateParam('end_date', endText);
  if (start > end) {
    throw new BadQueryError('start_date', startText ?? '', `start_date ${startText} is after end_date ${endText}`);
  }
  return events.filter((e) => {
    const t = parseDay(e.date);
    return t >= start && t < end;
  });
}

/** Options of {@link startEventsApi}. */
export interface EventsApiOptions {
  /** @default {@link DEFAULT_EVENTS_API_PORT}; 0 picks a free port */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Exclusive last date of the data. @default '2023-01-31' */
  endDate?: string;
  /** @default 30 */
  days?: number;
  /** Serve these events instead of generating them (tests). */
  events?: readonly WebEvent[];
}

/** A running events API. */
export interface EventsApi {
  /** Base URL, e.g. `http://127.0.0.1:5000` (no trailing slash). */
  url: string;
  port: number;
  /** The events served. */
  events: readonly WebEvent[];
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Request handler over a fixed list of events (exported for embedding in other servers). */
export function eventsHandler(events: readonly WebEvent[]): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return send(res, 405, { error: `method ${req.method} not allowed; use GET` });
    if (url.pathname === '/health') return send(res, 200, { ok: true });
    if (url.pathname !== '/events') return send(res, 404, { error: `no route ${url.pathname}; try GET /events?start_date=&end_date=` });
    try {
      send(res, 200, selectEvents(events, url.searchParams.get('start_date'), url.searchParams.get('end_date')));
    } catch (e) {
      if (e instanceof BadQueryError) send(res, 400, { error: e.message, parameter: e.parameter, value: e.value });
      else send(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }
  };
}

/**
 * Starts the events API.
 * @throws the `listen` error (e.g. `EADDRINUSE`).
 */
export async function startEventsApi(o: EventsApiOptions = {}): Promise<EventsApi> {
  const events = o.events ?? generateEvents(o.endDate ?? DEFAULT_EVENTS_END_DATE, o.days ?? DEFAULT_EVENTS_DAYS);
  const server = http.createServer(eventsHandler(events));
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? DEFAULT_EVENTS_API_PORT, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    events,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
