/** `ingest` commands: start, stop, pause, resume and status of the MQTT ingest stream of a source. */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { searchAttributeKeys, workflowIds } from '../config/names';
import type { Settings } from '../config/env';
import { streamStatus, type LiveStreamStatus } from '../ingest/stream-status';
import { pause, resume } from '../workflows/messages';
import type { MqttIngestInput } from '../workflows/mqtt-ingest';

/**
 * Starts the ingest workflow of `source` (idempotent: an already running stream is left as is).
 * @returns the workflow ID and whether it was started by this call.
 */
export async function startIngest(
  client: Client,
  settings: Settings,
  input: MqttIngestInput,
): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = workflowIds.mqttIngest(input.source);
  try {
    await client.workflow.start('mqttIngest', {
      workflowId,
      taskQueue: settings.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: searchAttributeKeys.PipelineName, value: 'mqtt-ingest' },
        { key: searchAttributeKeys.Source, value: input.source },
      ],
    });
    return { workflowId, started: true };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw e;
  }
}

/** Sends `pause` / `resume`, or cancels the stream (`stop`). */
export async function controlIngest(client: Client, source: string, action: 'pause' | 'resume' | 'stop', reason?: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowIds.mqttIngest(source));
  if (action === 'pause') await handle.signal(pause, reason);
  else if (action === 'resume') await handle.signal(resume);
  else await handle.cancel();
}

/** The stream's live status: the `status` query plus the running consumer's counters (see `streamStatus`). */
export async function ingestStatus(client: Client, source: string): Promise<LiveStreamStatus> {
  return streamStatus(client, workflowIds.mqttIngest(source));
}
