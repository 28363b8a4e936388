/**
 * Runs a DAG of nodes with bounded parallelism: a node starts when all its parents succeeded; when a
 * parent failed or was skipped, the node is skipped; independent branches keep running.
 *
 * Pure and deterministic (no I/O, no clocks, no Node built-ins): used both by the direct runner and
 * inside the `buildModels` workflow. Nodes are started in the order given, so give a topological order.
 */

/** What the scheduler needs of a node. */
export interface DagNode {
  uniqueId: string;
  /** Parents inside the same DAG. */
  dependsOn: string[];
}

/** Outcome of one node. */
export type DagOutcome<R> =
  | { status: 'success'; value: R }
  | { status: 'error'; error: unknown }
  /** `cause`: the failed or skipped parent. */
  | { status: 'skipped'; cause: string };

/**
 * Runs `nodes` with at most `maxParallel` `run` calls at once.
 * @param maxParallel at least 1.
 * @param isFailure a resolved value that still blocks the node's downstream (e.g. a failing test);
 *   such a node keeps its `success` outcome, its descendants are skipped. @default never
 * @returns outcome per unique ID, in the order of `nodes`.
 * @throws Error when a node depends on an ID that is not in `nodes` (caller bug).
 */
export async function runDag<N extends DagNode, R>(
  nodes: N[],
  maxParallel: number,
  run: (node: N) => Promise<R>,
  isFailure?: (value: R) => boolean,
): Promise<Map<string, DagOutcome<R>>> {
  const ids = new Set(nodes.map((n) => n.uniqueId));
  for (const n of nodes) {
    const missing = n.dependsOn.filter((d) => !ids.has(d));
    if (missing.length > 0) throw new Error(`runDag: ${n.uniqueId} depends on ${missing.join(', ')}, which is not in the plan`);
  }
  const limit = Math.max(1, Math.floor(maxParallel));
  const outcomes = new Map<string, DagOutcome<R>>();
  const running = new Map<string, Promise<void>>();
  let pending = [...nodes];

  while (pending.length > 0 || running.size > 0) {
    let changed = true;
    while (changed) {
      changed = false;
      const still: N[] = [];
      for (const n of pending) {
        const bad = n.dependsOn.find((d) => {
          const o = outcomes.get(d);
          return (
            o?.status === 'error' || o?.status === 'skipped' || (o?.status === 'success' && isFailure !== undefined && isFailure(o.value))
          );
        });
        if (bad !== undefined) {
          outcomes.set(n.uniqueId, { status: 'skipped', cause: bad });
          changed = true;
          continue;
        }
        const ready = n.dependsOn.every((d) => outcomes.get(d)?.status === 'success');
        if (ready && running.size < limit) {
          const p = run(n).then(
            (value) => void outcomes.set(n.uniqueId, { status: 'success', value }),
            (error: unknown) => void outcomes.set(n.uniqueId, { status: 'error', error }),
          );
          running.set(
            n.uniqueId,
            p.then(() => void running.delete(n.uniqueId)),
          );
          continue;
        }
        still.push(n);
      }
      pending = still;
    }
    if (running.size === 0) {
      if (pending.length > 0) throw new Error(`runDag: cannot schedule ${pending.map((n) => n.uniqueId).join(', ')} (cycle?)`);
      break;
    }
    await Promise.race(running.values());
  }
  return new Map(nodes.map((n) => [n.uniqueId, outcomes.get(n.uniqueId) as DagOutcome<R>]));
}
