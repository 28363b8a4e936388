/**
 * Sources benchmark: committed rows per second of declared sources (`sources/*.yaml`: JSON mapped,
 * JSON with one JSONata field, CSV, InfluxDB line protocol, and on MQTT Sparkplug B) beside today's fixed
 * kinds and the raw limits, on MQTT and on Kafka, in one run with the streams bench's measurements
 * (bench/streams/main.ts):
 *
 * - MQTT → PostgreSQL (`mqttToPg`): the fixed `sensor` kind, then a declared source of each format,
 *   all fed the same real UCI Occupancy readings by the bench publisher process (bench/mqtt-publisher.ts,
 *   `dataset-copies`), beside the QoS 1 pass-through of the same messages (`mqttPassThrough`);
 * - Kafka → PostgreSQL (`kafkaToPg`): the fixed `modem` kind, then a declared source of each format
 *   reading the streams bench's telemetry records (a JSON, a CSV and a line protocol topic, produced once), beside
 *   one COPY of the same rows straight into PostgreSQL (`copyRate`).
 *
 * The declared sources are in payloads.ts; each run's source has a name and table of its own
 * (`applyTable`), dropped afterwards with its lineage rows. A run of a declared source fails when its
 * table does not hold every row or a message was dead-lettered. After one warm-up round the paths of
 * each transport run `repeats` times, interleaved (their order rotating each round); report.ts takes
 * medians and same-round ratios. Run alone:
 * `node --import tsx bench/sources/main.ts [--mqtt-messages M] [--records N] [--repeats R]`.
 */
import os from 'node:os';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl } from '../../src/config/env';
import { createPool, type Pool } from '../../src/db/pool';
import { createTopic, withAdmin } from '../../src/ingest/kafka-client';
import { encodeTelemetry } from '../../src/simulator/payloads';
import { quoteIdent } from '../../src/modelrunner/identifiers';
import { produceRecords, telemetryRecord } from '../../src/simulator/kafka-producer';
import { applyTable } from '../../src/sources/table';
import { loadDeclaration, type LoadedSource } from '../../src/sources/load';
import type { PublisherJob } from '../mqtt-publisher';
import { copyRate, kafkaToPg, mqttPassThrough, mqttToPg, type StreamsBenchRow } from '../streams/main';
import {
  SENSOR_EXPRESSION,
  sensorDeclaration,
  sensorSparkplugDeclaration,
  TELEMETRY_EXPRESSION,
  telemetryCsvLine,
  telemetryDeclaration,
  telemetryInfluxLine,
  type DeclaredFormat,
} from './payloads';
import {
  renderSources,
  summarise,
  type MeasuredPath,
  type SourcesContext,
  type SourcesPathId,
  type SourcesRun,
  type Transport,
} from './report';
import { runIfMain } from '../standalone';

/** Options of {@link runSourcesBench}. */
export interface SourcesBenchOptions {
  /** MQTT messages per run. @default 50000 */
  mqttMessages?: number;
  /** Kafka records per run (and COPY rows). @default 100000 */
  kafkaRecords?: number;
  /** Counted rounds. @default 3 */
  repeats?: number;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
}

/** Results of {@link runSourcesBench}. */
export interface SourcesBenchResult extends ReturnType<typeof summarise> {
  context: SourcesContext;
  markdown: string;
}

/** One path of the benchmark and how to run it once with `n` messages (`tag` makes its names unique). */
interface Variant {
  transport: Transport;
  path: SourcesPathId;
  label: string;
  run(n: number, tag: string): Promise<SourcesRun>;
}

/** Extra time the bench's watchdog allows for this section (≈ 4 min with the defaults on 2 cores). */
export const SOURCES_WATCHDOG_MS = 8 * 60_000;

/** Kafka partitions of the bench topics, as in the streams bench. */
const PARTITIONS = 4;
/** Modems of the telemetry fleet, as in the streams bench. */
const DEVICES = 1000;

const FORMAT_LABELS: Record<Transport, Record<DeclaredFormat, string>> = {
  mqtt: {
    json: 'declared JSON, mapped (device_id, ISO `ts`, 5 doubles)',
    'json-expr': `declared JSON + 1 JSONata field (\`temperature_f: ${SENSOR_EXPRESSION}\`)`,
    csv: 'declared CSV, one line per message (declared columns)',
    influx: 'declared line protocol, one line per message (tag device_id, 5 float fields, ns time; as Telegraf sends)',
  },
  kafka: {
    json: 'declared JSON, mapped (the telemetry fields, modem-evg style)',
    'json-expr': `declared JSON + 1 JSONata field (\`memory_free: ${TELEMETRY_EXPRESSION}\`)`,
    csv: 'declared CSV, one line per record (declared columns)',
    influx: 'declared line protocol, one line per record (3 tags, a string and 2 float fields; as Telegraf sends)',
  },
};

