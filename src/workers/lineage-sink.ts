/**
 * The worker side of the workflow lineage interceptors (src/workflows/lineage-interceptors.ts): the
 * `lineage` sink turns the start and end of each pipeline run (a workflow of `PIPELINE_WORKFLOWS`) into
 * OpenLineage run events (src/observability/lineage.ts). Registered by every worker whose workflow
 * code carries the interceptors; a no-op when lineage is off. Not called on replay.
 */
import type { InjectedSinks } from '@temporalio/worker';
import { lineageFromEnv, PIPELINE_WORKFLOWS, runEvent, type LineageSink } from '../observability/lineage';
import type { LineageSinks } from '../workflows/lineage-interceptors';

/** The `lineage` sink emitting to `sink` (default: `OPENLINEAGE_URL` / `OPENLINEAGE_FILE`). */
export function lineageSinks(sink: LineageSink | undefined = lineageFromEnv()): InjectedSinks<LineageSinks> {
  const traced = (type: string) => sink !== undefined && PIPELINE_WORKFLOWS.includes(type);
  return {
    lineage: {
      runStarted: {
        fn: (info) => {
          if (!traced(info.workflowType)) return;
          void sink!.emit(
            runEvent({ eventType: 'START', runId: info.runId, job: info.workflowType, jobType: 'WORKFLOW', eventTime: info.runStartTime }),
          );
        },
        callDuringReplay: false,
      },
      runEnded: {
        fn: (info, outcome, error) => {
          if (!traced(info.workflowType)) return;
          void sink!.emit(
            runEvent({ eventType: outcome, runId: info.runId, job: info.workflowType, jobType: 'WORKFLOW', ...(error ? { error } : {}) }),
          );
        },
        callDuringReplay: false,
      },
    },
  };
}
