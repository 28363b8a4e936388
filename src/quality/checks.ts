/**
 * The data-quality checks, as SQL over one data interval `[start, end)` of event time:
 * GPS fixes (`ingest.gps_fixes`) and sensor readings (`ingest.sensor_readings`). Each check returns
 * one {@link Finding} per device that violates its rule, with the evidence (the exact fixes or
 * readings) as JSON. Thresholds come from {@link QualityRules}.
 *
 * Distance: the haversine formula on a sphere of radius {@link EARTH_RADIUS_KM} (R. W. Sinnott,
 * "Virtues of the Haversine", Sky and Telescope 68(2):159, 1984; mean Earth radius R1 = 6371.0088 km
 * from H. Moritz, "Geodetic Reference System 1980", IUGG). "Consecutive fixes of a device" are ordered
 * by (event time, seq).
 */
import type { Pool } from '../db/pool';
import { RULES, type AlertSeverity, type QualityRules, type RuleName } from './rules';

/** Mean Earth radius (IUGG R1), km. */
export const EARTH_RADIUS_KM = 6371.0088;

/** One violation of one rule by one device within the checked interval. */
export interface Finding {
  source: string;
  deviceId: string;
  rule: RuleName;
  severity: AlertSeverity;
  /** One readable line, e.g. `3 impossible jumps (max 625 km/h > 200 km/h)`. */
  message: string;
  /** The exact fixes/readings (sequence numbers, event times, measured values), JSON. */
  evidence: Record<string, unknown>;
}

/** What to check. */
export interface CheckScope {
  /** Inclusive start, ISO 8601. */
  start: string;
  /** Exclusive end, ISO 8601. */
  end: string;
  /** Only this source. @default every source */
  source?: string;
}

/** Which groups of checks to run. */
export type CheckGroup = 'gps' | 'sensors' | 'silence';

const hav = (lat1: string, lon1: string, lat2: string, lon2: string) =>
  `(2 * ${EARTH_RADIUS_KM} * asin(least(1, sqrt(power(sin(radians(${lat2} - ${lat1}) / 2), 2) + cos(radians(${lat1})) * cos(radians(${lat2})) * power(sin(radians(${lon2} - ${lon1}) / 2), 2)))))`;

/** SQL of the haversine distance in km between two points given in degrees (exported for tests/docs). */
export const HAVERSINE_SQL = hav;

const FIXES = `SELECT source, device_id, seq, event_time, track_id, latitude, longitude
  FROM ingest.gps_fixes WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($3::text IS NULL OR source = $3)`;

function validSql(rules: QualityRules): string {
  const nullIsland = rules.gps.invalidCoordinates.rejectNullIsland ? ' AND NOT (latitude = 0 AND longitude = 0)' : '';
  return `(latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180${nullIsland})`;
}

type Row = { source: string; device_id: string } & Record<string, unknown>;

/** Invalid WGS84 coordinates (and null island when configured). */
async function invalidCoordinates(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const r = await pool.query<Row & { seqs: string[]; n: number }>(
    `SELECT source, device_id, array_agg(seq ORDER BY event_time, seq) AS seqs, count(*)::int AS n
       FROM (${FIXES}) f WHERE NOT ${validSql(rules)} GROUP BY source, device_id`,
    [s.start, s.end, s.source ?? null],
  );
  return r.rows.map((x) => ({
    source: x.source,
    deviceId: x.device_id,
    rule: RULES.invalidCoordinates,
    severity: rules.gps.invalidCoordinates.severity,
    message: `${x.n} fix(es) with coordinates outside the valid WGS84 range`,
    evidence: { fixes: x.n, seqs: x.seqs.map(Number) },
  }));
}

