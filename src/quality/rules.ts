/**
 * Data-quality rules and thresholds, read from `config/quality-rules.yaml` and validated with zod.
 * Every threshold carries its unit in its name (`maxSpeedKmh`, `radiusKm`, `timeResolutionSeconds`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ROOT_DIR } from '../config/env';

/** Severity of a finding; `error` fails the sensor pipeline's data-quality gate. */
export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type AlertSeverity = (typeof SEVERITIES)[number];

/** Names of the rules (the `rule` column of `quality.alerts`). */
export const RULES = {
  invalidCoordinates: 'gps_invalid_coordinates',
  outsideRegion: 'gps_outside_region',
  impossibleJump: 'gps_impossible_jump',
  stuck: 'gps_stuck',
  duplicateTrack: 'gps_duplicate_track',
  overlappingTracks: 'gps_overlapping_tracks',
  sentinel: 'sensor_sentinel',
  outOfRange: 'sensor_out_of_range',
  silent: 'device_silent',
} as const;
export type RuleName = (typeof RULES)[keyof typeof RULES];

const severity = z.enum(SEVERITIES);
const region = z.discriminatedUnion('kind', [
  z.object({
    severity,
    kind: z.literal('radius'),
    centerLat: z.number().min(-90).max(90),
    centerLon: z.number().min(-180).max(180),
    radiusKm: z.number().positive(),
  }),
  z.object({
    severity,
    kind: z.literal('bbox'),
    minLat: z.number().min(-90).max(90),
    maxLat: z.number().min(-90).max(90),
    minLon: z.number().min(-180).max(180),
    maxLon: z.number().min(-180).max(180),
  }),
]);
const range = z.object({ min: z.number(), max: z.number(), unit: z.string() });

/** Schema of the rules file. */
export const QualityRulesSchema = z.object({
  gps: z.object({
    invalidCoordinates: z.object({ severity, rejectNullIsland: z.boolean().default(true) }),
    region,
    impossibleJump: z.object({ severity, maxSpeedKmh: z.number().positive(), timeResolutionSeconds: z.number().min(0) }),
    stuck: z.object({ severity, minFixes: z.number().int().min(2) }),
    duplicateTrack: z.object({ severity }),
    /** Tracks of one device overlapping in time; optional in older rule files. @default warning */
    overlappingTracks: z.object({ severity }).default({ severity: 'warning' }),
  }),
  sensors: z.object({
    sentinel: z.object({ values: z.array(z.number()).min(1), severity, errorFraction: z.number().min(0).max(1) }),
    outOfRange: z.object({
      severity,
      ranges: z.object({ temperature: range, humidity: range, light: range, co2: range, humidity_ratio: range }),
    }),
  }),
  silence: z.object({
    severity,
    lookbackHours: z.number().positive(),
    expectedIntervalSeconds: z.object({ gps: z.number().positive(), sensor: z.number().positive() }),
    sources: z.record(z.string(), z.number().positive()).default({}),
  }),
});

/** Validated rules. */
export type QualityRules = z.infer<typeof QualityRulesSchema>;

/** Default rules file. */
export const DEFAULT_RULES_FILE = path.join(ROOT_DIR, 'config', 'quality-rules.yaml');

/** The rules file is unreadable or invalid. Not retryable: the file must be fixed. */
export class QualityRulesError extends Error {
  override readonly name = 'QualityRulesError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

/**
 * Loads and validates the rules.
 * @param file @default {@link DEFAULT_RULES_FILE}
 * @throws {@link QualityRulesError} naming the file and the invalid field.
 */
export function loadQualityRules(file = DEFAULT_RULES_FILE): QualityRules {
  let raw: unknown;
  try {
    raw = parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new QualityRulesError(`${file}: ${(e as Error).message}`, file);
  }
  const r = QualityRulesSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new QualityRulesError(`${file}: ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`, file);
  }
  return r.data;
}

/** Expected interval between data of a device, in ms: per-source override, else per kind. */
export function expectedIntervalMs(rules: QualityRules, source: string, kind: 'gps' | 'sensor'): number {
  return (rules.silence.sources[source] ?? rules.silence.expectedIntervalSeconds[kind]) * 1000;
}

/**
 * Which configured ranges a set of latest readings violates (sentinels excluded: they are faults of
 * their own rule). Used by the device-activity sink to detect "values out of range" on arrival.
 * @returns one `column=value` string per violation, or an empty array.
 */
export function outOfRangeValues(rules: QualityRules, latest: Record<string, number | string | null> | undefined): string[] {
  if (!latest) return [];
  const out: string[] = [];
  const ranges = rules.sensors.outOfRange.ranges as Record<string, { min: number; max: number; unit: string }>;
  for (const [col, r] of Object.entries(ranges)) {
    const key = col === 'humidity_ratio' ? (col in latest ? col : 'humidityRatio') : col;
    const v = latest[key];
    if (typeof v !== 'number') continue;
    if (rules.sensors.sentinel.values.includes(v)) out.push(`${col}=${v} (sentinel)`);
    else if (!(v >= r.min && v <= r.max)) out.push(`${col}=${v} ${r.unit} outside [${r.min}, ${r.max}]`);
  }
  return out;
}
