/**
 * Telegraf itself as the producer of line protocol (issue 16), on the real stack: Telegraf 1.37.2
 * (built once per machine by src/stack/telegraf.ts with only the plugins used here) runs `--once` with
 * its own `inputs.cpu` and `inputs.mem` metrics and a replay of the real UCI Occupancy test file
 * (`inputs.file`, CSV parser), and sends them with `data_format = "influx"`:
 *
 * - cpu over `outputs.mqtt` to `telegraf/<host>/cpu` → the shipped `sources/telegraf-cpu.yaml`;
 * - mem and cpu over `outputs.kafka` to the topic `telegraf` → the shipped `sources/telegraf-mem.yaml`
 *   (its `namepass: [mem]` skips the cpu lines);
 * - the occupancy replay over `outputs.mqtt` with `layout = "batch"` (many lines per message) to
 *   `telegraf/<host>/occupancy` → a source file written by this test.
 *
 * The same metrics go to two `outputs.file`: line protocol and Telegraf's own JSON serializer. The
 * test reads both without the project's parser (a plain split of the line protocol, `JSON.parse`),
 * checks they agree, and then that each table holds exactly the rows Telegraf sent: the count, every
 * mapped value and the event time to the µs, and that nothing was dead-lettered.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { publishRaw } from '../src/simulator/sensor-replay';
import { applySources, streamsOf } from '../src/sources/apply';
import { loadSources, type LoadedSource } from '../src/sources/load';
import { ensureTelegraf, TELEGRAF_VERSION, type TelegrafBinary } from '../src/stack/telegraf';
import { testPool, uniqueSuffix } from './support/db';
import { runToExit, waitFor, type FinishedProcess } from './support/processes';
import { endStreams, sourceWorkerOptions, stopStream } from './support/sources';
import { withWorker } from './support/temporal';

const pool = testPool();
const KAFKA = process.env.TEST_KAFKA !== '0';
const shipped = loadSources(path.join(ROOT_DIR, 'sources'));
/** The replayed data set: UCI Occupancy's test file (2,665 readings, data/uci-occupancy/SOURCE.md). */
const OCCUPANCY_FILE = path.join(ROOT_DIR, 'data', 'uci-occupancy', 'datatest.txt');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'telegraf-influx-'));
const dropTables: string[] = [];
const watchers: mqtt.MqttClient[] = [];
let telegraf: TelegrafBinary;

beforeAll(async () => {
  // Built here on a machine without it, once: 4.7 min on 2 cores from nothing (445 MB of Go modules fetched), 1.6 min with the modules cached.
  telegraf = await ensureTelegraf(loadSettings().stackDir, (m) => console.log(`[telegraf] ${m}`));
}, 30 * 60_000);

afterAll(async () => {
  for (const w of watchers) await w.endAsync();
  for (const t of dropTables) await pool.query(`DROP TABLE IF EXISTS ingest."${t}"`);
  await pool.end();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A metric as Telegraf's JSON serializer writes it (`json_timestamp_units = "1us"`). */
interface JsonMetric {
  name: string;
  tags: Record<string, string>;
  fields: Record<string, number>;
  /** µs since the epoch. */
  timestamp: number;
}

/**
 * One line of Telegraf's line protocol file, read with a plain split: enough for these metrics (no
 * escapes, no string fields), which is checked, so the project's parser is not tested against itself.
 */
function splitLine(line: string): JsonMetric {
  if (/[\\"]/.test(line)) throw new Error(`a line the plain split cannot read: ${line}`);
  const parts = line.split(' ');
  if (parts.length !== 3) throw new Error(`not measurement,tags fields timestamp: ${line}`);
  const [head, fieldSet, ns] = parts as [string, string, string];
  const [name, ...tagPairs] = head.split(',');
  const pair = (p: string) => p.split('=') as [string, string];
  if (!ns.endsWith('000')) throw new Error(`a timestamp finer than the µs: ${line}`);
  return {
    name: name!,
    tags: Object.fromEntries(tagPairs.map(pair)),
    fields: Object.fromEntries(
      fieldSet
        .split(',')
        .map((p) => pair(p))
        .map(([k, v]) => [k, Number(v.replace(/[iu]$/, ''))]),
    ),
    timestamp: Number(ns.slice(0, -3)),
  };
}

const sortKey = (m: JsonMetric) => `${m.name}|${JSON.stringify(Object.entries(m.tags).sort())}|${String(m.timestamp).padStart(20, '0')}`;
const sorted = (ms: JsonMetric[]) => [...ms].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));

/** Rows of `sql`. */
async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(sql, params)).rows as T[];
}

