/**
 * Activities of the events pipeline (`eventsStats`): fetch the events of a data interval from the events
 * API, count them per (date, user), and write the counts to `<outputDir>/events/stats_<interval>.csv` and
 * to a table. Re-running an interval replaces both: the CSV is written to a temporary file and renamed over
 * the old one; the table rows of the interval's dates are deleted and inserted in one transaction.
 * Only counts travel through Temporal, never the events.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { isTransientDbError } from '../db/errors';
import type { Pool } from '../db/pool';
import { countEvents, intervalFileLabel, toCsv, type EventCount } from '../events/stats';
import type { WebEvent } from '../events/generator';
import { atActivityBoundary, readText } from './http';
import { workflowRunId } from './context';

/** Default table of the counts. @default 'analytics.event_stats' */
export const DEFAULT_EVENT_STATS_TABLE = 'analytics.event_stats';

/** Clients and settings of {@link createEventsActivities}. */
export interface EventsActivityDeps {
  pool: Pool;
  /** CSVs go to `<outputDir>/events/`. */
  outputDir: string;
  /** `schema.table` with the columns of migration 020_events.sql. @default {@link DEFAULT_EVENT_STATS_TABLE} */
  eventStatsTable?: string;
}

/** Input of `computeEventStats`. */
export interface ComputeEventStatsInput {
  /** Base URL of the events API, e.g. `http://127.0.0.1:5000`. */
  apiUrl: string;
  /** Inclusive start, ISO 8601. */
  dataIntervalStart: string;
  /** Exclusive end, ISO 8601. */
  dataIntervalEnd: string;
}

/** What `computeEventStats` wrote. */
export interface EventStatsSummary {
  dataIntervalStart: string;
  dataIntervalEnd: string;
  /** Events received from the API. */
  events: number;
  /** (date, user) rows written. */
  rows: number;
  /** CSV path relative to `outputDir`, e.g. `events/stats_2023-01-01_2023-01-02.csv`. */
  csv: string;
  table: string;
}

/** The API answered 2xx with a body that is not a list of `{user, date}`. Not retryable. */
export class InvalidEventsResponseError extends Error {
  override readonly name = 'InvalidEventsResponseError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`Invalid events response from ${url}: ${reason}`);
  }
}

const TABLE_RE = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;
const DAY_MS = 86_400_000;

/** Query value for an interval bound: `YYYY-MM-DD` at midnight UTC (like Airflow's `ds`), else full ISO. */
function queryDate(iso: string): string {
  const ms = Date.parse(iso);
  return ms % DAY_MS === 0 ? new Date(ms).toISOString().slice(0, 10) : new Date(ms).toISOString();
}

/** First date whose 00:00 UTC is at or after `iso`, as `YYYY-MM-DD` (events are dated by day). */
function firstDayAtOrAfter(iso: string): string {
  return new Date(Math.ceil(Date.parse(iso) / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

function parseEvents(text: string, url: string): WebEvent[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InvalidEventsResponseError(url, `not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(data)) throw new InvalidEventsResponseError(url, 'not a JSON array');
  return data.map((item: unknown, i) => {
    const e = item as { user?: unknown; date?: unknown } | null;
    if (!e || typeof e.user !== 'string' || typeof e.date !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(e.date)) {
      throw new InvalidEventsResponseError(url, `item ${i} is not {"user": string, "date": "YYYY-MM-DD"}: ${JSON.stringify(item)}`);
    }
    return { user: e.user, date: e.date.slice(0, 10) };
  });
}

async function writeCsvAtomically(file: string, rows: readonly EventCount[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await fs.writeFile(tmp, toCsv(rows));
  await fs.rename(tmp, file);
}

/**
 * Builds the events activities.
 * @throws Error when `eventStatsTable` is not a plain `schema.table` name.
 */
export function createEventsActivities(deps: EventsActivityDeps) {
  const table = deps.eventStatsTable ?? DEFAULT_EVENT_STATS_TABLE;
  if (!TABLE_RE.test(table)) throw new Error(`eventStatsTable ${JSON.stringify(table)} must be schema.table in lowercase`);

  async function replaceRows(input: ComputeEventStatsInput, rows: readonly EventCount[]): Promise<void> {
    const client = await deps.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DELETE FROM ${table} WHERE event_date >= $1::date AND event_date < $2::date`, [
        firstDayAtOrAfter(input.dataIntervalStart),
        firstDayAtOrAfter(input.dataIntervalEnd),
      ]);
      if (rows.length > 0) {
        await client.query(
          `INSERT INTO ${table} (event_date, user_ip, event_count, interval_start, interval_end, workflow_run_id)
           SELECT d, u, c, $4, $5, $6 FROM unnest($1::date[], $2::text[], $3::int[]) AS t(d, u, c)`,
          [
            rows.map((r) => r.date),
            rows.map((r) => r.user),
            rows.map((r) => r.count),
            input.dataIntervalStart,
            input.dataIntervalEnd,
            workflowRunId() ?? null,
          ],
        );
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (isTransientDbError(e)) throw e; // retried under the activity's retry policy
      throw ApplicationFailure.create({
        type: 'EventStatsWriteError',
        message: `writing ${table} failed: ${(e as Error).message}`,
        nonRetryable: true,
        details: [{ table, dataIntervalStart: input.dataIntervalStart, dataIntervalEnd: input.dataIntervalEnd }],
      });
    } finally {
      client.release();
    }
  }

  return {
    /**
     * Fetches `GET <apiUrl>/events?start_date=&end_date=` for the interval, counts per (date, user), and
     * replaces the interval's CSV and table rows.
     * @throws ApplicationFailure non-retryable for a bad URL, a 4xx (e.g. the API's 400 for a bad date) or an
     * invalid body; retryable for connection errors and 5xx.
     */
    async computeEventStats(input: ComputeEventStatsInput): Promise<EventStatsSummary> {
      return atActivityBoundary(async () => {
        const base = input.apiUrl.replace(/\/+$/, '');
        const url = `${base}/events?start_date=${encodeURIComponent(queryDate(input.dataIntervalStart))}&end_date=${encodeURIComponent(queryDate(input.dataIntervalEnd))}`;
        let events: WebEvent[];
        try {
          events = parseEvents(await readText(url), url);
        } catch (e) {
          if (e instanceof InvalidEventsResponseError)
            throw ApplicationFailure.create({
              type: 'InvalidEventsResponse',
              message: e.message,
              nonRetryable: true,
              details: [{ url, reason: e.reason }],
            });
          throw e;
        }
        const rows = countEvents(events);
        const csv = path.join('events', `stats_${intervalFileLabel(input.dataIntervalStart, input.dataIntervalEnd)}.csv`);
        await writeCsvAtomically(path.join(deps.outputDir, csv), rows);
        await replaceRows(input, rows);
        return {
          dataIntervalStart: input.dataIntervalStart,
          dataIntervalEnd: input.dataIntervalEnd,
          events: events.length,
          rows: rows.length,
          csv,
          table,
        };
      });
    },
  };
}

export type EventsActivities = ReturnType<typeof createEventsActivities>;
