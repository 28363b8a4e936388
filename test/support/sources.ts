/** Helpers for tests of declared sources on the real stack: a worker for their streams, ending and stopping them. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { createKafkaIngestActivities } from '../../src/activities/kafka-ingest';
import { createMqttIngestActivities } from '../../src/activities/mqtt-ingest';
import { kafkaBrokers, mqttUrl } from '../../src/config/env';
import type { Pool } from '../../src/db/pool';
import { streamsOf } from '../../src/sources/apply';
import type { LoadedSource } from '../../src/sources/load';
import { WORKER_TUNING, WORKFLOWS_PATH } from '../../src/workers/worker';

/** Worker options for the streams of declared sources: the MQTT consumers, and the Kafka ones unless `kafka` is false. */
export function sourceWorkerOptions(pool: Pool, kafka = true) {
  return {
    workflowsPath: WORKFLOWS_PATH,
    activities: {
      ...createMqttIngestActivities({ pool, mqttUrl: mqttUrl() }),
      ...(kafka ? createKafkaIngestActivities({ pool, kafkaBrokers: kafkaBrokers() }) : {}),
    },
    ...WORKER_TUNING,
  };
}

/** Ends what an earlier run of the tests left running for these sources, so apply starts them on this test's task queue. */
export async function endStreams(client: Client, sources: LoadedSource[]): Promise<void> {
  for (const s of sources) {
    for (const w of streamsOf(s)) {
      await client.workflow
        .getHandle(w.workflowId)
        .terminate('test clean-up')
        .catch((e: unknown) => {
          if (!(e instanceof WorkflowNotFoundError) && !/already completed|not found/i.test(String(e))) throw e;
        });
    }
  }
}

/** Cancels a stream and waits until it has ended, while this test's worker still runs it (else it stays running, unanswered). */
export async function stopStream(client: Client, workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  await handle.cancel().catch(() => undefined);
  await handle.result().catch(() => undefined);
}
