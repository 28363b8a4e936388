/**
 * The cluster section of `npm run bench` (`--only=cluster`): the same work on the dev server stack (one
 * `temporal server start-dev`, one Kafka broker) and on a cluster-mode stack started beside it (two
 * Temporal servers on PostgreSQL behind the stack's balancer, three Kafka brokers with replication
 * factor 3; src/stack/isolated.ts), each as users meet it:
 * - trigger → done latency of a three-activity chain (bench/latency.ts), client and worker in this process;
 * - Kafka → PostgreSQL ingest of a topic filled beforehand (6 partitions, modem telemetry), by 1, 2 and 3
 *   `iot-pipelines worker` processes with as many consumer-group members, from the workflow start to the
 *   last row in PostgreSQL, with the machine's CPU busy share over that time (every process of both
 *   stacks runs on this machine, so when the share is near 100 % the cores, not the workers, cap it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { databaseUrl, kafkaBrokers, ROOT_DIR, type Settings } from '../src/config/env';
import { createTopic } from '../src/ingest/kafka-client';
import { produceTelemetry } from '../src/simulator/kafka-producer';
import { prepareIsolatedCluster } from '../src/stack/isolated';
import { WORKER_TUNING } from '../src/workers/worker';
import { kafkaIngestWorkflowId } from '../src/workflows/kafka-ingest';
import { runTrivialChainBench } from './latency';
import type { BreakdownSummary } from './history-breakdown';
import { breakdownTable } from './report';
import type { Summary } from './stats';

/** One ingest measurement. */
export interface ClusterIngestRow {
  target: 'dev server' | 'cluster';
  workers: number;
  records: number;
  seconds: number;
  perSecond: number;
  /** Share of all cores busy during the run, %. */
  cpuBusyPct: number;
}

/** What the section measured. */
export interface ClusterBenchResult {
  cpus: number;
  latency: { devServer: Summary; cluster: Summary };
  /** Where the chain's time went on each, from the runs' histories. */
  breakdown: { devServer: BreakdownSummary; cluster: BreakdownSummary };
  ingest: ClusterIngestRow[];
  markdown: string;
}

type Child = ChildProcess & { output: () => string };

