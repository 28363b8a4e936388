/**
 * The shape of a source file (`sources/<name>.yaml`): one stream of one device type, declared instead
 * of coded (like a Telegraf input with its parser, or a Kafka Connect connector with its converter).
 *
 * ```yaml
 * name: mqtt-sensor-data                 # [a-z0-9][a-z0-9_-]*: rows carry it; table ingest.<name with _>
 * mqtt:
 *   topic: sensors/{site}/{device}/data  # {name} matches one level (+), a trailing {name...} the rest (#)
 *   share_group: ingest                  # optional MQTT 5 shared subscription
 * format: json                           # json | csv | influx | sparkplug_b (see formats/)
 * device_id: { field: sensor_id }        # or { topic: device }, { key: true }, { expression: "…" }
 * event_time: { field: timestamp, format: epoch_s }   # absent: arrival time
 * measurements:
 *   temperature: { type: double, unit: degC, range: [-40, 85] }
 * ```
 *
 * Every name that reaches SQL (table, column) is checked here against {@link SQL_IDENTIFIER} and quoted
 * again where it is used (`table.ts`); the table always lives in the `ingest` schema.
 */
import { z } from 'zod';

/** A lower-case SQL identifier this project will create: letters, digits, `_`; at most 63 bytes (PostgreSQL's NAMEDATALEN − 1). */
export const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
/** A source name: lower-case letters, digits, `-` and `_`; it names the workflow, the table and the rows. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]{0,47}$/;

/** Column types a measurement can have (PostgreSQL types). */
export const MEASUREMENT_TYPES = ['double', 'bigint', 'boolean', 'text', 'timestamptz', 'jsonb'] as const;
/** One of {@link MEASUREMENT_TYPES}. */
export type MeasurementType = (typeof MEASUREMENT_TYPES)[number];

/**
 * Epoch units and text formats an event time can be declared in. `auto` accepts ISO 8601 strings and
 * epoch numbers, telling seconds, milliseconds, microseconds and nanoseconds apart by magnitude
 * (see `timestamps.ts`). Anything else is a Luxon format pattern (`yyyy-MM-dd HH:mm:ss`) read in `zone`.
 */
export const TIME_FORMATS = ['auto', 'iso8601', 'epoch_s', 'epoch_ms', 'epoch_us', 'epoch_ns'] as const;

/** Columns every source table has; a measurement may not take these names. */
export const RESERVED_COLUMNS = [
  'source',
  'device_id',
  'event_time',
  'time_origin',
  'record_key',
  'attributes',
  'out_of_range',
  'batch_id',
  'received_at',
] as const;

/** Tables of the `ingest` schema the project owns; a source table may not take these names. */
export const RESERVED_TABLES = ['batches', 'dead_letters', 'device_status', 'kafka_offsets', 'lake_exports', 'lake_partitions'] as const;

const identifier = (what: string) =>
  z.string().regex(SQL_IDENTIFIER, {
    message: `${what} must be a lower-case SQL identifier: a letter or _, then letters, digits or _, at most 63 characters`,
  });

/** Where a value comes from: a payload field (dotted path), a topic segment, the Kafka record key, or a JSONata expression. */
const valueFrom = z.union([
  z.strictObject({ field: z.string().min(1) }),
  z.strictObject({ topic: z.string().min(1) }),
  z.strictObject({ key: z.literal(true) }),
  z.strictObject({ header: z.string().min(1) }),
  z.strictObject({ expression: z.string().min(1) }),
]);

const timeFormat = z.union([z.enum(TIME_FORMATS), z.string().min(2)]);

const eventTime = z.union([
  z.strictObject({ field: z.string().min(1), format: timeFormat.default('auto'), zone: z.string().min(1).optional() }),
  z.strictObject({ topic: z.string().min(1), format: timeFormat.default('auto'), zone: z.string().min(1).optional() }),
  z.strictObject({ header: z.string().min(1), format: timeFormat.default('auto'), zone: z.string().min(1).optional() }),
  z.strictObject({ expression: z.string().min(1), format: timeFormat.default('auto'), zone: z.string().min(1).optional() }),
  z.strictObject({ arrival: z.literal(true) }),
]);

