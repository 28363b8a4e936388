/**
 * PostgreSQL outage mid-ingest: a separate embedded PostgreSQL (never the shared one) is stopped for
 * 30 s while a Kafka stream ingests into it. Consumers stop committing, back off, the workflow status
 * says why the stream waits, and after the restart every record lands exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { kafkaBrokers, loadSettings } from '../src/config/env';
import { migrate } from '../src/db/migrate';
import { createPool, type Pool } from '../src/db/pool';
import { createTopic } from '../src/ingest/kafka-client';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import { status } from '../src/workflows/messages';
import { uniqueSuffix } from './support/db';
import { startSeparatePostgres, type SeparatePostgres } from './support/postgres';
import { killHard, spawnStreamWorker, waitFor } from './support/processes';
import { recordHistory } from './support/temporal';

const settings = loadSettings();
const brokers = kafkaBrokers();

describe('PostgreSQL outage', () => {
  let pg: SeparatePostgres | undefined;
  afterAll(async () => {
    await pg?.remove();
  });

  it(
    'stops committing while PostgreSQL is down for 30 s, says why, and lands every record exactly once after',
    { timeout: 240_000 },
    async () => {
      pg = await startSeparatePostgres('outage-pg-');
      const { server, url } = pg;
      let pool: Pool = createPool(url, 3);
      await migrate(pool);

      const id = uniqueSuffix();
      const topic = `telemetry-outage-${id}`;
      const groupId = `outage-${id}`;
      const source = `modem-outage-${id}`;
      const total = 30_000;
      await createTopic(brokers, topic, 4);
      const taskQueue = `test-outage-${id}`;
      const worker = await spawnStreamWorker({ TASK_QUEUE: taskQueue, DATABASE_URL: url });
      const connection = await Connection.connect({ address: settings.temporalAddress });
      const client = new Client({ connection });
      const workflowId = kafkaIngestWorkflowId(groupId, topic);
      const handle = await client.workflow.start('kafkaIngest', {
        workflowId,
        taskQueue,
        args: [{ topic, groupId, source, kind: 'modem', members: 1, runForMs: 60_000 }],
      });
      const count = async () =>
        Number(
          (await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [source])).rows[0]?.n,
        );
      try {
        const producing = produceTelemetry({ brokers, topic, count: total, devices: 300, rate: 500, startTime: Date.UTC(2024, 5, 1) });
        await waitFor('a first part of the records', async () => (await count()) >= 3_000, 60_000, 200);
        await pool.end();
        await server.stop();
        const downAt = Date.now();
        // While it is down: the stream says why it waits (query, from the consumer run that returned).
        await waitFor(
          'the status to say why the stream waits',
          async () => /database unavailable/.test((await handle.query(status)).waitingReason ?? ''),
          28_000,
          500,
        ).catch((e: unknown) => {
          throw new Error(`${String(e)}; worker exit ${worker.exitCode}; worker output:\n${worker.output().slice(-3000)}`);
        });
        const waiting = await handle.query(status);
        expect(waiting.state).toBe('running');
        await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - downAt))));
        await server.start();
        pool = createPool(url, 3);
        await producing;
        await waitFor('every record', async () => (await count()) >= total, 120_000, 500).catch(async (e: unknown) => {
          throw new Error(`${String(e)}; ${await count()} of ${total}; worker output:\n${worker.output().slice(-3000)}`);
        });
        await new Promise((r) => setTimeout(r, 2_000));
        const r = await pool.query<{ n: string; k: string }>(
          'SELECT count(*) AS n, count(DISTINCT (device_id, interface, event_time)) AS k FROM ingest.modem_telemetry WHERE source = $1',
          [source],
        );
        expect(Number(r.rows[0]!.n)).toBe(total);
        expect(Number(r.rows[0]!.k)).toBe(total);
        const b = await pool.query<{ m: string }>('SELECT sum(messages - duplicates) AS m FROM ingest.batches WHERE source = $1', [source]);
        expect(Number(b.rows[0]!.m)).toBe(total);
        const o = await pool.query<{ s: string }>('SELECT sum(next_offset) AS s FROM ingest.kafka_offsets WHERE group_id = $1', [groupId]);
        expect(Number(o.rows[0]!.s)).toBe(total);
        await waitFor('the waiting reason to clear', async () => (await handle.query(status)).waitingReason === undefined, 90_000, 1000);
        console.log(`[outage] waited with: ${waiting.waitingReason}`);
        await handle.cancel();
        await handle.result().catch(() => undefined);
        await recordHistory(client, workflowId, 'kafkaIngest-postgres-outage');
      } finally {
        await handle.terminate('test done').catch(() => undefined);
        await killHard(worker);
        await pool.end().catch(() => undefined);
        await connection.close();
      }
    },
  );
});
