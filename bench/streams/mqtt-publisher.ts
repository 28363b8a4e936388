/**
 * The devices of the MQTT benchmarks, in their own process (as real devices are): publishes `count`
 * sensor readings (the wire format of `src/ingest/reading.ts`, 100 devices, one second apart) with
 * QoS 1 and at most 1,000 unacknowledged PUBLISHes, to `<prefix>/d<i % 100>`.
 *
 * Protocol on stdio: connects, prints `ready`, waits for a line `go` on stdin, publishes, prints
 * `done <ms>` (publish time, first PUBLISH to last PUBACK) and exits.
 * Run: `node --import tsx bench/streams/mqtt-publisher.ts <mqtt-url> <topic-prefix> <count>`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { encodeReading } from '../../src/ingest/reading';

/** Unacknowledged QoS 1 PUBLISHes the publisher keeps in flight. */
export const PUBLISH_WINDOW = 1000;

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..', '..');

/** A publisher process that has connected and waits for {@link StartedPublisher.go}. */
export interface StartedPublisher {
  /** Starts publishing; resolves with the publisher's own publish time, ms, when it has finished. */
  go(): Promise<number>;
}

/**
 * Spawns the publisher process and waits until it is connected.
 * @throws Error when the process exits before it is ready or after it was started without `done`.
 */
export async function startPublisher(url: string, topicPrefix: string, count: number): Promise<StartedPublisher> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, url, topicPrefix, String(count)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
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
  const first = await next();
  if (first !== 'ready') throw new Error(`MQTT bench publisher said ${JSON.stringify(first)} instead of ready`);
  return {
    async go() {
      const done = next();
      child.stdin.write('go\n');
      const line = await done;
      const m = /^done (\d+(?:\.\d+)?)$/.exec(line);
      if (!m) throw new Error(`MQTT bench publisher said ${JSON.stringify(line)}`);
      return Number(m[1]);
    },
  };
}

async function main(url: string, prefix: string, count: number): Promise<void> {
  const pub = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}-${Date.now()}`, clean: true });
  const start = Date.UTC(2024, 0, 1);
  const payloads = Array.from({ length: count }, (_, i) =>
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
  const rl = readline.createInterface({ input: process.stdin });
  console.log('ready');
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const p = pub.publishAsync(`${prefix}/d${i % 100}`, payloads[i]!, { qos: 1 }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= PUBLISH_WINDOW) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  console.log(`done ${(performance.now() - t0).toFixed(1)}`);
  rl.close();
  await pub.endAsync();
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const [url, prefix, count] = process.argv.slice(2);
  if (!url || !prefix || !(Number(count) > 0)) {
    console.error('usage: mqtt-publisher.ts <mqtt-url> <topic-prefix> <count>');
    process.exit(2);
  }
  main(url, prefix, Number(count)).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
