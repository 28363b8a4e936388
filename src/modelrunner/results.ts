/**
 * Node results that need no database (errors, skips). Pure: also imported by workflow code.
 */
import type { NodeResult, NodeStatus } from './types';

/** Statuses after which downstream nodes are skipped: `error`, test `fail`, `skipped`. */
export const FAILED_STATUSES: readonly NodeStatus[] = ['error', 'fail', 'skipped'];

/** True when `status` blocks the node's downstream (see {@link FAILED_STATUSES}). */
export function isFailedStatus(status: NodeStatus): boolean {
  return FAILED_STATUSES.includes(status);
}

/** An `error` or `skipped` {@link NodeResult} (no timing: nothing was built). */
export function failedResult(uniqueId: string, status: 'error' | 'skipped', message: string, threadId = 'Thread-1'): NodeResult {
  return {
    unique_id: uniqueId,
    status,
    timing: [],
    thread_id: threadId,
    execution_time: 0,
    message,
    adapter_response: {},
    compiled_code: null,
    relation_name: null,
    failures: null,
  };
}
