/**
 * Per-(date, user) event counts (pandas `events.groupby(["date", "user"]).size()`) and their CSV form.
 */
import type { WebEvent } from './generator';

/** One row of the statistics. */
export interface EventCount {
  date: string;
  user: string;
  count: number;
}

/** Counts events per (date, user), sorted by date then user (string order). */
export function countEvents(events: readonly WebEvent[]): EventCount[] {
  const counts = new Map<string, EventCount>();
  for (const e of events) {
    const key = `${e.date}\u0000${e.user}`;
    const row = counts.get(key);
    if (row) row.count++;
    else counts.set(key, { date: e.date, user: e.user, count: 1 });
  }
  return [...counts.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
}

/** CSV with header `date,user,count` and `\n` line ends (values never need quoting: dates, IPv4, integers). */
export function toCsv(rows: readonly EventCount[]): string {
  return ['date,user,count', ...rows.map((r) => `${r.date},${r.user},${r.count}`)].join('\n') + '\n';
}

/**
 * Label of an interval for file names: `YYYY-MM-DD` when both ends are at 00:00 UTC, else compact UTC
 * `YYYYMMDDTHHMMSSZ`. E.g. `stats_2023-01-01_2023-01-02.csv`.
 */
export function intervalFileLabel(startIso: string, endIso: string): string {
  const fmt = (iso: string) => {
    const d = new Date(iso);
    const full = d.toISOString();
    if (d.getTime() % 86_400_000 === 0) return full.slice(0, 10);
    return full.slice(0, 19).replace(/[-:]/g, '') + 'Z';
  };
  return `${fmt(startIso)}_${fmt(endIso)}`;
}