/** Valid fixes outside the configured region (radius around a center, or bounding box). */
async function outsideRegion(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const reg = rules.gps.region;
  const cond =
    reg.kind === 'radius'
      ? `${hav(String(reg.centerLat), String(reg.centerLon), 'latitude', 'longitude')} > ${reg.radiusKm}`
      : `NOT (latitude BETWEEN ${reg.minLat} AND ${reg.maxLat} AND longitude BETWEEN ${reg.minLon} AND ${reg.maxLon})`;
  const dist = reg.kind === 'radius' ? hav(String(reg.centerLat), String(reg.centerLon), 'latitude', 'longitude') : 'NULL::float8';
  const r = await pool.query<Row & { seqs: string[]; n: number; max_km: number | null }>(
    `SELECT source, device_id, array_agg(seq ORDER BY event_time, seq) AS seqs, count(*)::int AS n, max(${dist}) AS max_km
       FROM (${FIXES}) f WHERE ${validSql(rules)} AND ${cond} GROUP BY source, device_id`,
    [s.start, s.end, s.source ?? null],
  );
  const where =
    reg.kind === 'radius' ? `farther than ${reg.radiusKm} km from (${reg.centerLat}, ${reg.centerLon})` : 'outside the bounding box';
  return r.rows.map((x) => ({
    source: x.source,
    deviceId: x.device_id,
    rule: RULES.outsideRegion,
    severity: reg.severity,
    message: `${x.n} fix(es) ${where}${x.max_km !== null ? ` (up to ${Math.round(x.max_km)} km)` : ''}`,
    evidence: { fixes: x.n, seqs: x.seqs.map(Number), region: reg, maxDistanceKm: x.max_km },
  }));
}

/**
 * Consecutive valid fixes of one track whose haversine distance over (Δt + resolution) exceeds the max
 * speed. Fixes are paired within a track (`track_id`; a source without tracks pairs a device's fixes),
 * so two tracks a device recorded at the same time do not interleave into jumps between them: those are
 * reported once, by {@link overlappingTracks}.
 */
async function impossibleJumps(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const j = rules.gps.impossibleJump;
  const r = await pool.query<
    Row & { pairs: Array<{ fromSeq: number; toSeq: number; distanceKm: number; elapsedS: number; speedKmh: number }> }
  >(
    `WITH f AS (
       SELECT source, device_id, seq, event_time, latitude, longitude,
              lag(seq) OVER w AS p_seq, lag(event_time) OVER w AS p_time, lag(latitude) OVER w AS p_lat, lag(longitude) OVER w AS p_lon
         FROM (${FIXES}) x WHERE ${validSql(rules)}
       WINDOW w AS (PARTITION BY source, device_id, track_id ORDER BY event_time, seq)),
     d AS (
       SELECT source, device_id, p_seq, seq, ${hav('p_lat', 'p_lon', 'latitude', 'longitude')} AS km,
              extract(epoch FROM event_time - p_time)::float8 + $4::float8 AS elapsed_s
         FROM f WHERE p_seq IS NOT NULL)
     SELECT source, device_id,
            json_agg(json_build_object('fromSeq', p_seq, 'toSeq', seq, 'distanceKm', km, 'elapsedS', elapsed_s,
                     'speedKmh', km / (elapsed_s / 3600.0)) ORDER BY p_seq, seq) AS pairs
       FROM d WHERE elapsed_s > 0 AND km / (elapsed_s / 3600.0) > $5::float8
      GROUP BY source, device_id`,
    [s.start, s.end, s.source ?? null, j.timeResolutionSeconds, j.maxSpeedKmh],
  );
  return r.rows.map((x) => {
    const max = Math.max(...x.pairs.map((p) => p.speedKmh));
    return {
      source: x.source,
      deviceId: x.device_id,
      rule: RULES.impossibleJump,
      severity: j.severity,
      message: `${x.pairs.length} impossible jump(s) between consecutive fixes (up to ${Math.round(max)} km/h > ${j.maxSpeedKmh} km/h)`,
      evidence: { jumps: x.pairs.length, maxSpeedKmh: j.maxSpeedKmh, timeResolutionSeconds: j.timeResolutionSeconds, pairs: x.pairs },
    };
  });
}

