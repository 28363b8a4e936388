/** `status`: recent pipeline runs, the ingest streams' state and the schedules. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Settings } from '../config/env';
import { describeTemporalConnection } from '../config/temporal-connection';
import { DATASET_FILES } from '../simulator/sensor-files';
import { ingestStatus } from './ingest';

/** Prints recent workflow runs (with status), each known stream's `status` query and every schedule. */
export async function showStatus(client: Client, settings: Settings, limit = 15): Promise<void> {
  console.log(`Temporal ${describeTemporalConnection(settings)}, UI http://127.0.0.1:${settings.temporalUiPort}`);
  console.log('\nRecent runs:');
  let n = 0;
  for await (const wf of client.workflow.list()) {
    console.log(`  ${wf.status.name.padEnd(11)} ${wf.type.padEnd(16)} ${wf.workflowId}  started ${wf.startTime.toISOString()}`);
    if (++n >= limit) break;
  }
  if (!n) console.log('  (none)');
  console.log('\nIngest streams:');
  for (const source of Object.keys(DATASET_FILES)) {
    try {
      const s = await ingestStatus(client, source);
      console.log(
        `  ${source}: ${s.state}, ${s.committed} committed, ${s.inserted} inserted, ${s.duplicates} duplicates, ${s.deadLettered} dead-lettered${s.lastError ? `, last error: ${s.lastError}` : ''}`,
      );
    } catch (e) {
      if (e instanceof WorkflowNotFoundError)
        console.log(`  ${source}: not started (start it with \`iot-pipelines ingest start ${source}\`)`);
      else console.log(`  ${source}: status query failed (${(e as Error).message}); is a worker running? (\`iot-pipelines worker\`)`);
    }
  }
  console.log('\nSchedules:');
  let m = 0;
  for await (const sch of client.schedule.list()) {
    const next = sch.info.nextActionTimes[0];
    console.log(`  ${sch.scheduleId}${sch.state.paused ? ' (paused)' : ''}  next ${next ? next.toISOString() : '-'}`);
    m++;
  }
  if (!m) console.log('  (none; run `iot-pipelines schedules apply`)');
}