function toRun(r: StreamsBenchRow): SourcesRun {
  return { perSecond: r.perSecond, nodeCpuMs: r.cpu?.node };
}

/** `xs` rotated left by `k`. */
function rotate<T>(xs: readonly T[], k: number): T[] {
  const i = k % xs.length;
  return [...xs.slice(i), ...xs.slice(0, i)];
}

/**
 * Checks that the table of `s` holds at least `n` rows and nothing of it was dead-lettered.
 * @throws Error with the first dead letter's reason
 */
async function checkRows(pool: Pool, s: LoadedSource, n: number): Promise<void> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ingest.${quoteIdent(s.table)}`);
  const { rows: dead } = await pool.query<{ n: string; reason: string | null }>(
    'SELECT count(*) AS n, min(reason) AS reason FROM ingest.dead_letters WHERE source = $1',
    [s.name],
  );
  if (Number(dead[0]?.n) > 0) throw new Error(`${s.name}: ${dead[0]?.n} messages dead-lettered, e.g. ${dead[0]?.reason}`);
  if (Number(rows[0]?.n) < n) throw new Error(`${s.name}: ingest.${s.table} holds ${rows[0]?.n} rows, expected ${n}`);
}

/** Drops the table of `s` and every row the run left under its name. */
async function dropSource(pool: Pool, s: LoadedSource): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ingest.${quoteIdent(s.table)}`);
  await pool.query('DELETE FROM ops.schema_migrations WHERE source = $1', [s.name]);
  for (const t of ['ingest.batches', 'ingest.device_status', 'ingest.dead_letters', 'ingest.source_state']) {
    await pool.query(`DELETE FROM ${t} WHERE source = $1`, [s.name]);
  }
}

/**
 * Runs the sources benchmark on the running stack.
 * @throws when a path fails or times out, or a declared source's table misses rows
 */
