/**
 * How the CLI prints an error: its message, then each cause in turn with its failure type (Temporal's
 * failure classes carry the activity, the application error type, retryability and retry state), and
 * for a failed workflow the workflow id and the `temporal` command that shows its history.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/common';

/** A pipeline workflow that ended in failure (or was cancelled or terminated). */
export class PipelineRunFailedError extends Error {
  override readonly name = 'PipelineRunFailedError';
  constructor(
    readonly pipeline: string,
    readonly workflowId: string,
    readonly runId: string,
    /** The client's `WorkflowFailedError`, whose cause chain says why. */
    override readonly cause: unknown,
  ) {
    super(`${pipeline} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

function headline(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e instanceof ActivityFailure) {
    const retry = e.retryState ? `, retry state ${e.retryState}` : '';
    return `ActivityFailure: activity ${e.activityType}${e.activityId ? ` (id ${e.activityId})` : ''} failed${retry}`;
  }
  if (e instanceof ApplicationFailure) {
    const tags = [e.type, e.nonRetryable ? 'non-retryable' : undefined].filter(Boolean).join(', ');
    return `ApplicationFailure${tags ? ` [${tags}]` : ''}: ${e.message}`;
  }
  if (e instanceof TimeoutFailure) return `TimeoutFailure [${e.timeoutType}]: ${e.message}`;
  if (e instanceof ChildWorkflowFailure) return `ChildWorkflowFailure: ${e.workflowType} ${e.execution.workflowId} failed`;
  return `${e.name}: ${e.message}`;
}

/**
 * The text `iot-pipelines` prints for an error that ends a command: `error: <message>`, then one
 * `caused by` line per cause (at most 10), then where to look when a workflow failed.
 */
export function describeError(e: unknown): string {
  const lines = [`error: ${e instanceof Error ? e.message : String(e)}`];
  let cause = e instanceof Error ? e.cause : undefined;
  for (let depth = 0; cause !== undefined && cause !== null && depth < 10; depth++) {
    lines.push(`  caused by ${headline(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  if (e instanceof PipelineRunFailedError) {
    lines.push(`  workflow: ${e.workflowId} (run ${e.runId})`);
    lines.push(`  history:  temporal workflow show --workflow-id ${e.workflowId} --run-id ${e.runId}`);
  }
  return lines.join('\n');
}
