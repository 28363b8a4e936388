/**
 * Workflow interceptors (bundled with the workflow code: scripts/build.mjs, src/workers/worker.ts) that
 * report each workflow run's start and end to the worker's `lineage` sink, which turns the runs of
 * pipelines into OpenLineage run events (src/observability/lineage.ts). Sinks are not commands: they
 * leave the history unchanged and are not called on replay, so this is deterministic.
 */
import {
  ContinueAsNew,
  isCancellation,
  proxySinks,
  type Next,
  type Sinks,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

/** The sink the worker registers (`lineageSinks` in src/workers/lineage-sink.ts). */
export interface LineageSinks extends Sinks {
  lineage: {
    /** The run started (its workflow info is the sink's first argument, added by the SDK). */
    runStarted(): void;
    /** The run ended: `COMPLETE` (continued-as-new included), `FAIL` with the error, or `ABORT` (cancelled). */
    runEnded(outcome: 'COMPLETE' | 'FAIL' | 'ABORT', error?: string): void;
  };
}

const { lineage } = proxySinks<LineageSinks>();

class LineageInbound implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    lineage.runStarted();
    try {
      const result = await next(input);
      lineage.runEnded('COMPLETE');
      return result;
    } catch (e) {
      if (e instanceof ContinueAsNew) lineage.runEnded('COMPLETE');
      else if (isCancellation(e)) lineage.runEnded('ABORT');
      else lineage.runEnded('FAIL', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }
}

/** The interceptors of this module. */
export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new LineageInbound()] });
