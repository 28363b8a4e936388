/**
 * The orchestration-latency investigation: the trivial chain on PRIVATE dev servers (port 17233, never
 * the shared one) under candidate server dynamic config / storage, worker options and client options.
 * The machine is shared and noisy, so every candidate is measured in `passes` separate blocks (the
 * server matrix is walked `passes` times; the worker/client variants are interleaved on one server) and
 * the runs of all blocks are pooled; the per-block p50s are reported too.
 */
import type { WorkerOptions } from '@temporalio/worker';
import { WORKER_TUNING } from '../src/workers/worker';
import { startPrivateDevServer, type PrivateDevServerOptions } from './dev-server';
import { summarizeBreakdowns, type RunBreakdown } from './history-breakdown';
import { runTrivialChainBench } from './latency';
import { round, summarize } from './stats';

/** One server configuration (a fresh dev server each). */
export interface ServerVariant extends Pick<PrivateDevServerOptions, 'dynamicConfig' | 'sqliteFile' | 'sqlitePragmas'> {
  name: string;
}

/** One client/worker candidate. */
export interface ClientVariant {
  name: string;
  workerOptions?: Partial<WorkerOptions>;
  eagerStart?: boolean;
  clientTransport?: 'grpc-js' | 'native';
}

/** One measured candidate (pooled over passes). */
export interface ExperimentRow {
  group: 'server' | 'worker/client';
  server: string;
  client: string;
  runs: number;
  p50: number;
  p95: number;
  max: number;
  /** p50 of each pass, ms. */
  passP50: number[];
  /** Medians per occurrence, ms, from the histories. */
  wftScheduleToStartP50: number;
  wftStartToCompleteP50: number;
  activityScheduleToStartP50: number;
  activityStartToCompleteP50: number;
  serverTotalP50: number;
  error?: string;
}

const EAGER_ACT = { 'system.enableActivityEagerExecution': true };
const FAST_TRANSFER = { 'history.transferProcessorMaxPollRPS': 1000 };
const ONE_PARTITION = { 'matching.numTaskqueueReadPartitions': 1, 'matching.numTaskqueueWritePartitions': 1 };
const EAGER_WF = { 'system.enableEagerWorkflowStart': true };
const WAL = { journal_mode: 'WAL', synchronous: 'NORMAL' };

/** Server candidates, each measured with the project's `WORKER_TUNING`. */
export const SERVER_VARIANTS: ServerVariant[] = [
  { name: 'defaults, in-memory', dynamicConfig: {} },
  { name: 'eager activities, SQLite file (= current stack)', dynamicConfig: EAGER_ACT, sqliteFile: true },
  { name: 'eager activities, in-memory', dynamicConfig: EAGER_ACT },
  {
    name: 'eager act. + transferProcessorMaxPollRPS=1000, SQLite file',
    dynamicConfig: { ...EAGER_ACT, ...FAST_TRANSFER },
    sqliteFile: true,
  },
  {
    name: 'eager act. + transferProcessorMaxPollRPS=1000 + 1 TQ partition, SQLite file',
    dynamicConfig: { ...EAGER_ACT, ...FAST_TRANSFER, ...ONE_PARTITION },
    sqliteFile: true,
  },
  {
    name: 'eager act. + transferProcessorMaxPollRPS=1000 + 1 TQ partition, SQLite file WAL + synchronous=NORMAL',
    dynamicConfig: { ...EAGER_ACT, ...FAST_TRANSFER, ...ONE_PARTITION },
    sqliteFile: true,
    sqlitePragmas: WAL,
  },
  {
    name: 'eager act. + transferProcessorMaxPollRPS=1000 + 1 TQ partition, in-memory',
    dynamicConfig: { ...EAGER_ACT, ...FAST_TRANSFER, ...ONE_PARTITION },
  },
];

/** Server the worker/client candidates run on (the recommended one, plus eager workflow start enabled). */
export const CLIENT_SERVER: ServerVariant = {
  name: 'recommended server (SQLite WAL) + enableEagerWorkflowStart',
  dynamicConfig: { ...EAGER_ACT, ...FAST_TRANSFER, ...ONE_PARTITION, ...EAGER_WF },
  sqliteFile: true,
  sqlitePragmas: WAL,
};

