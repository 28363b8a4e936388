/**
 * Workflow queries from clients (CLI, dashboard, tests) that outlast a worker restart. Right after the
 * worker holding a workflow dies, the server can answer a query with FAILED_PRECONDITION ("no poller
 * seen for task queue recently, worker may be down"): its sticky queue is gone and the task-queue
 * partition the query lands on has not seen the new worker's pollers yet. That is transient while any
 * worker polls, so the query is retried for a bounded time.
 */
import { ServiceError, type WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';

/** gRPC status code FAILED_PRECONDITION (grpc/doc/statuscodes.md). */
const GRPC_FAILED_PRECONDITION = 9;

/** How long a query is retried while the server says no worker is polling. @default 20 s */
export const QUERY_NO_POLLER_RETRY_MS = 20_000;

function noPoller(e: unknown): boolean {
  const cause = e instanceof ServiceError ? (e.cause as { code?: number } | undefined) : undefined;
  return cause?.code === GRPC_FAILED_PRECONDITION;
}

/**
 * `handle.query(def, ...args)`, retried every 250 ms for up to `retryMs` while the server answers
 * FAILED_PRECONDITION (no poller seen recently).
 * @throws the last error when no worker answers within `retryMs`, and any other error at once.
 */
export async function queryWorkflow<R, A extends unknown[]>(
  handle: WorkflowHandle,
  def: QueryDefinition<R, A>,
  args: A,
  retryMs: number = QUERY_NO_POLLER_RETRY_MS,
): Promise<R> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await handle.query(def, ...args);
    } catch (e) {
      if (!noPoller(e) || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