const measurement = z.strictObject({
  /** Dotted path in the record. @default the measurement's name */
  field: z.string().min(1).optional(),
  /** A JSONata expression over the record instead of a field. */
  expression: z.string().min(1).optional(),
  type: z.enum(MEASUREMENT_TYPES).default('double'),
  unit: z.string().min(1).optional(),
  description: z.string().optional(),
  /** Valid range [min, max] after scaling; either end may be null. */
  range: z.tuple([z.number().nullable(), z.number().nullable()]).optional(),
  /** Linear scale applied to numbers: value × multiply + add. */
  scale: z.strictObject({ multiply: z.number().default(1), add: z.number().default(0) }).optional(),
  /** Accept numeric (and boolean) strings such as "73" for this measurement. @default false */
  coerce: z.boolean().default(false),
  /** A record without this measurement is dead-lettered. @default false */
  required: z.boolean().default(false),
  /**
   * Stored when the record has no value (missing or null), e.g. `''` for a `NOT NULL DEFAULT ''`
   * column; it does not count as a measurement present. Must suit `type`.
   */
  default: z.union([z.number(), z.string(), z.boolean()]).optional(),
});

const csvFormat = z.strictObject({
  type: z.literal('csv'),
  /** First line of each payload names the columns. @default true unless `columns` is given */
  header: z.boolean().optional(),
  columns: z.array(z.string().min(1)).min(1).optional(),
  delimiter: z.string().min(1).max(4).default(','),
});
const jsonFormat = z.strictObject({ type: z.literal('json') });
/**
 * InfluxDB line protocol (`formats/influx.ts`; spec: the InfluxDB v2 line protocol reference), as
 * Telegraf writes it with `data_format = "influx"`. Each line is a record
 * `{ measurement, tags.<key>, fields.<key>, timestamp }`; `timestamp` is epoch ms with the µs as its
 * fraction (nanoseconds rounded to the µs), ready for `event_time: { field: timestamp }`.
 */
const influxFormat = z.strictObject({
  type: z.literal('influx'),
  /** Unit of the lines' timestamps (InfluxDB's `precision`). @default ns */
  precision: z.enum(['ns', 'us', 'ms', 's']).default('ns'),
  /**
   * Keep only lines of these measurements (Telegraf's `namepass`: names, `*` and `?` wildcards); the
   * other lines are skipped on purpose, not dead-lettered. @default every line
   */
  namepass: z.array(z.string().min(1)).min(1).optional(),
});

/**
 * Sparkplug B 3.0 (`formats/sparkplug.ts`): the consumer is a Sparkplug host application. Each message
 * gives one record per metric timestamp, `{ group_id, edge_node_id, device_id?, device_path,
 * message_type, seq, timestamp, is_historical, "<metric name>": value }`. MQTT only, one consumer (no
 * `share_group`: sequence numbers are checked in order).
 */