export async function runSourcesBench(o: SourcesBenchOptions = {}): Promise<SourcesBenchResult> {
  const m = o.mqttMessages ?? 50_000;
  const n = o.kafkaRecords ?? 100_000;
  const repeats = o.repeats ?? 3;
  const log = o.log ?? console.log;
  const warm = { mqtt: Math.min(m, Math.max(1000, Math.round(m / 5))), kafka: Math.min(n, Math.max(1000, Math.round(n / 5))) };
  const t0 = Date.now();
  const load0 = os.loadavg()[0]!;
  const settings = loadSettings();
  const brokers = kafkaBrokers(settings);
  const url = mqttUrl(settings);
  const pool = createPool(databaseUrl(settings), 10);
  const runId = Date.now().toString(36);
  const topics = { json: `bench-sources-json-${runId}`, csv: `bench-sources-csv-${runId}`, influx: `bench-sources-influx-${runId}` };
  try {
    const start = Date.UTC(2024, 0, 1);
    for (const [format, topic] of Object.entries(topics)) {
      await createTopic(brokers, topic, PARTITIONS);
      await produceRecords({ brokers, topic }, (i) => {
        if (i >= n) return undefined;
        const r = telemetryRecord(i, DEVICES, start);
        const value = format === 'csv' ? telemetryCsvLine(r) : format === 'influx' ? telemetryInfluxLine(r) : encodeTelemetry(r);
        return { key: r.deviceId, value };
      });
    }
    const sensorJob =
      (format: 'json' | 'csv' | 'influx' | 'sparkplug', count: number) =>
      (prefix: string): PublisherJob => ({ kind: 'dataset-copies', url, prefix, dataset: 'uci-occupancy', count, format });

    /** Runs `measure` with a declared source of its own, created before and dropped after. */
    const declared = async (
      name: string,
      declaration: Parameters<typeof loadDeclaration>[0],
      count: number,
      measure: (s: LoadedSource) => Promise<StreamsBenchRow>,
    ): Promise<SourcesRun> => {
      const s = loadDeclaration(declaration, `bench source ${name}`);
      await applyTable(pool, s);
      try {
        const r = await measure(s);
        await checkRows(pool, s, count);
        return toRun(r);
      } finally {
        await dropSource(pool, s);
      }
    };
    const formats: DeclaredFormat[] = ['json', 'json-expr', 'csv', 'influx'];
    /** What the producers send for a declared format (`json-expr` reads the JSON). */
    const wire = (format: DeclaredFormat) => (format === 'json-expr' ? 'json' : format);
    const mqttVariants: Variant[] = [
      {
        transport: 'mqtt',
        path: 'raw',
        label: 'QoS 1 pass-through, no database (raw limit)',
        run: async (count) => toRun(await mqttPassThrough(url, count, sensorJob('json', count))),
      },
      {
        transport: 'mqtt',
        path: 'fixed',
        label: 'shipped `sensor` source file (strict, ISO times) → ingest.sensor_readings',
        run: async (count) => toRun(await mqttToPg(pool, url, count, { job: sensorJob('json', count) })),
      },
      ...formats.map((format): Variant => ({
        transport: 'mqtt',
        path: format,
        label: FORMAT_LABELS.mqtt[format],
        run: (count, tag) => {
          const name = `bench-mqtt-${format}-${runId}-${tag}`;
          return declared(name, sensorDeclaration(name, format), count, (s) =>
            mqttToPg(pool, url, count, { declared: s, job: sensorJob(wire(format), count) }),
          );
        },
      })),
      {
        transport: 'mqtt',
        path: 'sparkplug',
        label:
          'declared Sparkplug B (`sparkplug_b`: one edge node, births then DDATA by alias, seq checked, Tahu-encoded protobuf; 5 Double metrics)',
        run: (count, tag) => {
          const name = `bench-mqtt-sparkplug-${runId}-${tag}`;
          return declared(name, sensorSparkplugDeclaration(name), count, (s) =>
            mqttToPg(pool, url, count, {
              declared: s,
              job: sensorJob('sparkplug', count),
              topics: { prefix: `spBv1.0/${name}`, filter: `spBv1.0/${name}/#` },
              // The NBIRTH (the UCI data set is one device, whose first reading is its DBIRTH).
              messages: count + 1,
            }),
          );
        },
      },
    ];
    const kafkaVariants: Variant[] = [
      {
        transport: 'kafka',
        path: 'raw',
        label: 'PostgreSQL COPY of the same rows, no broker (raw limit)',
        run: async (count) => toRun(await copyRate(pool, count)),
      },
      {
        transport: 'kafka',
        path: 'fixed',
        label: 'shipped `modem` source file (strict, ranges) → ingest.modem_telemetry',
        run: async (count) => toRun(await kafkaToPg(pool, topics.json, count, { fromFirstFetch: true })),
      },
      ...formats.map((format): Variant => ({
        transport: 'kafka',
        path: format,
        label: FORMAT_LABELS.kafka[format],
        run: (count, tag) => {
          const name = `bench-kafka-${format}-${runId}-${tag}`;
          const topic = topics[wire(format)];
          return declared(name, telemetryDeclaration(name, format, topic), count, (s) =>
            kafkaToPg(pool, topic, count, { declared: s, fromFirstFetch: true }),
          );
        },
      })),
    ];
    const runs = new Map<Variant, SourcesRun[]>([...mqttVariants, ...kafkaVariants].map((v) => [v, []]));
    // Round 0 warms up (JIT, connections, broker) and is not counted.
    for (let round = 0; round <= repeats; round++) {
      const tag = round === 0 ? 'w' : String(round);
      for (const variants of [mqttVariants, kafkaVariants]) {
        for (const v of rotate(variants, round)) {
          const count = round === 0 ? warm[v.transport] : v.transport === 'mqtt' ? m : n;
          const r = await v.run(count, tag);
          if (round > 0) runs.get(v)!.push(r);
          log(`  ${round === 0 ? 'warm-up' : `round ${round}/${repeats}`} ${v.transport} ${v.path}: ${r.perSecond} rows/s`);
        }
      }
    }
    const measured: MeasuredPath[] = [...runs].map(([v, r]) => ({
      transport: v.transport,
      path: v.path,
      label: v.label,
      messages: v.transport === 'mqtt' ? m : n,
      runs: r,
    }));
    const summary = summarise(measured);
    const cpus = os.cpus();
    const context: SourcesContext = {
      startedAt: new Date(t0).toISOString(),
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      loadAverage: { start: load0, end: os.loadavg()[0]! },
      mqttMessages: m,
      kafkaRecords: n,
      repeats,
      warmupMessages: warm,
      durationSeconds: Math.round((Date.now() - t0) / 1000),
    };
    return { ...summary, context, markdown: renderSources(summary, context) };
  } finally {
    await withAdmin(brokers, (admin) => admin.deleteTopics({ topics: Object.values(topics) })).catch(() => {});
    await pool.end();
  }
}

runIfMain(import.meta.url, (arg) =>
  runSourcesBench({ mqttMessages: arg('--mqtt-messages'), kafkaRecords: arg('--records'), repeats: arg('--repeats') }),
);
