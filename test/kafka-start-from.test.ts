/**
 * `streams start kafka:<group>:<topic> --from latest` (Kafka's auto.offset.reset=latest) on the real
 * stack: records already in the topic are left alone, records produced after the stream started land,
 * and the starting positions are pinned in PostgreSQL at the first start only: a restart skips nothing,
 * and a partition added while the stream was down is read from its beginning.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafkaIngestActivities } from '../src/activities/kafka-ingest';
import { kafkaBrokers, ROOT_DIR } from '../src/config/env';
import { createTopic, withAdmin } from '../src/ingest/kafka-client';
import { encodeTelemetry } from '../src/simulator/payloads';
import { produceRaw } from '../src/simulator/kafka-producer';
import { WORKER_TUNING } from '../src/workers/worker';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import { testPool, uniqueSuffix } from './support/db';
import { spawnCli, waitFor } from './support/processes';
import { withWorker } from './support/temporal';

const pool = testPool();
const brokers = kafkaBrokers();
afterAll(async () => {
  await pool.end();
});

const record = (i: number) => ({
  key: `modem-${i % 2}`,
  value: encodeTelemetry({
    deviceId: `modem-${i % 2}`,
    eventTime: Date.UTC(2024, 4, 1) + i * 1000,
    model: 'RUT240',
    interface: 'lte',
    interfaceStatus: 'up',
    cpuUsage: i,
    memoryUsage: 10,
  }),
});

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawnCli(args, env);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, child.output()).toBe(0);
  return child.output();
}

describe('Kafka stream starting from latest', () => {
  it('skips what was in the topic before it started and lands what came after, across a restart', { timeout: 120_000 }, async () => {
    const id = uniqueSuffix();
    const topic = `from-latest-${id}`;
    const group = `g-${id}`;
    const source = `latest-${id}`;
    await createTopic(brokers, topic, 2);
    await produceRaw(brokers, topic, [0, 1, 2, 3, 4].map(record)); // before the stream exists
    const count = async () =>
      (
        await pool.query<{ cpu: number }>('SELECT cpu_usage AS cpu FROM ingest.modem_telemetry WHERE source = $1 ORDER BY cpu_usage', [
          source,
        ])
      ).rows.map((r) => r.cpu);
    const pinned = async () =>
      (await pool.query('SELECT 1 FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2', [group, topic])).rowCount === 2;
    await withWorker(
      {
        workflowsPath: path.join(ROOT_DIR, 'src/workflows/kafka-ingest.ts'),
        activities: createKafkaIngestActivities({ pool, kafkaBrokers: brokers }),
        ...WORKER_TUNING,
      },
      async ({ client, taskQueue }) => {
        const start = () =>
          cli(['streams', 'start', `kafka:${group}:${topic}`, '--from', 'latest', '--kind', 'modem', '--source', source], {
            TASK_QUEUE: taskQueue,
          });
        expect(await start()).toContain(`Started ${kafkaIngestWorkflowId(group, topic)}.`);
        await waitFor('the starting positions pinned', pinned, 30_000);
        await produceRaw(brokers, topic, [5, 6, 7].map(record));
        await waitFor('the three new records', async () => (await count()).length >= 3, 30_000);

        // Restart: stop the stream and wait until its consumer has left the group, add a partition and
        // produce while it is down, start again (still --from latest): nothing is skipped, the new
        // partition is read from its beginning.
        const handle = client.workflow.getHandle(kafkaIngestWorkflowId(group, topic));
        await handle.terminate('restart');
        await waitFor(
          'the consumer to leave the group',
          () => withAdmin(brokers, async (admin) => (await admin.describeGroups([group])).groups[0]!.members.length === 0),
          60_000,
          500,
        );
        await withAdmin(brokers, (admin) => admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }));
        const later = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
        await produceRaw(
          brokers,
          topic,
          later.map((i) => ({ ...record(i), key: `k-${i}` })),
        );
        expect(await start()).toContain('Started');
        await waitFor('the records produced while it was down', async () => (await count()).length >= 3 + later.length, 30_000);
        await new Promise((r) => setTimeout(r, 2_000));
        expect(await count()).toEqual([5, 6, 7, ...later]);
        const positions = await pool.query<{ partition: number; next_offset: string }>(
          'SELECT partition, next_offset FROM ingest.kafka_offsets WHERE group_id = $1 AND topic = $2 ORDER BY partition',
          [group, topic],
        );
        expect(positions.rows.map((r) => r.partition)).toEqual([0, 1, 2]);
        expect(Number(positions.rows[2]!.next_offset)).toBeGreaterThan(0);
        await client.workflow.getHandle(kafkaIngestWorkflowId(group, topic)).terminate('test done');
      },
    );
  });
});