const sparkplugFormat = z.strictObject({
  type: z.literal('sparkplug_b'),
  /** The host application id: its retained `spBv1.0/STATE/<host_id>` presence. @default iot-pipelines */
  host_id: z
    .string()
    .regex(/^[^/+#]+$/, { message: 'is one MQTT topic level: no /, + or #' })
    .default('iot-pipelines'),
});

/** The zod schema of a source file. */
export const sourceDeclarationSchema = z
  .strictObject({
    name: z.string().regex(SOURCE_NAME, {
      message: 'must be lower-case letters, digits, - or _ (at most 48, starting with a letter or digit), e.g. mqtt-sensor-data',
    }),
    description: z.string().optional(),
    /** Table in the `ingest` schema. @default the name with `-` replaced by `_` */
    table: identifier('table').optional(),
    mqtt: z
      .strictObject({
        topic: z.string().min(1),
        qos: z.literal(1).default(1),
        share_group: z
          .string()
          .regex(/^[^/+#]+$/)
          .optional(),
      })
      .optional(),
    kafka: z
      .strictObject({
        topics: z
          .array(z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { message: 'is not a Kafka topic name' }))
          .min(1)
          .optional(),
        /**
         * A regular expression over topic names (anchored): every existing topic that matches gets a
         * stream when `sources apply` runs (topics created later: apply again), like Kafka Connect's `topics.regex`.
         */
        topic_pattern: z
          .string()
          .min(1)
          .refine(
            (p) => {
              try {
                new RegExp(`^(?:${p})$`);
                return true;
              } catch {
                return false;
              }
            },
            { message: 'is not a regular expression' },
          )
          .optional(),
        group: z.string().min(1).default('iot-pipelines'),
        start_from: z.enum(['earliest', 'latest']).default('earliest'),
      })
      .optional(),
    format: z
      .union([
        z.literal('json').transform(() => ({ type: 'json' as const })),
        z.literal('csv').transform(() => ({
          type: 'csv' as const,
          delimiter: ',',
          header: undefined as boolean | undefined,
          columns: undefined as string[] | undefined,
        })),
        z.literal('influx').transform(() => ({
          type: 'influx' as const,
          precision: 'ns' as 'ns' | 'us' | 'ms' | 's',
          namepass: undefined as string[] | undefined,
        })),
        z.literal('sparkplug_b').transform(() => ({ type: 'sparkplug_b' as const, host_id: 'iot-pipelines' })),
        jsonFormat,
        csvFormat,
        influxFormat,
        sparkplugFormat,
      ])
      .default({ type: 'json' }),
    device_id: valueFrom,
    event_time: eventTime.default({ arrival: true }),
    measurements: z.record(identifier('a measurement name'), measurement).refine((m) => Object.keys(m).length > 0, {
      message: 'declare at least one measurement',
    }),
    /** Dead-letter records with fields that are not declared (else they are kept in `attributes`). @default false */
    strict: z.boolean().default(false),
    /** Top-level fields read and dropped: neither attributes nor, with `strict`, a reason to dead-letter (Telegraf's `fieldexclude`). @default [] */
    ignore: z.array(z.string().min(1)).default([]),
    /**
     * The natural key of the table (`ON CONFLICT … DO NOTHING`): columns among `source`, `device_id`,
     * `event_time`, `record_key` and the measurements (which must then be `required` or have a
     * `default`). A table that exists must have exactly this primary key.
     * @default [event_time, device_id, record_key]
     */
    key: z.array(z.string().min(1)).min(1).optional(),
    /**
     * A template for streams started per source (`iot-pipelines streams start mqtt:<source> --kind
     * <name>`, or `ingest start`): `sources apply` creates its table but starts no stream; each stream
     * binds `{source}` in the MQTT topic to its source name, and its rows carry that source. The key
     * must then include `source`. @default false
     */
    template: z.boolean().default(false),
    /** What an out-of-range value does: kept and named in `out_of_range` (`flag`), or the record is dead-lettered. @default flag */
    out_of_range: z.enum(['flag', 'dead_letter']).default('flag'),
    /** Streams may run this many consumers (MQTT shared-subscription members or Kafka group members). @default 1 */
    members: z.number().int().min(1).max(16).default(1),
    /** Messages per batch. @default 1000 */
    batch_size: z.number().int().min(1).max(50_000).optional(),
  })
  .superRefine((d, ctx) => {
    if (!d.mqtt === !d.kafka) {
      ctx.addIssue({ code: 'custom', path: ['mqtt'], message: 'declare exactly one transport: mqtt: { topic } or kafka: { topics }' });
    }
    if (d.kafka && !d.kafka.topics === !d.kafka.topic_pattern) {
      ctx.addIssue({ code: 'custom', path: ['kafka'], message: 'declare topics: [ … ] or topic_pattern: <regex>, one of them' });
    }
    for (const name of Object.keys(d.measurements)) {
      if ((RESERVED_COLUMNS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['measurements', name],
          message: `is a column every source table has (${RESERVED_COLUMNS.join(', ')}); rename it and read the payload field with field: ${name}`,
        });
      }
      const m = d.measurements[name]!;
      if (m.field && m.expression)
        ctx.addIssue({ code: 'custom', path: ['measurements', name], message: 'give field or expression, not both' });
    }
    const table = d.table ?? d.name.replaceAll('-', '_');
    if (!SQL_IDENTIFIER.test(table)) {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `gives the table name ${table}, which is not an SQL identifier; set table:`,
      });
    }
    if ((RESERVED_TABLES as readonly string[]).includes(table)) {
      ctx.addIssue({
        code: 'custom',
        path: [d.table ? 'table' : 'name'],
        message: `ingest.${table} is one of the project's own tables (${RESERVED_TABLES.join(', ')}); choose another table: name`,
      });
    }
    const keyColumns = new Set(['source', 'device_id', 'event_time', 'record_key', ...Object.keys(d.measurements)]);
    for (const [i, k] of (d.key ?? []).entries()) {
      if (!keyColumns.has(k)) {
        ctx.addIssue({
          code: 'custom',
          path: ['key', i],
          message: `${k} is not a column of the table; use source, device_id, event_time, record_key or a measurement`,
        });
        continue;
      }
      const m = d.measurements[k];
      if (m && !m.required && m.default === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['measurements', k],
          message: `is part of key: declare required: true or a default, so the key column is never NULL`,
        });
      }
    }
    if (d.template && !(d.key ?? []).includes('source')) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: 'a template serves several sources in one table: its key must include source, e.g. key: [source, device_id, event_time]',
      });
    }
    if (d.format.type === 'sparkplug_b') {
      if (!d.mqtt) {
        ctx.addIssue({
          code: 'custom',
          path: ['format'],
          message: 'Sparkplug B is an MQTT specification: declare mqtt: { topic: "spBv1.0/#" }',
        });
      } else if (d.mqtt.share_group) {
        ctx.addIssue({
          code: 'custom',
          path: ['mqtt', 'share_group'],
          message: 'a Sparkplug B host reads each edge node in order (sequence numbers): remove share_group',
        });
      }
    }
    if (d.format.type === 'csv' && d.format.header === false && !d.format.columns) {
      ctx.addIssue({ code: 'custom', path: ['format', 'columns'], message: 'a CSV without a header row needs columns: [ … ]' });
    }
  });

