/**
 * The devices of the MQTT benchmarks, in their own process (as real devices are, so the consumer being
 * measured does not share its event loop with them). Publishes with QoS 1 and a bounded number of
 * unacknowledged PUBLISHes, one of two jobs:
 *
 * - `readings`: `count` synthetic sensor readings (the wire format of `src/simulator/payloads.ts`, 100
 *   devices, one second apart) to `<prefix>/d<i % 100>`, at most {@link PUBLISH_WINDOW} in flight;
 * - `dataset`: a real sensor data set (`src/simulator/sensor-files.ts`) replayed `rounds` times with
 *   event times shifted by its span ({@link shiftedCopies}) through the project's own simulator
 *   (`replayReadings`, topic `sensors/<source>/<device>`);
 * - `dataset-copies`: the first `count` readings of a real data set's shifted copies to
 *   `<prefix>/<device>`, each as its JSON reading (`encodeReading`), as one CSV line (`sensorCsvLine`,
 *   bench/sources/payloads.ts), as one line of line protocol (`sensorInfluxLine`), or as Sparkplug B
 *   (`sensorSparkplugMessages`: births first, then data by alias; `<prefix>` is `spBv1.0/<group_id>`),
 *   at most {@link PUBLISH_WINDOW} in flight.
 *
 * Protocol on stdio: prepares the messages (and, for `readings` and `dataset-copies`, connects), prints `ready`, waits for a
 * line `go` on stdin, publishes, prints `done <ms>` (publish time, first PUBLISH to last PUBACK), exits.
 * Run: `node --import tsx bench/mqtt-publisher.ts '<job as JSON>'`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mqttSecurity } from '../src/config/mqtt-security';
import mqtt from 'mqtt';
import { encodeReading } from '../src/simulator/payloads';
import { loadDataset, type DeviceReading, type SensorDataset } from '../src/simulator/sensor-files';
import { replayReadings } from '../src/simulator/sensor-replay';
import { sensorCsvLine, sensorInfluxLine, sensorSparkplugMessages } from './sources/payloads';

/** Unacknowledged QoS 1 PUBLISHes a `readings` or `dataset-copies` job keeps in flight. */
export const PUBLISH_WINDOW = 1000;

/** What a publisher process sends. */
export type PublisherJob =
  | { kind: 'readings'; url: string; prefix: string; count: number }
  | { kind: 'dataset'; url: string; source: string; dataset: SensorDataset; rounds: number; window: number }
  | {
      kind: 'dataset-copies';
      url: string;
      prefix: string;
      dataset: SensorDataset;
      count: number;
      format: 'json' | 'csv' | 'influx' | 'sparkplug';
    };

/** `rounds` copies of `rows`, each shifted by the data set's span (+1 min) so no two copies share a key. */
export function shiftedCopies(rows: readonly DeviceReading[], rounds: number): DeviceReading[] {
  if (!rows.length) return [];
  const span = rows[rows.length - 1]!.eventTime - rows[0]!.eventTime + 60_000;
  const out: DeviceReading[] = [];
  for (let k = 0; k < rounds; k++) for (const r of rows) out.push({ ...r, eventTime: r.eventTime + k * span });
  return out;
}

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');

/** A publisher process that is ready and waits for {@link StartedPublisher.go}. */
export interface StartedPublisher {
  /** Starts publishing; resolves with the publisher's own publish time, ms, once it has finished. */
  go(): Promise<number>;
}

/**
 * Spawns a publisher process for `job` and waits until it is ready.
 * @throws Error when the process exits or says something else than `ready` / `done <ms>`.
 */
export async function startPublisher(job: PublisherJob): Promise<StartedPublisher> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, JSON.stringify(job)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`MQTT bench publisher exited with ${code}`));
      child.once('exit', onExit);
      lines.once('line', (l) => {
        child.removeListener('exit', onExit);
        resolve(l);
      });
    });
  // A publisher that failed or was never started must not outlive the bench.
  const fail = (e: Error): never => {
    child.kill('SIGKILL');
    throw e;
  };
  const first = await next().catch(fail);
  if (first !== 'ready') fail(new Error(`MQTT bench publisher said ${JSON.stringify(first)} instead of ready`));
  const guard = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
  guard.unref();
  return {
    async go() {
      const done = next();
      child.stdin.write('go\n');
      const line = await done.catch(fail);
      clearTimeout(guard);
      const m = /^done (\d+(?:\.\d+)?)$/.exec(line);
      if (!m) fail(new Error(`MQTT bench publisher said ${JSON.stringify(line)}`));
      return Number(m![1]);
    },
  };
}

/** Prepares `job` and returns the function that publishes it. */
async function prepare(job: PublisherJob): Promise<() => Promise<void>> {
  if (job.kind === 'dataset') {
    const readings = shiftedCopies(loadDataset(job.dataset), job.rounds);
    return async () => {
      await replayReadings({ url: job.url, source: job.source, readings, window: job.window, clientId: `bench-pub-${job.source}` });
    };
  }
  const pub = await mqtt.connectAsync(job.url, { ...mqttSecurity(), clientId: `bench-pub-${process.pid}-${Date.now()}`, clean: true });
  let topics: string[];
  let payloads: Array<string | Buffer>;
  if (job.kind === 'dataset-copies') {
    const rows = loadDataset(job.dataset);
    const readings = shiftedCopies(rows, Math.ceil(job.count / Math.max(1, rows.length))).slice(0, job.count);
    if (job.format === 'sparkplug') {
      const messages = sensorSparkplugMessages(readings, job.prefix);
      topics = messages.map((m) => m.topic);
      payloads = messages.map((m) => Buffer.from(m.payload));
    } else {
      topics = readings.map((r) => `${job.prefix}/${r.deviceId}`);
      const encode = { json: encodeReading, csv: sensorCsvLine, influx: sensorInfluxLine }[job.format];
      payloads = readings.map((r) => encode(r));
    }
  } else {
    const start = Date.UTC(2024, 0, 1);
    topics = Array.from({ length: job.count }, (_, i) => `${job.prefix}/d${i % 100}`);
    payloads = Array.from({ length: job.count }, (_, i) =>
      encodeReading({
        deviceId: `d${i % 100}`,
        eventTime: start + i * 1000,
        temperature: 20,
        humidity: 40,
        light: null,
        co2: 400,
        humidityRatio: null,
      }),
    );
  }
  return async () => {
    const inflight = new Set<Promise<unknown>>();
    for (let i = 0; i < payloads.length; i++) {
      const p = pub.publishAsync(topics[i]!, payloads[i]!, { qos: 1 }).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= PUBLISH_WINDOW) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await pub.endAsync();
  };
}

async function main(job: PublisherJob): Promise<void> {
  const publish = await prepare(job);
  const rl = readline.createInterface({ input: process.stdin });
  console.log('ready');
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  const t0 = performance.now();
  await publish();
  console.log(`done ${(performance.now() - t0).toFixed(1)}`);
  rl.close();
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  let job: PublisherJob | undefined;
  try {
    job = JSON.parse(process.argv[2] ?? '') as PublisherJob;
  } catch {
    job = undefined;
  }
  if (!job || (job.kind !== 'readings' && job.kind !== 'dataset' && job.kind !== 'dataset-copies')) {
    console.error(
      `usage: mqtt-publisher.ts '{"kind":"readings","url":…,"prefix":…,"count":N}' | '{"kind":"dataset",…}' | '{"kind":"dataset-copies",…}'`,
    );
    process.exit(2);
  }
  main(job).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
