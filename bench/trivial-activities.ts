/**
 * Bench-only activities for the trivial fetch → transform → notify chain: they do nothing but return,
 * so a run measures orchestration overhead alone.
 */

/** Activities of `trivialChain` (bench/workflows/trivial-chain.ts). */
export interface TrivialActivities {
  /** Returns `n` unchanged. */
  trivialFetch(n: number): Promise<number>;
  /** Returns `n + 1`. */
  trivialTransform(n: number): Promise<number>;
  /** Returns `n` unchanged. */
  trivialNotify(n: number): Promise<number>;
}

/** Builds the no-op activities. */
export function createTrivialActivities(): TrivialActivities {
  return {
    trivialFetch: (n) => Promise.resolve(n),
    trivialTransform: (n) => Promise.resolve(n + 1),
    trivialNotify: (n) => Promise.resolve(n),
  };
}