/** A source file as written (input of the schema). */
export type SourceDeclarationInput = z.input<typeof sourceDeclarationSchema>;
/** A validated source file with its defaults filled in. */
export type SourceDeclaration = z.output<typeof sourceDeclarationSchema>;
/** One declared measurement. */
export type MeasurementDeclaration = SourceDeclaration['measurements'][string];
/** Where a device id comes from. */
export type ValueFrom = SourceDeclaration['device_id'];
/** Where the event time comes from. */
export type EventTimeFrom = SourceDeclaration['event_time'];

/** The `ingest` table of a declared source (unquoted name). */
export function sourceTable(d: Pick<SourceDeclaration, 'name' | 'table'>): string {
  return d.table ?? d.name.replaceAll('-', '_');
}

/** The dead-letter `kind` of a declared source's letters, so a redrive runs them through the source again. */
export function sourceKind(name: string): string {
  return `source:${name}`;
}

/** The natural key of a source table when the file declares none: time first (see `encode.ts` `SOURCE_KEY`). */
export const DEFAULT_KEY = ['event_time', 'device_id', 'record_key'] as const;

/** The natural key columns of a declared source's table (unquoted). */
export function sourceKey(d: Pick<SourceDeclaration, 'key'>): readonly string[] {
  return d.key ?? DEFAULT_KEY;
}
