/** What activities read from their Temporal context for lineage. */
import { Context } from '@temporalio/activity';

/**
 * The run id of the workflow that scheduled the running activity: the lineage id derived rows carry
 * (`workflow_run_id` columns). Undefined outside an activity (a function called from a test or the CLI).
 */
export function workflowRunId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.runId;
  } catch {
    return undefined; // not in an activity
  }
}