/** Rows of `ingest.<table>` for devices matching `devicePattern` (LIKE). */
async function countRows(table: string, devicePattern: string): Promise<number> {
  const [r] = await rows<{ n: string }>(`SELECT count(*) AS n FROM ingest."${table}" WHERE device_id LIKE $1`, [devicePattern]).catch(
    () => [{ n: '0' }],
  );
  return Number(r!.n);
}

/** What a failed Telegraf run or a missing row shows: the command line and Telegraf's output. */
function telegrafReport(run: FinishedProcess | undefined): string {
  if (!run) return 'Telegraf has not run';
  return `Telegraf: \`${run.commandLine}\` exited ${run.signal ?? run.code} after ${run.ms} ms; its output:\n${run.output}`;
}

/** The agent's configuration: the inputs, the outputs to the brokers, and the two file outputs (the record of what was sent). */
function telegrafConfig(host: string, files: { lp: string; json: string }): string {
  const { hostname, port } = new URL(mqttUrl());
  const str = JSON.stringify;
  return [
    '[agent]',
    `  hostname = ${str(host)}`,
    '  omit_hostname = false',
    // No timed flush during the run: each output writes full batches as they fill, then the rest at the end.
    '  flush_interval = "10m"',
    '  debug = true',
    '',
    '[[inputs.cpu]]',
    '  percpu = true',
    '  totalcpu = true',
    '[[inputs.mem]]',
    '[[inputs.file]]',
    `  files = [${str(OCCUPANCY_FILE)}]`,
    '  name_override = "occupancy"',
    '  data_format = "csv"',
    '  csv_header_row_count = 1',
    '  csv_timestamp_column = "Date"',
    '  csv_timestamp_format = "2006-01-02 15:04:05"',
    '  csv_timezone = "UTC"',
    '',
    // As README "Connect your own devices" shows it: one message per metric, topic telegraf/<host>/cpu.
    '[[outputs.mqtt]]',
    `  servers = [${str(`tcp://${hostname}:${port}`)}]`,
    '  topic = "telegraf/{{ .Hostname }}/{{ .PluginName }}"',
    '  qos = 1',
    '  keep_alive = 30',
    '  namepass = ["cpu"]',
    '  data_format = "influx"',
    // The replay: every metric of a flush on one topic in one message (each under the 64 KiB limit).
    '[[outputs.mqtt]]',
    `  servers = [${str(`tcp://${hostname}:${port}`)}]`,
    '  topic = "telegraf/{{ .Hostname }}/occupancy"',
    '  layout = "batch"',
    '  metric_batch_size = 250',
    '  qos = 1',
    '  keep_alive = 30',
    '  namepass = ["occupancy"]',
    '  data_format = "influx"',
    ...(KAFKA
      ? [
          '[[outputs.kafka]]',
          `  brokers = [${kafkaBrokers()
            .map((b) => str(b))
            .join(', ')}]`,
          '  topic = "telegraf"',
          '  namepass = ["mem", "cpu"]',
          '  data_format = "influx"',
        ]
      : []),
    '[[outputs.file]]',
    `  files = [${str(files.lp)}]`,
    '  data_format = "influx"',
    '[[outputs.file]]',
    `  files = [${str(files.json)}]`,
    '  data_format = "json"',
    '  json_timestamp_units = "1us"',
    '',
  ].join('\n');
}

/** The occupancy source, as a user would write its file: the UCI columns Telegraf's CSV parser turned into fields. */
function occupancyFile(name: string): string {
  return `# UCI Occupancy replayed by Telegraf (inputs.file, CSV parser), line protocol over MQTT, many lines a message
name: ${name}
mqtt:
  topic: telegraf/{host}/occupancy
format: { type: influx, namepass: [occupancy] }
device_id: { field: tags.host }
event_time: { field: timestamp, format: epoch_ms }
measurements:
  temperature: { field: fields.Temperature, unit: degC }
  humidity: { field: fields.Humidity, unit: percent, range: [0, 100] }
  light: { field: fields.Light, unit: lux }
  co2: { field: fields.CO2, unit: ppm }
  humidity_ratio: { field: fields.HumidityRatio, unit: kg/kg }
  occupancy: { field: fields.Occupancy, type: bigint, description: 0/1 ground truth }
`;
}

const US = `(extract(epoch FROM event_time) * 1000000)::bigint::text AS us`;

