/**
 * Stage 3 (graph): the DAG of models, seeds and tests from `ref()` (sources are roots outside the
 * graph), cycle detection, a deterministic topological order, node selection (dbt's syntax, see
 * {@link selectNodes}; https://docs.getdbt.com/reference/node-selection/syntax) and run plans.
 */
import { CycleError, SelectionError } from './errors';
import type { Manifest, NodeStatus, PlannedNode, ResourceType } from './types';

/** The DAG of models, seeds and tests. */
export interface Graph {
  manifest: Manifest;
  /** Node unique IDs in a topological order (parents first; ties by unique ID). */
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
  if (cycle)
    throw new CycleError(
      cycle,
      cycle.map((id) => manifest.nodes[id]?.name ?? id),
    );

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

/** Options of {@link selectNodes}. */
export interface SelectOptions {
  /** Selectors removed from the selection (same syntax). @default [] */
  exclude?: string[];
  /** Keep only these resource types (after selection). @default every type */
  resourceTypes?: ResourceType[];
  /**
   * Statuses of the previous run by unique ID, for `result:<status>` selectors (read from
   * `target/run_results.json` by the callers).
   */
  previousResults?: Record<string, NodeStatus>;
  /** Add the tests of selected nodes (dbt's eager indirect selection). @default true */
  indirectTests?: boolean;
}

/** One selector atom: `[n]+<method:value>+[n]` or `@x`. */
interface Atom {
  at: boolean;
  /** Generations of ancestors (Infinity for a bare `+`), 0 for none. */
  up: number;
  down: number;
  base: string;
}

const ATOM = /^(@)?(?:(\d*)\+)?(.+?)(?:\+(\d*))?$/;

function parseAtom(sel: string): Atom {
  const m = ATOM.exec(sel);
  if (!m || !m[3]) throw new SelectionError(sel, `selector '${sel}' is not valid`);
  const depth = (plus: string | undefined, digits: string | undefined) => (plus === undefined ? 0 : digits ? Number(digits) : Infinity);
  const upDigits = m[2];
  const downDigits = m[4];
  return {
    at: m[1] === '@',
    up: depth(upDigits === undefined ? undefined : '+', upDigits),
    down: depth(sel.endsWith('+') || downDigits ? '+' : undefined, downDigits),
    base: m[3],
  };
}

function walkEdges(starts: string[], edges: (id: string) => string[], depth: number): Set<string> {
  const out = new Set<string>();
  let frontier = starts;
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const n of edges(id)) {
        if (!out.has(n)) {
          out.add(n);
          next.push(n);
        }
      }
    }
    frontier = next;
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );
}

function matchBase(graph: Graph, base: string, opts: SelectOptions): string[] {
  const nodes = Object.values(graph.manifest.nodes);
  const colon = base.indexOf(':');
  const method = colon > 0 ? base.slice(0, colon) : '';
  const value = colon > 0 ? base.slice(colon + 1) : base;
  switch (method) {
    case 'tag':
      return nodes.filter((n) => n.tags.includes(value)).map((n) => n.unique_id);
    case 'path': {
      const p = value.replace(/\/+$/, '');
      return nodes.filter((n) => n.original_file_path === p || n.original_file_path.startsWith(`${p}/`)).map((n) => n.unique_id);
    }
    case 'resource_type':
      return nodes.filter((n) => n.resource_type === value).map((n) => n.unique_id);
    case 'test_type':
      return nodes
        .filter(
          (n) =>
            n.resource_type === 'test' &&
            (value === 'generic' ? n.test_metadata !== undefined : value === 'singular' ? n.test_metadata === undefined : false),
        )
        .map((n) => n.unique_id);
    case 'test_name':
      return nodes.filter((n) => n.test_metadata?.name === value).map((n) => n.unique_id);
    case 'source': {
      const [s, t] = value.split('.');
      return Object.values(graph.manifest.sources)
        .filter((x) => x.source_name === s && (t === undefined || t === '*' || x.name === t))
        .map((x) => x.unique_id);
    }
    case 'result': {
      const prev = opts.previousResults;
      if (!prev) throw new SelectionError(base, `selector '${base}' needs the previous run's run_results.json`);
      return Object.entries(prev)
        .filter(([id, status]) => status === value && graph.manifest.nodes[id] !== undefined)
        .map(([id]) => id);
    }
    case 'fqn':
    case '': {
      const re = globToRegExp(value);
      return nodes
        .filter(
          (n) =>
            re.test(n.name) ||
            n.unique_id === value ||
            n.fqn.join('.') === value ||
            (method === 'fqn' && n.fqn.slice(0, value.split('.').length).join('.') === value),
        )
        .map((n) => n.unique_id);
    }
    default:
      if (method.startsWith('config.')) {
        const key = method.slice('config.'.length);
        return nodes
          .filter((n) => {
            const v = (n.config as unknown as Record<string, unknown>)[key];
            const scalar = (x: unknown) => (typeof x === 'object' && x !== null ? JSON.stringify(x) : `${x as string | number | boolean}`);
            return Array.isArray(v) ? v.map(scalar).includes(value) : v !== undefined && scalar(v) === value;
          })
          .map((n) => n.unique_id);
      }
      throw new SelectionError(base, `selector method '${method}:' is not supported`);
  }
}

function parentsOf(graph: Graph, id: string): string[] {
  return graph.manifest.parent_map[id] ?? graph.parents.get(id) ?? [];
}

function childrenOf(graph: Graph, id: string): string[] {
  return graph.manifest.child_map[id] ?? graph.children.get(id) ?? [];
}

