/**
 * Node results that need no database (errors, skips). Pure: also imported by workflow code.
 */
import type { NodeResult } from './types';

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