describe('Telegraf as a producer of line protocol', () => {
  it(
    `Telegraf ${TELEGRAF_VERSION}'s own cpu and mem metrics and a replayed UCI Occupancy file land as Telegraf sent them, over MQTT and Kafka`,
    { timeout: 300_000 },
    async () => {
      const suffix = uniqueSuffix();
      const host = `tg-${suffix}`;
      const probe = `probe-${suffix}`;
      const name = `telegraf-occupancy-${suffix}`;
      const table = name.replaceAll('-', '_');
      dropTables.push(table);
      const sourcesDir = path.join(work, 'sources');
      fs.mkdirSync(sourcesDir, { recursive: true });
      fs.writeFileSync(path.join(sourcesDir, `${name}.yaml`), occupancyFile(name));
      const occupancy = loadSources(sourcesDir).get(name)!;
      const cpuSource = shipped.get('telegraf-cpu')!;
      const memSource = shipped.get('telegraf-mem')!;
      const sources: LoadedSource[] = [cpuSource, occupancy, ...(KAFKA ? [memSource] : [])];
      if (KAFKA) await createTopic(kafkaBrokers(), 'telegraf', 3).catch(() => undefined);

      let run: FinishedProcess | undefined;
      await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
        await endStreams(client, sources);
        const applied = await applySources(new Map(sources.map((s) => [s.name, s])), { client, pool, taskQueue });
        expect(applied.map((r) => r.error)).toEqual(sources.map(() => undefined));
        try {
          // Line protocol probes until one lands in each MQTT source: the consumers' persistent sessions then exist.
          let k = 0;
          const nowNs = () => `${BigInt(Date.now()) * 1_000_000n + BigInt(k++)}`;
          await waitFor(
            'the MQTT consumers to subscribe',
            async () => {
              await publishRaw(mqttUrl(), [
                { topic: `telegraf/${probe}/cpu`, payload: `cpu,cpu=cpu0,host=${probe} usage_idle=1 ${nowNs()}` },
                { topic: `telegraf/${probe}/occupancy`, payload: `occupancy,host=${probe} Temperature=20 ${nowNs()}` },
              ]);
              return (await countRows('telegraf_cpu', `${probe}/%`)) > 0 && (await countRows(table, probe)) > 0;
            },
            120_000,
            1000,
          );

          // A plain subscriber of the replay's topic counts the messages and their lines, as Telegraf sent them.
          const wire: string[][] = [];
          const watcher = await mqtt.connectAsync(mqttUrl(), { clientId: `watch-${suffix}`, clean: true });
          watchers.push(watcher);
          watcher.on('message', (_topic, payload) => wire.push(payload.toString('utf8').split('\n').filter(Boolean)));
          await watcher.subscribeAsync(`telegraf/${host}/occupancy`, { qos: 1 });

          // Telegraf, once: two gathers of cpu (usage is a difference), one of mem and of the file, then every output flushed.
          const files = { lp: path.join(work, 'sent.lp'), json: path.join(work, 'sent.json') };
          const conf = path.join(work, 'telegraf.conf');
          fs.writeFileSync(conf, telegrafConfig(host, files));
          run = await runToExit(telegraf.bin, ['--config', conf, '--once'], { timeoutMs: 120_000 });
          if (run.code !== 0) throw new Error(telegrafReport(run));
          console.log(`[telegraf] --once ran in ${run.ms} ms`);

          // What Telegraf sent, read twice without the project's parser; the two records agree.
          const lines = fs.readFileSync(files.lp, 'utf8').split('\n').filter(Boolean);
          const json = fs
            .readFileSync(files.json, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as JsonMetric);
          expect(sorted(lines.map(splitLine))).toEqual(sorted(json));
          const sent = (m: string) => sorted(json.filter((x) => x.name === m && x.tags.host === host));
          const cpu = sent('cpu');
          const mem = sent('mem');
          const occ = sent('occupancy');
          // Every reading of the data set was replayed; the cpu metrics are per core and the total; mem once.
          const csv = parse<Record<string, string>>(fs.readFileSync(OCCUPANCY_FILE), { columns: true });
          expect(occ.length).toBe(csv.length);
          expect(occ[0]!.fields).toEqual({
            Temperature: Number(csv[0]!.Temperature),
            Humidity: Number(csv[0]!.Humidity),
            Light: Number(csv[0]!.Light),
            CO2: Number(csv[0]!.CO2),
            HumidityRatio: Number(csv[0]!.HumidityRatio),
            Occupancy: Number(csv[0]!.Occupancy),
          });
          expect(occ[0]!.timestamp).toBe(Date.parse(`${csv[0]!.Date!.replace(' ', 'T')}Z`) * 1000);
          expect(cpu.map((m) => m.tags.cpu)).toContain('cpu-total');
          expect(cpu.length).toBeGreaterThanOrEqual(2);
          expect(mem.length).toBe(1);
          expect(json.length).toBe(cpu.length + mem.length + occ.length);

          const landed = async (t: string, pattern: string, n: number) => {
            await waitFor(`${n} rows in ingest.${t}`, async () => (await countRows(t, pattern)) >= n, 90_000, 250).catch((e: unknown) => {
              throw new Error(`${String(e)} (${n} sent); ${telegrafReport(run)}`);
            });
          };

          // cpu over MQTT, one message per metric: every row, each mapped field, the cpu tag and the time.
          await landed('telegraf_cpu', `${host}/%`, cpu.length);
          const cpuRows = await rows<Record<string, unknown>>(
            `SELECT device_id, ${US}, cpu, usage_user, usage_system, usage_idle, usage_iowait, attributes
               FROM ingest.telegraf_cpu WHERE device_id LIKE $1`,
            [`${host}/%`],
          );
          const byDevice = (a: Record<string, unknown>, b: Record<string, unknown>) => (String(a.device_id) < String(b.device_id) ? -1 : 1);
          expect(cpuRows.sort(byDevice)).toEqual(
            cpu
              .map((m) => ({
                device_id: `${host}/${m.tags.cpu}`,
                us: String(m.timestamp),
                cpu: m.tags.cpu,
                usage_user: m.fields.usage_user,
                usage_system: m.fields.usage_system,
                usage_idle: m.fields.usage_idle,
                usage_iowait: m.fields.usage_iowait,
                // Documented: the undeclared top-level key and the unused topic segment.
                attributes: { measurement: 'cpu', host },
              }))
              .sort(byDevice),
          );

          // The replay over MQTT, many lines a message: all 2,665 readings with every value.
          await landed(table, host, occ.length);
          const occRows = await rows<Record<string, unknown>>(
            `SELECT ${US}, temperature, humidity, light, co2, humidity_ratio, occupancy::text AS occupancy, attributes
               FROM ingest."${table}" WHERE device_id = $1 ORDER BY event_time`,
            [host],
          );
          expect(occRows).toEqual(
            occ.map((m) => ({
              us: String(m.timestamp),
              temperature: m.fields.Temperature,
              humidity: m.fields.Humidity,
              light: m.fields.Light,
              co2: m.fields.CO2,
              humidity_ratio: m.fields.HumidityRatio,
              occupancy: String(m.fields.Occupancy),
              attributes: { measurement: 'occupancy', host },
            })),
          );
          // On the wire (a second subscriber): Telegraf's batch layout sent many lines a message, 250 a flush at most.
          await waitFor('the replay on the wire', () => wire.reduce((a, m) => a + m.length, 0) >= occ.length, 30_000, 100);
          expect(wire.reduce((a, m) => a + m.length, 0)).toBe(occ.length);
          expect(wire.length).toBe(Math.ceil(occ.length / 250));
          expect(Math.max(...wire.map((m) => m.length))).toBe(250);

          if (KAFKA) {
            // mem over Kafka on the shared topic; the cpu lines beside it are skipped by namepass, not dead-lettered.
            await landed('telegraf_mem', host, 1);
            const memRows = await rows<Record<string, unknown>>(
              `SELECT ${US}, total::text AS total, available::text AS available, used::text AS used, used_percent
                 FROM ingest.telegraf_mem WHERE device_id = $1`,
              [host],
            );
            expect(memRows).toEqual(
              mem.map((m) => ({
                us: String(m.timestamp),
                total: String(m.fields.total),
                available: String(m.fields.available),
                used: String(m.fields.used),
                used_percent: m.fields.used_percent,
              })),
            );
          }
          // Nothing Telegraf sent was dead-lettered (its lines name the host).
          const [dead] = await rows<{ n: string; reason: string | null }>(
            `SELECT count(*) AS n, min(reason) AS reason FROM ingest.dead_letters
              WHERE source = ANY($1) AND position($2 IN convert_from(payload, 'UTF8')) > 0`,
            [sources.map((s) => s.name), host],
          );
          expect(dead).toEqual({ n: '0', reason: null });
        } finally {
          for (const s of sources) for (const w of streamsOf(s)) await stopStream(client, w.workflowId);
        }
      });
    },
  );
});