/** Runs of at least `minFixes` consecutive valid fixes with identical coordinates. */
async function stuck(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const r = await pool.query<
    Row & { runs: Array<{ firstSeq: number; lastSeq: number; fixes: number; lat: number; lon: number; from: string; to: string }> }
  >(
    `WITH f AS (
       SELECT source, device_id, seq, event_time, latitude, longitude,
              CASE WHEN latitude = lag(latitude) OVER w AND longitude = lag(longitude) OVER w THEN 0 ELSE 1 END AS brk
         FROM (${FIXES}) x WHERE ${validSql(rules)}
       WINDOW w AS (PARTITION BY source, device_id ORDER BY event_time, seq)),
     g AS (SELECT *, sum(brk) OVER (PARTITION BY source, device_id ORDER BY event_time, seq) AS grp FROM f),
     runs AS (
       SELECT source, device_id, grp, count(*)::int AS n,
              (array_agg(seq ORDER BY event_time, seq))[1] AS first_seq,
              (array_agg(seq ORDER BY event_time DESC, seq DESC))[1] AS last_seq,
              min(latitude) AS lat, min(longitude) AS lon, min(event_time) AS t0, max(event_time) AS t1
         FROM g GROUP BY source, device_id, grp HAVING count(*) >= $4)
     SELECT source, device_id,
            json_agg(json_build_object('firstSeq', first_seq, 'lastSeq', last_seq, 'fixes', n, 'lat', lat, 'lon', lon,
                     'from', t0, 'to', t1) ORDER BY t0, first_seq) AS runs
       FROM runs GROUP BY source, device_id`,
    [s.start, s.end, s.source ?? null, rules.gps.stuck.minFixes],
  );
  return r.rows.map((x) => ({
    source: x.source,
    deviceId: x.device_id,
    rule: RULES.stuck,
    severity: rules.gps.stuck.severity,
    message: `${x.runs.length} run(s) of ≥ ${rules.gps.stuck.minFixes} identical consecutive positions (longest ${Math.max(...x.runs.map((u) => u.fixes))} fixes)`,
    evidence: { minFixes: rules.gps.stuck.minFixes, runs: x.runs },
  }));
}

/**
 * Tracks whose fixes (event time, latitude, longitude in seq order) are identical to another track's
 * of the same source. Only the fixes inside the interval are compared.
 */
async function duplicateTracks(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const r = await pool.query<Row & { tracks: Array<{ trackId: string; duplicateOf: string[]; fixes: number }> }>(
    `WITH t AS (
       SELECT source, track_id, min(device_id) AS device_id, count(*)::int AS n,
              md5(string_agg(extract(epoch FROM event_time)::text || ':' || latitude::text || ':' || longitude::text, ';' ORDER BY seq)) AS h
         FROM (${FIXES}) x GROUP BY source, track_id),
     dup AS (
       SELECT a.source, a.device_id, a.track_id, a.n, array_agg(b.track_id ORDER BY b.track_id) AS others
         FROM t a JOIN t b ON a.source = b.source AND a.h = b.h AND a.track_id <> b.track_id
        GROUP BY a.source, a.device_id, a.track_id, a.n)
     SELECT source, device_id, json_agg(json_build_object('trackId', track_id, 'duplicateOf', others, 'fixes', n) ORDER BY track_id) AS tracks
       FROM dup GROUP BY source, device_id`,
    [s.start, s.end, s.source ?? null],
  );
  return r.rows.map((x) => ({
    source: x.source,
    deviceId: x.device_id,
    rule: RULES.duplicateTrack,
    severity: rules.gps.duplicateTrack.severity,
    message: `${x.tracks.length} track(s) exactly duplicating another track`,
    evidence: { tracks: x.tracks },
  }));
}

/**
 * Tracks of one device that overlap in time (each starts before the other ends): the device reported
 * two positions at once (go!track has devices that recorded two tracks together). One finding per
 * device, listing the pairs; pairs that are exact duplicates are left to {@link duplicateTracks}.
 */
