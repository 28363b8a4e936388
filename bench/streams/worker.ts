/**
 * A worker process with only the stream workflows and activities (MQTT, Kafka, lake), for the stream
 * tests that kill worker processes and for the streams benchmark. Addresses come from the environment
 * like every command (TASK_QUEUE, DATABASE_URL, MQTT_URL, KAFKA_BROKERS). Run:
 * `node --import tsx bench/streams/worker.ts`. Prints `ready` once polling.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createKafkaIngestActivities } from '../../src/activities/kafka-ingest';
import { createLakeActivities } from '../../src/activities/lake-export';
import { createMqttIngestActivities } from '../../src/activities/mqtt-ingest';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR } from '../../src/config/env';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { WORKER_TUNING } from '../../src/workers/worker';

/** Workflow bundle of the stream worker. */
export const STREAM_WORKFLOWS_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows.ts');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const settings = loadSettings();
  const pool = createPool(databaseUrl(settings), 20);
  await migrate(pool);
  const connection = await NativeConnection.connect({ address: settings.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: settings.temporalNamespace,
    taskQueue: settings.taskQueue,
    workflowsPath: STREAM_WORKFLOWS_PATH,
    activities: {
      ...createMqttIngestActivities({ pool, mqttUrl: mqttUrl(settings) }),
      ...createKafkaIngestActivities({ pool, kafkaBrokers: kafkaBrokers(settings) }),
      ...createLakeActivities({ pool, lakeDir: process.env.LAKE_DIR ?? path.join(ROOT_DIR, 'lake') }),
    },
    ...WORKER_TUNING,
  });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const running = worker.run();
  console.log('ready');
  await running;
  await connection.close();
  await pool.end();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
