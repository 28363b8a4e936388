/**
 * Partition assignment when members of one consumer group subscribe to different topics (one ingest
 * workflow per topic and group). kafkajs's built-in assigner hands out only the leader's topics; on the
 * real broker the member joining second (never the leader) must still get its topic and land its rows.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers } from '../src/config/env';
import { assignRoundRobin } from '../src/ingest/kafka-assigner';
import { createTopic } from '../src/ingest/kafka-client';
import { KafkaBatchConsumer } from '../src/ingest/kafka-consumer';
import { encodeTelemetry } from '../src/simulator/payloads';
import { produceRaw } from '../src/simulator/kafka-producer';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';

const pool = testPool();
const brokers = kafkaBrokers();

afterAll(async () => {
  await pool.end();
});

describe('subscription-aware round-robin assignment', () => {
  it('gives a partition only to members subscribed to its topic, spreading evenly otherwise', () => {
    const mixed = assignRoundRobin(
      new Map([
        ['m-a', ['x']],
        ['m-b', ['y']],
        ['m-c', ['x', 'y']],
      ]),
      new Map([
        ['x', [0, 1, 2]],
        ['y', [1, 0]],
      ]),
    );
    expect(Object.fromEntries(mixed)).toEqual({ 'm-a': { x: [0, 2] }, 'm-c': { x: [1], y: [1] }, 'm-b': { y: [0] } });
    const same = assignRoundRobin(
      new Map([
        ['m-2', ['t']],
        ['m-1', ['t']],
      ]),
      new Map([['t', [0, 1, 2, 3]]]),
    );
    expect(Object.fromEntries(same)).toEqual({ 'm-1': { t: [0, 2] }, 'm-2': { t: [1, 3] } });
    // A topic nobody subscribes to is not assigned.
    expect(assignRoundRobin(new Map([['m', ['t']]]), new Map([['other', [0]]])).size).toBe(0);
  });

  it(
    'on the real broker, the member joining second with another topic gets that topic and lands its rows',
    { timeout: 90_000 },
    async () => {
      const id = uniqueSuffix();
      const groupId = `assign-${id}`;
      const [first, second] = [`assign-a-${id}`, `assign-b-${id}`];
      await createTopic(brokers, first, 2);
      await createTopic(brokers, second, 3);
      const record = (deviceId: string) => ({
        key: deviceId,
        value: encodeTelemetry({
          deviceId,
          eventTime: Date.UTC(2024, 4, 1),
          model: 'RUT955',
          interface: 'wan',
          interfaceStatus: 'up',
          cpuUsage: 12,
          memoryUsage: 40,
        }),
      });
      await produceRaw(brokers, first, [record('modem-a')]);
      await produceRaw(brokers, second, [record('modem-b')]);
      const leader = new KafkaBatchConsumer(pool, { brokers, groupId, topic: first, source: `${first}`, clientId: `a-${id}` });
      const joiner = new KafkaBatchConsumer(pool, { brokers, groupId, topic: second, source: `${second}`, clientId: `b-${id}` });
      try {
        await leader.start();
        await waitFor('the first member to own its topic', () => Promise.resolve(leader.assigned.length === 2), 30_000, 100);
        await joiner.start();
        await waitFor(
          'both members to own their topics after the rebalance',
          () => Promise.resolve(joiner.assigned.length === 3 && leader.assigned.length === 2),
          45_000,
          100,
        ).catch((e: unknown) => {
          throw new Error(`${String(e)}: first member owns ${JSON.stringify(leader.assigned)}, second ${JSON.stringify(joiner.assigned)}`);
        });
        expect(joiner.assigned).toEqual([0, 1, 2]);
        expect(leader.assigned).toEqual([0, 1]);
        await waitFor(
          'a row from each topic',
          async () => {
            const r = await pool.query<{ source: string }>('SELECT source FROM ingest.modem_telemetry WHERE source = ANY($1)', [
              [first, second],
            ]);
            return r.rows.length === 2;
          },
          30_000,
        );
      } finally {
        await joiner.stop();
        await leader.stop();
      }
    },
  );
});