async function overlappingTracks(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const r = await pool.query<Row & { pairs: Array<{ trackId: string; otherTrackId: string; from: string; to: string }> }>(
    `WITH t AS (
       SELECT source, device_id, track_id, min(event_time) AS first_time, max(event_time) AS last_time,
              md5(string_agg(extract(epoch FROM event_time)::text || ':' || latitude::text || ':' || longitude::text, ';' ORDER BY seq)) AS h
         FROM (${FIXES}) x WHERE track_id IS NOT NULL GROUP BY source, device_id, track_id)
     SELECT a.source, a.device_id,
            json_agg(json_build_object('trackId', a.track_id, 'otherTrackId', b.track_id,
                     'from', greatest(a.first_time, b.first_time), 'to', least(a.last_time, b.last_time))
                     ORDER BY a.track_id, b.track_id) AS pairs
       FROM t a JOIN t b ON a.source = b.source AND a.device_id = b.device_id AND a.track_id < b.track_id
                        AND a.first_time < b.last_time AND b.first_time < a.last_time AND a.h <> b.h
      GROUP BY a.source, a.device_id`,
    [s.start, s.end, s.source ?? null],
  );
  return r.rows.map((x) => ({
    source: x.source,
    deviceId: x.device_id,
    rule: RULES.overlappingTracks,
    severity: rules.gps.overlappingTracks.severity,
    message: `${x.pairs.length} pair(s) of tracks recorded at the same time (two positions of one device at once)`,
    evidence: { pairs: x.pairs },
  }));
}

const SENSOR_COLUMNS = ['temperature', 'humidity', 'light', 'co2', 'humidity_ratio'] as const;
const READINGS = `SELECT * FROM ingest.sensor_readings WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($3::text IS NULL OR source = $3)`;

/** Readings equal to a sentinel (fault code); error when their share of the device's readings ≥ errorFraction. */
async function sentinels(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const cfg = rules.sensors.sentinel;
  const isSent = (c: string) => `${c} = ANY($4::float8[])`;
  const r = await pool.query<Row & { total: number; bad: number; times: Date[] } & Record<string, number>>(
    `SELECT source, device_id, count(*)::int AS total,
            count(*) FILTER (WHERE ${SENSOR_COLUMNS.map(isSent).join(' OR ')})::int AS bad,
            ${SENSOR_COLUMNS.map((c) => `count(*) FILTER (WHERE ${isSent(c)})::int AS ${c}`).join(', ')},
            array_agg(event_time ORDER BY event_time) FILTER (WHERE ${SENSOR_COLUMNS.map(isSent).join(' OR ')}) AS times
       FROM (${READINGS}) x GROUP BY source, device_id
     HAVING count(*) FILTER (WHERE ${SENSOR_COLUMNS.map(isSent).join(' OR ')}) > 0`,
    [s.start, s.end, s.source ?? null, cfg.values],
  );
  return r.rows.map((x) => {
    const fraction = x.bad / x.total;
    const columns = Object.fromEntries(SENSOR_COLUMNS.filter((c) => (x[c] ?? 0) > 0).map((c) => [c, x[c]]));
    return {
      source: x.source,
      deviceId: x.device_id,
      rule: RULES.sentinel,
      severity: fraction >= cfg.errorFraction ? 'error' : cfg.severity,
      message: `${x.bad} of ${x.total} reading(s) carry the fault code ${cfg.values.join('/')} (${(fraction * 100).toFixed(1)} %)`,
      evidence: {
        readings: x.total,
        faulty: x.bad,
        fraction,
        errorFraction: cfg.errorFraction,
        columns,
        eventTimes: x.times.map((t) => t.toISOString()),
      },
    };
  });
}

