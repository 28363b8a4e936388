/**
 * Stage 3 (graph): the DAG of models from `ref()` (sources are roots outside the graph), cycle
 * detection, a deterministic topological order and node selection.
 *
 * Selectors (a subset of dbt's node selection, https://docs.getdbt.com/reference/node-selection/syntax):
 * `name` (or a unique ID), `+name` (with all ancestors), `name+` (with all descendants), `+name+`,
 * `tag:<tag>`, `path:<folder or file>` (relative to the project, e.g. `path:models/staging`). Several
 * selectors, or space-separated ones in one string, are a union.
 */
import { CycleError, SelectionError } from './errors';
import type { Manifest, PlannedNode } from './types';

/** The model DAG. */
export interface Graph {
  manifest: Manifest;
  /** Model unique IDs in a topological order (parents first; ties by unique ID). */
  order: string[];
  /** Model → model parents. */
  parents: Map<string, string[]>;
  /** Model → model children. */
  children: Map<string, string[]>;
}

function findCycle(ids: string[], parents: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, 'visiting');
    stack.push(id);
    // Follow ref() edges: a model refs its parents.
    for (const p of parents.get(id) ?? []) {
      const s = state.get(p);
      if (s === 'visiting') return [...stack.slice(stack.indexOf(p)), p];
      if (s === undefined) {
        const c = visit(p);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of ids) {
    if (state.get(id) === undefined) {
      const c = visit(id);
      if (c) return c;
    }
  }
  return undefined;
}

/**
 * Builds the DAG of the manifest's models.
 * @throws CycleError naming the cycle (`a -> b -> a`: a refs b, b refs a).
 */
export function buildGraph(manifest: Manifest): Graph {
  const ids = Object.keys(manifest.nodes).sort();
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of ids) {
    const ps = (manifest.nodes[id]?.depends_on.nodes ?? []).filter((p) => manifest.nodes[p] !== undefined);
    parents.set(id, ps);
    for (const p of ps) children.get(p)?.push(id);
  }
  const cycle = findCycle(ids, parents);
  if (cycle) throw new CycleError(cycle, cycle.map((id) => manifest.nodes[id]?.name ?? id));

  // Kahn's algorithm, always taking the smallest ready unique ID: same order on every run.
  const indegree = new Map(ids.map((id) => [id, parents.get(id)?.length ?? 0]));
  const ready = ids.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort();
    const id = ready.shift() as string;
    order.push(id);
    for (const c of children.get(id) ?? []) {
      const d = (indegree.get(c) ?? 0) - 1;
      indegree.set(c, d);
      if (d === 0) ready.push(c);
    }
  }
  return { manifest, order, parents, children };
}

function closure(start: string, edges: Map<string, string[]>): string[] {
  const out = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const id = todo.pop() as string;
    for (const n of edges.get(id) ?? []) {
      if (!out.has(n)) {
        out.add(n);
        todo.push(n);
      }
    }
  }
  return [...out];
}

function matchBase(graph: Graph, base: string): string[] {
  const nodes = Object.values(graph.manifest.nodes);
  if (base.startsWith('tag:')) {
    const tag = base.slice(4);
    return nodes.filter((n) => n.tags.includes(tag)).map((n) => n.unique_id);
  }
  if (base.startsWith('path:')) {
    const p = base.slice(5).replace(/\/+$/, '');
    return nodes.filter((n) => n.original_file_path === p || n.original_file_path.startsWith(`${p}/`)).map((n) => n.unique_id);
  }
  return nodes.filter((n) => n.name === base || n.unique_id === base).map((n) => n.unique_id);
}

/**
 * Unique IDs selected by `selectors`, in topological order.
 * @param selectors see the module doc; empty or undefined selects every model.
 * @throws SelectionError when a selector matches no model.
 */
export function selectNodes(graph: Graph, selectors?: string[]): string[] {
  const parts = (selectors ?? []).flatMap((s) => s.split(/\s+/)).filter((s) => s !== '');
  if (parts.length === 0) return [...graph.order];
  const chosen = new Set<string>();
  for (const sel of parts) {
    const ancestors = sel.startsWith('+');
    const descendants = sel.endsWith('+') && sel.length > 1;
    const base = sel.slice(ancestors ? 1 : 0, descendants ? -1 : undefined);
    const matched = matchBase(graph, base);
    if (matched.length === 0) throw new SelectionError(sel, `selector '${sel}' matches no model`);
    for (const id of matched) {
      chosen.add(id);
      if (ancestors) closure(id, graph.parents).forEach((x) => chosen.add(x));
      if (descendants) closure(id, graph.children).forEach((x) => chosen.add(x));
    }
  }
  return graph.order.filter((id) => chosen.has(id));
}

/**
 * The run plan of `selected` (from {@link selectNodes}): each node with its parents inside the plan.
 * Parents outside the plan are assumed built already.
 */
export function planNodes(graph: Graph, selected: string[]): PlannedNode[] {
  const inPlan = new Set(selected);
  return selected.map((id) => {
    const node = graph.manifest.nodes[id];
    if (!node) throw new SelectionError(id, `${id} is not in the manifest`);
    return {
      uniqueId: id,
      name: node.name,
      dependsOn: (graph.parents.get(id) ?? []).filter((p) => inPlan.has(p)),
      materialized: node.config.materialized,
    };
  });
}
