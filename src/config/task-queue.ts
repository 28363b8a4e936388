/**
 * The default task queue, on its own so that reading settings (src/config/env.ts) does not load the
 * Temporal SDK: the light commands (`models`, `--help`) start without `@temporalio/*`.
 */

/** The one task queue all workflows and activities of this project run on. */
export const TASK_QUEUE = 'iot-pipelines';