/** Readings outside the plausible range of their sensor (sentinels excluded; NaN counts as out of range). */
async function outOfRange(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const cfg = rules.sensors.outOfRange;
  const out = (c: (typeof SENSOR_COLUMNS)[number]) =>
    `(${c} IS NOT NULL AND NOT (${c} = ANY($4::float8[])) AND NOT (${c} BETWEEN ${cfg.ranges[c].min} AND ${cfg.ranges[c].max}))`;
  const anyOut = SENSOR_COLUMNS.map(out).join(' OR ');
  const r = await pool.query<Row & { n: number; times: Date[] } & Record<string, number>>(
    `SELECT source, device_id, count(*) FILTER (WHERE ${anyOut})::int AS n,
            ${SENSOR_COLUMNS.map((c) => `count(*) FILTER (WHERE ${out(c)})::int AS ${c}`).join(', ')},
            array_agg(event_time ORDER BY event_time) FILTER (WHERE ${anyOut}) AS times
       FROM (${READINGS}) x GROUP BY source, device_id HAVING count(*) FILTER (WHERE ${anyOut}) > 0`,
    [s.start, s.end, s.source ?? null, rules.sensors.sentinel.values],
  );
  return r.rows.map((x) => {
    const columns = Object.fromEntries(
      SENSOR_COLUMNS.filter((c) => (x[c] ?? 0) > 0).map((c) => [c, { count: x[c], range: cfg.ranges[c] }]),
    );
    return {
      source: x.source,
      deviceId: x.device_id,
      rule: RULES.outOfRange,
      severity: cfg.severity,
      message: `${x.n} reading(s) outside the plausible range (${Object.keys(columns).join(', ')})`,
      evidence: { readings: x.n, columns, eventTimes: x.times.map((t) => t.toISOString()) },
    };
  });
}

/**
 * Devices with data in `[end − lookback, end)` whose latest event is older than `end − expected interval`.
 */
async function silent(pool: Pool, s: CheckScope, rules: QualityRules): Promise<Finding[]> {
  const cfg = rules.silence;
  const r = await pool.query<Row & { kind: 'gps' | 'sensor'; last: Date }>(
    `SELECT source, device_id, kind, max(event_time) AS last FROM (
       SELECT source, device_id, 'gps' AS kind, event_time FROM ingest.gps_fixes
        WHERE event_time >= $2::timestamptz - make_interval(secs => $4) AND event_time < $2::timestamptz AND ($3::text IS NULL OR source = $3)
       UNION ALL
       SELECT source, device_id, 'sensor', event_time FROM ingest.sensor_readings
        WHERE event_time >= $2::timestamptz - make_interval(secs => $4) AND event_time < $2::timestamptz AND ($3::text IS NULL OR source = $3)
     ) x WHERE $1::timestamptz IS NOT NULL GROUP BY source, device_id, kind`,
    [s.start, s.end, s.source ?? null, cfg.lookbackHours * 3600],
  );
  const end = Date.parse(s.end);
  const out: Finding[] = [];
  for (const x of r.rows) {
    const expected = (cfg.sources[x.source] ?? cfg.expectedIntervalSeconds[x.kind]) * 1000;
    const silentFor = end - x.last.getTime();
    if (silentFor <= expected) continue;
    out.push({
      source: x.source,
      deviceId: x.device_id,
      rule: RULES.silent,
      severity: cfg.severity,
      message: `no data for ${Math.round(silentFor / 60_000)} min (expected every ${Math.round(expected / 60_000)} min)`,
      evidence: { lastEventTime: x.last.toISOString(), expectedIntervalSeconds: expected / 1000, silentForSeconds: silentFor / 1000 },
    });
  }
  return out;
}

/**
 * Runs the checks of the given groups over the scope.
 * @param groups @default all groups
 * @throws pg errors (classified by the calling activity).
 */
export async function runChecks(
  pool: Pool,
  scope: CheckScope,
  rules: QualityRules,
  groups: readonly CheckGroup[] = ['gps', 'sensors', 'silence'],
): Promise<Finding[]> {
  const jobs: Array<Promise<Finding[]>> = [];
  if (groups.includes('gps')) {
    for (const f of [invalidCoordinates, outsideRegion, impossibleJumps, stuck, duplicateTracks, overlappingTracks])
      jobs.push(f(pool, scope, rules));
  }
  if (groups.includes('sensors')) for (const f of [sentinels, outOfRange]) jobs.push(f(pool, scope, rules));
  if (groups.includes('silence')) jobs.push(silent(pool, scope, rules));
  return (await Promise.all(jobs)).flat();
}