function cli(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [path.join(ROOT_DIR, 'bin', 'iot-pipelines.mjs'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`cluster bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function exited(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(timer);
}

/** Idle and total CPU time of all cores so far, ms. */
function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

/** Where a Temporal and a Kafka the bench can drive are. */
interface Target {
  name: ClusterIngestRow['target'];
  temporalAddress: string;
  brokers: string[];
  databaseUrl: string;
  /** Environment of that stack's workers. */
  env: Record<string, string>;
}

async function ingestRun(t: Target, workers: number, records: number): Promise<ClusterIngestRow> {
  const id = randomUUID().slice(0, 8);
  const topic = `bench-cluster-${workers}-${id}`;
  const groupId = `bench-cluster-${id}`;
  const source = `bench-cluster-${id}`;
  const taskQueue = `bench-cluster-${id}`;
  await createTopic(t.brokers, topic, 6);
  await produceTelemetry({ brokers: t.brokers, topic, count: records, devices: 600, startTime: Date.UTC(2024, 0, 1) });
  const procs = Array.from({ length: workers }, () => cli(['worker'], { ...t.env, TASK_QUEUE: taskQueue }));
  const db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  const connection = await Connection.connect({ address: t.temporalAddress });
  try {
    for (const p of procs) {
      await until('a worker to poll', () => p.output().includes('Worker polling task queue') || p.exitCode !== null, 120_000);
      if (p.exitCode !== null) throw new Error(`cluster bench: a worker exited with ${p.exitCode}:\n${p.output()}`);
    }
    const client = new Client({ connection });
    const rows = async () =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [source])).rows[0]?.n);
    const cpu0 = cpuTimes();
    const t0 = performance.now();
    const handle = await client.workflow.start('kafkaIngest', {
      workflowId: kafkaIngestWorkflowId(groupId, topic),
      taskQueue,
      args: [{ topic, groupId, source, kind: 'modem', members: workers, batchSize: 5000, startFrom: 'earliest' }],
    });
    await until(`${records} rows`, async () => (await rows()) >= records, 300_000, 100);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuTimes();
    await handle.terminate('bench done');
    const busy = 1 - (cpu1.idle - cpu0.idle) / Math.max(1, cpu1.total - cpu0.total);
    return {
      target: t.name,
      workers,
      records,
      seconds: Math.round(seconds * 100) / 100,
      perSecond: Math.round(records / seconds),
      cpuBusyPct: Math.round(busy * 100),
    };
  } finally {
    await connection.close();
    await db.end();
    await Promise.all(procs.map((p) => exited(p, 'SIGTERM', 40_000)));
  }
}

/**
 * Runs the section: starts the cluster-mode stack beside `dev` (the bench's own stack), measures, stops
 * and removes it.
 * @throws Error when a stack, a worker or a run does not come up or finish in time.
 */
export async function runClusterBench(o: { dev: Settings; records: number; warmup: number; runs: number }): Promise<ClusterBenchResult> {
  const cluster = await prepareIsolatedCluster(o.dev.stackDir, (m) => console.log(`  ${m}`));
  const stack = cli(['stack', 'up', '--services', 'temporal,postgres,mosquitto,kafka'], cluster.env);
  try {
    await until('the cluster stack', () => stack.output().includes('Stack ready') || stack.exitCode !== null, 600_000, 200);
    if (stack.exitCode !== null) throw new Error(`cluster bench: stack up exited with ${stack.exitCode}:\n${stack.output()}`);
    const common = { namespace: 'default', workerOptions: WORKER_TUNING, warmup: o.warmup, runs: o.runs };
    const devLatency = await runTrivialChainBench({ ...common, address: o.dev.temporalAddress, namespace: o.dev.temporalNamespace });
    const clusterLatency = await runTrivialChainBench({ ...common, address: cluster.temporalAddress });
    console.log(`  trivial chain p50: dev server ${devLatency.summary.p50} ms, cluster ${clusterLatency.summary.p50} ms`);
    const targets: Target[] = [
      {
        name: 'dev server',
        temporalAddress: o.dev.temporalAddress,
        brokers: kafkaBrokers(o.dev),
        databaseUrl: databaseUrl(o.dev),
        env: {},
      },
      {
        name: 'cluster',
        temporalAddress: cluster.temporalAddress,
        brokers: cluster.brokers,
        databaseUrl: cluster.databaseUrl,
        env: cluster.env,
      },
    ];
    const ingest: ClusterIngestRow[] = [];
    for (const t of targets) {
      for (const workers of [1, 2, 3]) {
        const row = await ingestRun(t, workers, o.records);
        console.log(`  ${t.name}, ${workers} worker(s): ${row.perSecond} records/s, CPU ${row.cpuBusyPct} % busy`);
        ingest.push(row);
      }
    }
    const result = {
      cpus: os.cpus().length,
      latency: { devServer: devLatency.summary, cluster: clusterLatency.summary },
      breakdown: { devServer: devLatency.breakdown, cluster: clusterLatency.breakdown },
      ingest,
    };
    return { ...result, markdown: renderCluster(result) };
  } finally {
    await exited(stack, 'SIGINT', 120_000);
    cluster.remove();
  }
}

/** The section's markdown. */
export function renderCluster(r: Omit<ClusterBenchResult, 'markdown'>): string {
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [
    '## Cluster: the dev server beside two Temporal servers and three Kafka brokers',
    '',
    `Same machine (${r.cpus} cores) for every process of both stacks. Cluster: two Temporal 1.29.1 servers on PostgreSQL behind the stack's balancer, Kafka with replication factor 3 and \`min.insync.replicas=2\`, producers \`acks=all\` (src/stack/isolated.ts).`,
    '',
    '| trigger → done, three-activity chain | p50 (ms) | p95 (ms) | max (ms) |',
    '|---|---:|---:|---:|',
    `| dev server | ${r.latency.devServer.p50} | ${r.latency.devServer.p95} | ${r.latency.devServer.max} |`,
    `| cluster | ${r.latency.cluster.p50} | ${r.latency.cluster.p95} | ${r.latency.cluster.max} |`,
    '',
    ...breakdownTable('Where the chain’s time went on the dev server', r.breakdown.devServer),
    '',
    ...breakdownTable('… and on the cluster', r.breakdown.cluster),
    '',
    '| Kafka → PostgreSQL, topic filled first (6 partitions) | workers (= members) | records | s | records/s | CPU busy |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.ingest.map((x) => `| ${x.target} | ${x.workers} | ${fmt(x.records)} | ${x.seconds} | ${fmt(x.perSecond)} | ${x.cpuBusyPct} % |`),
    '',
  ];
  for (const target of ['dev server', 'cluster'] as const) {
    const rows = r.ingest.filter((x) => x.target === target);
    const best = rows.reduce((a, b) => (b.perSecond > a.perSecond ? b : a), rows[0]!);
    const capped = rows.filter((x) => x.cpuBusyPct >= 85);
    lines.push(
      `- ${target}: best ${fmt(best.perSecond)} records/s with ${best.workers} worker(s)` +
        (capped.length
          ? `; from ${capped[0]!.workers} worker(s) on, the ${r.cpus} cores are ${capped[0]!.cpuBusyPct} % busy or more: the machine, not the number of workers, caps it.`
          : '; the cores were not saturated.'),
    );
  }
  return `${lines.join('\n')}\n`;
}
