/**
 * Reproducible fake web events, shaped like the seed Flask app of "Data Pipelines with Apache Airflow"
 * (chapter 3, `events_api`): for each of the `days` dates before `endDate` (end exclusive: the seed's
 * `end_date - timedelta(days=30 - i)` for i in 0..29, so 30 days ending 2023-01-31 are 2023-01-01 … 2023-01-30),
 * seeded by the date, 50–100 users given as IPv4 addresses and 200–2,000 events `{ user, date }`.
 *
 * The seed used numpy's `RandomState` + Faker seeded with the local-time epoch of the date, which is neither
 * portable across time zones nor available in Node. Here each day uses {@link mulberry32} (a public-domain
 * 32-bit PRNG by Tommy Ettinger, https://gist.github.com/tommyettinger/46a874533244883189143505d203312c)
 * seeded with the Unix time in seconds of the date at 00:00 UTC, so the data are identical on every machine,
 * run and time zone.
 */

/** One event: an IPv4 user and the day it happened (`YYYY-MM-DD`, UTC). */
export interface WebEvent {
  user: string;
  date: string;
}

/** Last day (exclusive) of the default data set. @default '2023-01-31' */
export const DEFAULT_EVENTS_END_DATE = '2023-01-31';
/** Days of the default data set. @default 30 */
export const DEFAULT_EVENTS_DAYS = 30;
/** Users per day, inclusive bounds. */
export const USERS_PER_DAY = { min: 50, max: 100 } as const;
/** Events per day, inclusive bounds. */
export const EVENTS_PER_DAY = { min: 200, max: 2000 } as const;

const DAY_MS = 86_400_000;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * mulberry32: a 32-bit state PRNG returning floats in [0, 1). Deterministic for a given seed.
 * @param seed any integer; only its low 32 bits are used.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [min, max] (both inclusive) from a PRNG. */
function randInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/**
 * Parses `YYYY-MM-DD` as 00:00 UTC of that date.
 * @throws Error when the text is not a real calendar date.
 */
export function parseDay(text: string): number {
  const ms = DATE_RE.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== text) {
    throw new Error(`${JSON.stringify(text)} is not a date: write YYYY-MM-DD`);
  }
  return ms;
}

/** `YYYY-MM-DD` of an epoch-millisecond instant (UTC). */
export function formatDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The events of one day, seeded by the date: `n` distinct IPv4 users (first octet 1–223, last 1–254),
 * then each event picks a user uniformly.
 * @param day `YYYY-MM-DD`
 */
export function generateEventsForDay(day: string): WebEvent[] {
  const rand = mulberry32(parseDay(day) / 1000);
  const nUsers = randInt(rand, USERS_PER_DAY.min, USERS_PER_DAY.max);
  const nEvents = randInt(rand, EVENTS_PER_DAY.min, EVENTS_PER_DAY.max);
  const users = new Set<string>();
  while (users.size < nUsers) {
    users.add(`${randInt(rand, 1, 223)}.${randInt(rand, 0, 255)}.${randInt(rand, 0, 255)}.${randInt(rand, 1, 254)}`);
  }
  const list = [...users];
  const events: WebEvent[] = [];
  for (let i = 0; i < nEvents; i++) events.push({ user: list[randInt(rand, 0, nUsers - 1)]!, date: day });
  return events;
}

/**
 * The whole data set: `days` dates ending before `endDate`, oldest first.
 * @param endDate exclusive last date, `YYYY-MM-DD`. @default {@link DEFAULT_EVENTS_END_DATE}
 * @param days @default {@link DEFAULT_EVENTS_DAYS}
 */
export function generateEvents(endDate: string = DEFAULT_EVENTS_END_DATE, days: number = DEFAULT_EVENTS_DAYS): WebEvent[] {
  const end = parseDay(endDate);
  const out: WebEvent[] = [];
  for (let i = days; i >= 1; i--) out.push(...generateEventsForDay(formatDay(end - i * DAY_MS)));
  return out;
}
