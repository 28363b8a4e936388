/**
 * Trigger → done latency: starts a workflow, waits for its result, repeats; then fetches the histories
 * of the measured runs for the per-phase breakdown. Also the runner of the trivial-chain bench (its own
 * worker and task queue), shared by `bench/run.ts` and the latency experiments.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { breakdownHistory, summarizeBreakdowns, type BreakdownSummary, type RunBreakdown } from './history-breakdown';
import { roundSummary, summarize, type Summary } from './stats';
import { createTrivialActivities } from './trivial-activities';
import type { trivialChain } from './workflows/trivial-chain';

/** Entry file of the bench-only workflow bundle. */
export const TRIVIAL_WORKFLOWS_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows', 'trivial-chain.ts');

/** Longest wait for one run before the bench gives up. @default 60000 ms */
export const RUN_TIMEOUT_MS = 60_000;

/** Result of {@link measureLatency}. */
export interface LatencyResult {
  /** Trigger → done of each measured run (warm-up excluded), ms. */
  latenciesMs: number[];
  summary: Summary;
  /** Per-phase breakdown from the measured runs' histories. */
  breakdown: BreakdownSummary;
  /** The breakdown of each measured run (to merge several measurements). */
  runBreakdowns: RunBreakdown[];
}

/** Options of {@link measureLatency}. */
export interface MeasureOptions {
  client: Client;
  /** Unmeasured runs first (connections, caches, JIT). @default 5 */
  warmup?: number;
  /** Measured runs. @default 20 */
  runs?: number;
  /** Starts run `i` and returns its handle (the timer starts just before this is called). */
  start: (i: number) => Promise<WorkflowHandle>;
  /** Called before run `i`, outside the timed region (e.g. clearing an output folder). */
  beforeEach?: (i: number) => Promise<void>;
  /** Checks a run's result; throw to fail the bench. */
  check?: (result: unknown, i: number) => void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Runs `warmup + runs` workflows one after another and measures each from the start call to the
 * result (client side, `performance.now()`).
 * @throws when a run fails or exceeds {@link RUN_TIMEOUT_MS}
 */
export async function measureLatency(o: MeasureOptions): Promise<LatencyResult> {
  const warmup = o.warmup ?? 5;
  const runs = o.runs ?? 20;
  const latencies: number[] = [];
  const handles: WorkflowHandle[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    await o.beforeEach?.(i);
    const t0 = performance.now();
    const handle = await o.start(i);
    const result: unknown = await withTimeout(handle.result(), RUN_TIMEOUT_MS, `workflow ${handle.workflowId}`);
    const ms = performance.now() - t0;
    o.check?.(result, i);
    if (i >= warmup) {
      latencies.push(ms);
      handles.push(handle);
    }
  }
  const breakdowns: RunBreakdown[] = [];
  for (const h of handles) breakdowns.push(breakdownHistory(await h.fetchHistory()));
  return { latenciesMs: latencies, summary: summarize(latencies), breakdown: summarizeBreakdowns(breakdowns), runBreakdowns: breakdowns };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the trivial-chain workflow once per process. */
export function trivialBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: TRIVIAL_WORKFLOWS_PATH,
    logger: {
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: (m) => console.warn(m),
      error: (m) => console.error(m),
      log: () => {},
    },
  });
  return bundle;
}

/** Options of {@link runTrivialChainBench}. */
export interface TrivialBenchOptions {
  /** Temporal frontend `host:port`. */
  address: string;
  namespace: string;
  /** Worker options on top of the task queue, bundle and activities (e.g. `WORKER_TUNING`). */
  workerOptions?: Partial<WorkerOptions>;
  /** Start with `requestEagerStart` through a client sharing the worker's NativeConnection. @default false */
  eagerStart?: boolean;
  /** Client transport: `grpc-js` (`Connection`, as the CLI) or `native` (the worker's `NativeConnection`). @default 'grpc-js' */
  clientTransport?: 'grpc-js' | 'native';
  warmup?: number;
  runs?: number;
}

/**
 * Runs the trivial chain on a fresh task queue with its own worker and measures it.
 * @throws when Temporal is unreachable or a run fails
 */
export async function runTrivialChainBench(o: TrivialBenchOptions): Promise<LatencyResult & { taskQueue: string; eagerlyStarted: number }> {
  const taskQueue = `bench-trivial-${randomUUID()}`;
  const native = await NativeConnection.connect({ address: o.address });
  let grpc: Connection | undefined;
  try {
    const worker = await Worker.create({
      connection: native,
      namespace: o.namespace,
      taskQueue,
      workflowBundle: await trivialBundle(),
      activities: createTrivialActivities(),
      ...o.workerOptions,
    });
    const useNative = o.eagerStart || o.clientTransport === 'native';
    if (!useNative) grpc = await Connection.connect({ address: o.address });
    const client = new Client({ connection: useNative ? native : grpc!, namespace: o.namespace });
    const prefix = `bench-trivial-${Date.now()}`;
    let eagerlyStarted = 0;
    const result = await worker.runUntil(
      measureLatency({
        client,
        warmup: o.warmup,
        runs: o.runs,
        start: async (i) => {
          const h = await client.workflow.start<typeof trivialChain>('trivialChain', {
            taskQueue,
            workflowId: `${prefix}-${i}`,
            args: [i],
            ...(o.eagerStart ? { requestEagerStart: true } : {}),
          });
          if (h.eagerlyStarted) eagerlyStarted++;
          return h;
        },
        check: (r, i) => {
          if (r !== i + 1) throw new Error(`trivialChain(${i}) returned ${JSON.stringify(r)}, expected ${i + 1}`);
        },
      }),
    );
    return { ...result, summary: roundSummary(result.summary), taskQueue, eagerlyStarted };
  } finally {
    await grpc?.close();
    await native.close();
  }
}