/** Nodes of one selector string: whitespace = union, comma = intersection. */
function resolveSelectors(graph: Graph, selectors: string[], opts: SelectOptions, requireMatch: boolean): Set<string> {
  const out = new Set<string>();
  for (const union of selectors.flatMap((s) => s.split(/\s+/)).filter((s) => s !== '')) {
    let acc: Set<string> | undefined;
    for (const sel of union.split(',').filter((s) => s !== '')) {
      const atom = parseAtom(sel);
      const matched = matchBase(graph, atom.base, opts);
      if (matched.length === 0 && requireMatch && !atom.base.startsWith('result:')) {
        throw new SelectionError(sel, `selector '${sel}' matches no model, seed or test`);
      }
      const set = new Set(matched);
      const down = walkEdges(matched, (id) => childrenOf(graph, id), atom.at ? Infinity : atom.down);
      down.forEach((x) => set.add(x));
      walkEdges(matched, (id) => parentsOf(graph, id), atom.up).forEach((x) => set.add(x));
      // @x: x, its descendants and every ancestor of those descendants.
      if (atom.at) walkEdges([...down, ...matched], (id) => parentsOf(graph, id), Infinity).forEach((x) => set.add(x));
      acc = acc === undefined ? set : new Set([...acc].filter((x) => set.has(x)));
    }
    acc?.forEach((x) => out.add(x));
  }
  return out;
}

function addIndirectTests(graph: Graph, chosen: Set<string>): void {
  for (const node of Object.values(graph.manifest.nodes)) {
    if (node.resource_type !== 'test' || chosen.has(node.unique_id)) continue;
    if (node.depends_on.nodes.some((p) => chosen.has(p))) chosen.add(node.unique_id);
  }
}

/**
 * Unique IDs selected by `selectors`, in topological order (sources are never returned).
 *
 * Syntax (dbt's node selection): `name`, a unique ID or a glob (`stg_*`); `+x` ancestors, `x+`
 * descendants, `2+x` / `x+1` limited to n generations, `@x`; methods `tag:`, `path:`, `fqn:`,
 * `resource_type:`, `config.<key>:` (e.g. `config.materialized:incremental`), `source:<s>[.<t>]`,
 * `test_type:generic|singular`, `test_name:`, `result:<status>` (with `previousResults`). Several
 * selectors, or space-separated ones, are a union; comma-separated ones (`tag:a,config.materialized:view`)
 * an intersection. Tests of selected nodes are added (eager indirect selection), also to `exclude`.
 * @param selectors empty or undefined selects every node.
 * @throws SelectionError when a selector matches nothing (except `result:`) or is malformed.
 */
export function selectNodes(graph: Graph, selectors?: string[], opts: SelectOptions = {}): string[] {
  const parts = (selectors ?? []).flatMap((s) => s.split(/\s+/)).filter((s) => s !== '');
  const chosen = parts.length === 0 ? new Set(graph.order) : resolveSelectors(graph, parts, opts, true);
  if (opts.indirectTests ?? true) addIndirectTests(graph, chosen);
  const excludeParts = (opts.exclude ?? []).flatMap((s) => s.split(/\s+/)).filter((s) => s !== '');
  if (excludeParts.length > 0) {
    const excluded = resolveSelectors(graph, excludeParts, opts, false);
    if (opts.indirectTests ?? true) addIndirectTests(graph, excluded);
    excluded.forEach((x) => chosen.delete(x));
  }
  const types = opts.resourceTypes;
  return graph.order.filter((id) => chosen.has(id) && (!types || types.includes(graph.manifest.nodes[id]?.resource_type as ResourceType)));
}

/** Options of {@link planNodes}. */
export interface PlanOptions {
  /**
   * `build` semantics: a node also waits for the tests of its parents, and is skipped when one of
   * them fails (dbt build). @default false
   */
  testsBlockChildren?: boolean;
}

/**
 * The run plan of `selected` (from {@link selectNodes}): each executable node (ephemeral models are
 * inlined, never run) with the nodes inside the plan it waits for. Parents through ephemeral models
 * count; parents outside the plan are assumed built already.
 */
export function planNodes(graph: Graph, selected: string[], opts: PlanOptions = {}): PlannedNode[] {
  const nodes = graph.manifest.nodes;
  const isEphemeral = (id: string) => nodes[id]?.config.materialized === 'ephemeral';
  const runnable = selected.filter((id) => !isEphemeral(id));
  const inPlan = new Set(runnable);
  const effectiveParents = (id: string): string[] => {
    const out = new Set<string>();
    const todo = [...(graph.parents.get(id) ?? [])];
    const seen = new Set<string>();
    while (todo.length > 0) {
      const p = todo.pop() as string;
      if (seen.has(p)) continue;
      seen.add(p);
      if (isEphemeral(p)) todo.push(...(graph.parents.get(p) ?? []));
      else out.add(p);
    }
    return [...out];
  };
  const ancestorsCache = new Map<string, Set<string>>();
  const ancestors = (id: string): Set<string> => {
    let a = ancestorsCache.get(id);
    if (!a) {
      a = walkEdges([id], (x) => graph.parents.get(x) ?? [], Infinity);
      ancestorsCache.set(id, a);
    }
    return a;
  };
  return runnable.map((id) => {
    const node = nodes[id];
    if (!node) throw new SelectionError(id, `${id} is not in the manifest`);
    const parents = effectiveParents(id);
    const deps = new Set(parents.filter((p) => inPlan.has(p)));
    if (opts.testsBlockChildren && node.resource_type !== 'test') {
      for (const p of parents) {
        for (const t of graph.children.get(p) ?? []) {
          if (inPlan.has(t) && nodes[t]?.resource_type === 'test' && !ancestors(t).has(id)) deps.add(t);
        }
      }
    }
    return {
      uniqueId: id,
      name: node.name,
      resourceType: node.resource_type,
      dependsOn: [...deps],
      materialized: node.config.materialized,
    };
  });
}
