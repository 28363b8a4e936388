/**
 * Bench-only workflow: the launch pipeline's fetch → transform → notify shape with three ordinary
 * (non-local) activities that do nothing, so its trigger → done latency is orchestration overhead alone.
 * Deterministic code only.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { TrivialActivities } from '../trivial-activities';

/** Options of the trivial activities: 10 s per attempt, at most 3 attempts. */
export const TRIVIAL_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '100 milliseconds', maximumAttempts: 3 },
};

const { trivialFetch, trivialTransform, trivialNotify } = proxyActivities<TrivialActivities>(TRIVIAL_ACTIVITY_OPTIONS);

/** Runs the three activities in sequence and returns `seed + 1`. */
export async function trivialChain(seed = 0): Promise<number> {
  const fetched = await trivialFetch(seed);
  const transformed = await trivialTransform(fetched);
  return trivialNotify(transformed);
}