/** Worker/client candidates. */
export const CLIENT_VARIANTS: ClientVariant[] = [
  { name: 'WORKER_TUNING (project)', workerOptions: WORKER_TUNING },
  { name: 'SDK default worker options', workerOptions: {} },
  { name: 'WORKER_TUNING + requestEagerStart (client on the worker NativeConnection)', workerOptions: WORKER_TUNING, eagerStart: true },
  { name: 'WORKER_TUNING, client on NativeConnection (no eager start)', workerOptions: WORKER_TUNING, clientTransport: 'native' },
  { name: 'maxCachedWorkflows=0 (no sticky queue)', workerOptions: { ...WORKER_TUNING, maxCachedWorkflows: 0 } },
  {
    name: 'workflowTaskPollerBehavior simple-maximum 20, nonStickyToStickyPollRatio 1',
    workerOptions: { ...WORKER_TUNING, workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: 20 }, nonStickyToStickyPollRatio: 1 },
  },
  {
    name: 'workflow + activity pollers autoscaling',
    workerOptions: {
      ...WORKER_TUNING,
      workflowTaskPollerBehavior: { type: 'autoscaling' },
      activityTaskPollerBehavior: { type: 'autoscaling' },
    },
  },
  { name: 'stickyQueueScheduleToStartTimeout=1s', workerOptions: { ...WORKER_TUNING, stickyQueueScheduleToStartTimeout: '1 second' } },
];

interface Acc {
  group: ExperimentRow['group'];
  server: string;
  client: string;
  latencies: number[];
  breakdowns: RunBreakdown[];
  passP50: number[];
  error?: string;
}

function toRow(a: Acc): ExperimentRow {
  const s = summarize(a.latencies);
  const b = summarizeBreakdowns(a.breakdowns);
  return {
    group: a.group,
    server: a.server,
    client: a.client,
    runs: s.n,
    p50: round(s.p50),
    p95: round(s.p95),
    max: round(s.max),
    passP50: a.passP50.map((x) => round(x)),
    wftScheduleToStartP50: b.phases.wftScheduleToStart.each.p50,
    wftStartToCompleteP50: b.phases.wftStartToComplete.each.p50,
    activityScheduleToStartP50: b.phases.activityScheduleToStart.each.p50,
    activityStartToCompleteP50: b.phases.activityStartToComplete.each.p50,
    serverTotalP50: b.serverTotal.p50,
    ...(a.error ? { error: a.error } : {}),
  };
}

/**
 * Runs the investigation (about 4 minutes with the defaults).
 * @param stackDir folder holding the Temporal CLI
 */
export async function runExperiments(
  stackDir: string,
  o: { warmup?: number; runs?: number; passes?: number; log?: (m: string) => void } = {},
): Promise<ExperimentRow[]> {
  const log = o.log ?? console.log;
  const passes = o.passes ?? 2;
  const runs = o.runs ?? 20;
  const perPass = Math.max(5, Math.ceil(runs / passes));
  const accs = new Map<string, Acc>();
  const measure = async (group: Acc['group'], server: ServerVariant, client: ClientVariant, address: string, namespace: string) => {
    const key = `${server.name}|${client.name}`;
    const acc = accs.get(key) ?? { group, server: server.name, client: client.name, latencies: [], breakdowns: [], passP50: [] };
    accs.set(key, acc);
    try {
      const r = await runTrivialChainBench({
        address,
        namespace,
        workerOptions: client.workerOptions,
        eagerStart: client.eagerStart,
        clientTransport: client.clientTransport,
        warmup: o.warmup,
        runs: perPass,
      });
      acc.latencies.push(...r.latenciesMs);
      acc.breakdowns.push(...r.runBreakdowns);
      acc.passP50.push(r.summary.p50);
      log(`  [experiments] ${server.name} | ${client.name}: p50 ${r.summary.p50} ms, p95 ${r.summary.p95} ms`);
    } catch (e) {
      acc.error = (e as Error).message;
      log(`  [experiments] ${server.name} | ${client.name}: FAILED ${acc.error}`);
    }
  };
  const withServer = async (server: ServerVariant, fn: (address: string, namespace: string) => Promise<void>) => {
    const dev = await startPrivateDevServer({
      stackDir,
      dynamicConfig: server.dynamicConfig,
      sqliteFile: server.sqliteFile,
      sqlitePragmas: server.sqlitePragmas,
    });
    try {
      await fn(dev.address, dev.namespace);
    } finally {
      await dev.stop();
    }
  };
  for (let pass = 1; pass <= passes; pass++) {
    log(`  [experiments] pass ${pass}/${passes}: server variants`);
    for (const server of SERVER_VARIANTS) {
      await withServer(server, (address, ns) => measure('server', server, CLIENT_VARIANTS[0]!, address, ns));
    }
  }
  log(`  [experiments] worker/client variants on one server, ${passes} interleaved passes`);
  await withServer(CLIENT_SERVER, async (address, ns) => {
    for (let pass = 1; pass <= passes; pass++) {
      for (const client of CLIENT_VARIANTS) await measure('worker/client', CLIENT_SERVER, client, address, ns);
    }
  });
  return [...accs.values()].map(toRow);
}
