/**
 * Cluster mode for real (`TEMPORAL_MODE=cluster`, src/stack/temporal-cluster.ts): `iot-pipelines stack
 * up` in a stack folder and on ports of its own starts PostgreSQL and two Temporal server processes that
 * form one cluster. A workflow started through one node finishes on a worker connected to the other; a
 * node killed with SIGKILL during a workflow's activities leaves the survivor to finish it; the history
 * survives stopping and starting the whole cluster. The server is built once per machine into the
 * suite's stack folder (a few minutes on a fresh machine, under a lock file) and linked into this one.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { parse } from 'yaml';
import { pino } from 'pino';
import { loadSettings, ROOT_DIR, type Settings } from '../src/config/env';
import { connectClient } from '../src/cli/client';
import { runPipeline } from '../src/cli/run';
import { createLaunchActivities } from '../src/activities/launches';
import { createNotifier } from '../src/notify/index';
import { LAUNCH_SNAPSHOTS, startLaunchServer, type LaunchServer } from '../src/simulator/launch-server';
import type { launchImages, LaunchImagesResult } from '../src/workflows/launches';
import { freePortBlock } from '../src/stack/isolated';
import { isPortOpen, hostPort } from '../src/stack/process';
import { findOrBuildTemporalCli } from '../src/stack/temporal';
import {
  CLUSTER_NODE_COUNT,
  clusterNodes,
  findOrBuildTemporalServer,
  TEMPORAL_DATABASES,
  TEMPORAL_SERVER_VERSION,
  type ClusterNode,
} from '../src/stack/temporal-cluster';
import { EMBEDDED_PG_MAX_CONNECTIONS } from '../src/stack/postgres';
import { SEARCH_ATTRIBUTES } from '../src/config/names';
import { exitOf, freePort, spawnCli, waitFor } from './support/processes';

const WORKFLOWS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'launches.ts');
const NAMESPACE = 'default';

let dir = '';
let env: Record<string, string> = {};
let nodes: ClusterNode[] = [];
let stackUp: (ChildProcess & { output: () => string }) | undefined;
let launchServer: LaunchServer | undefined;
const timings: Record<string, number> = {};

/** Runs `stack up --services temporal,postgres` in cluster mode and waits until it says it is ready. */
async function startCluster(): Promise<number> {
  const t0 = Date.now();
  const child = spawnCli(['stack', 'up', '--services', 'temporal,postgres'], env);
  stackUp = child;
  await waitFor('stack up to be ready', () => child.output().includes('Stack ready') || child.exitCode !== null, 120_000, 100);
  if (child.exitCode !== null) throw new Error(`stack up exited with ${child.exitCode}:\n${child.output()}`);
  console.log(`[cluster] ${/Temporal cluster: .*/.exec(child.output())?.[0] ?? ''}`);
  return Date.now() - t0;
}

/** Stops `stack up` with SIGINT, as Ctrl-C does, and expects exit 0. */
async function stopCluster(): Promise<void> {
  const child = stackUp;
  if (!child || child.exitCode !== null) return;
  child.kill('SIGINT');
  expect(await exitOf(child, 60_000), child.output()).toBe(0);
}

function settingsFor(address: string): Settings {
  return { ...loadSettings(), temporalAddress: address, temporalNamespace: NAMESPACE };
}

async function clientOf(node: ClusterNode): Promise<{ client: Client; close: () => Promise<void> }> {
  return connectClient(settingsFor(node.frontendAddress));
}

/** Runs `fn` while a worker connected to `node` only polls a fresh task queue with the launch pipeline. */
async function withWorkerOn<T>(node: ClusterNode, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `cluster-${randomUUID()}`;
  const outputDir = fs.mkdtempSync(path.join(dir, 'output-'));
  const connection = await NativeConnection.connect({ address: node.frontendAddress });
  try {
    const worker = await Worker.create({
      connection,
      namespace: NAMESPACE,
      taskQueue,
      workflowsPath: WORKFLOWS_PATH,
      activities: createLaunchActivities({ outputDir, notifier: createNotifier({ logger: pino({ level: 'silent' }) }) }),
    });
    return await worker.runUntil(fn(taskQueue));
  } finally {
    await connection.close();
  }
}

/** Rows of `cluster_membership` heartbeating within the last 20 s, as `role:port`. */
async function liveMembers(): Promise<string[]> {
  const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${env.EMBEDDED_PG_PORT}/temporal` });
  await client.connect();
  try {
    const r = await client.query<{ member: string }>(
      `SELECT DISTINCT role || ':' || rpc_port AS member FROM cluster_membership WHERE last_heartbeat > now() - interval '20 seconds' ORDER BY 1`,
    );
    return r.rows.map((row) => row.member);
  } finally {
    await client.end();
  }
}

async function serves(node: ClusterNode): Promise<string> {
  const connection = await Connection.connect({ address: node.frontendAddress, connectTimeout: 5_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
    return (await connection.workflowService.getSystemInfo({})).serverVersion;
  } finally {
    await connection.close();
  }
}

describe('Temporal cluster mode (two server processes on PostgreSQL)', () => {
  beforeAll(async () => {
    const suiteStack = loadSettings().stackDir;
    let t0 = Date.now();
    const build = await findOrBuildTemporalServer(suiteStack, (m) => console.log(`[cluster] ${m}`));
    const cli = await findOrBuildTemporalCli(suiteStack, (m) => console.log(`[cluster] ${m}`));
    timings.buildOrFindMs = Date.now() - t0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-cluster-'));
    fs.chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.symlinkSync(path.dirname(build.server), path.join(dir, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}`));
    env = {
      STACK_DIR: dir,
      TEMPORAL_MODE: 'cluster',
      TEMPORAL_CLI_PATH: cli,
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      TEMPORAL_CLUSTER_PORT_BASE: String(await freePortBlock(20_000, 20)), // the 20 ports of clusterNodes, below MAX_MEMBERSHIP_PORT
      TEMPORAL_NAMESPACE: NAMESPACE,
      EMBEDDED_PG_PORT: String(await freePort()),
      DATABASE_URL: '',
    };
    nodes = clusterNodes(env.TEMPORAL_ADDRESS!, Number(env.TEMPORAL_CLUSTER_PORT_BASE));
    t0 = Date.now();
    timings.firstStartMs = await startCluster();
    launchServer = await startLaunchServer({ snapshotFile: LAUNCH_SNAPSHOTS['2024-03-30'], imageDelayMs: 700 });
  }, 1_500_000);

  afterAll(async () => {
    console.log(`[cluster] timings (ms): ${JSON.stringify(timings)}`);
    await launchServer?.close();
    if (stackUp && stackUp.exitCode === null) {
      stackUp.kill('SIGINT');
      await exitOf(stackUp, 60_000).catch(() => stackUp?.kill('SIGKILL'));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const finished: Array<{ workflowId: string; events: number }> = [];

  it('both server processes serve the namespace, and each service of both is a member of one cluster', async () => {
    for (const node of nodes) expect(await serves(node)).toBe(TEMPORAL_SERVER_VERSION.slice(1));
    // Roles 1–4 (frontend, history, matching, worker) of both nodes heartbeat in the shared membership table.
    const expected = nodes.flatMap((n) => Object.values(n.membershipPorts).map((port, i) => `${i + 1}:${port}`)).sort();
    await waitFor('both nodes in cluster_membership', async () => (await liveMembers()).join() === expected.join(), 30_000);
    const { client, close } = await clientOf(nodes[0]!);
    try {
      const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
      expect(Object.keys(customAttributes ?? {}).sort()).toEqual(['DataIntervalStart', 'PipelineName', 'Source']);
    } finally {
      await close();
    }
  });

  it('a pipeline started through node a finishes on a worker connected to node b only', async () => {
    const { client, close } = await clientOf(nodes[0]!);
    try {
      const result = await withWorkerOn(nodes[1]!, async (taskQueue) => {
        const run = await runPipeline(client, { ...settingsFor(nodes[0]!.frontendAddress), taskQueue }, 'launch-images', {
          url: launchServer!.url,
          logicalDate: `cluster-${randomUUID()}`,
        });
        const history = await client.workflow.getHandle(run.workflowId).fetchHistory();
        finished.push({ workflowId: run.workflowId, events: history.events?.length ?? 0 });
        return run.result as LaunchImagesResult;
      });
      expect(result.imagesFailed).toEqual([]);
      expect(result.imagesDownloaded).toBe(result.distinctImages);
      expect(result.distinctImages).toBeGreaterThan(0);
    } finally {
      await close();
    }
  });

  it('kill -9 of node a during the activities: the workflow completes through node b', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const viaA = await clientOf(a);
    const viaB = await clientOf(b);
    try {
      await withWorkerOn(b, async (taskQueue) => {
        const workflowId = `cluster-kill-${randomUUID()}`;
        // One image at a time, each answered after 700 ms: the downloads span the kill.
        await viaA.client.workflow.start<typeof launchImages>('launchImages', {
          taskQueue,
          workflowId,
          args: [{ url: launchServer!.url, logicalDate: workflowId, concurrency: 1 }],
        });
        const before = launchServer!.imageRequests.length;
        await waitFor('the first image download', () => launchServer!.imageRequests.length > before, 30_000, 50);
        const pid = Number(fs.readFileSync(path.join(dir, 'logs', 'temporal-a.pid'), 'utf8'));
        process.kill(pid, 'SIGKILL');
        const killedAt = launchServer!.imageRequests.length;
        const { host, port } = hostPort(a.frontendAddress);
        await waitFor('node a to be gone', async () => !(await isPortOpen(host, port)), 10_000, 50);
        const t0 = Date.now();
        const result = await viaB.client.workflow.getHandle<typeof launchImages>(workflowId).result();
        timings.completeAfterKillMs = Date.now() - t0;
        expect(result.imagesFailed).toEqual([]);
        expect(result.imagesDownloaded).toBe(result.distinctImages);
        // Activities ran after the kill: the survivor carried the workflow on, not a finished history.
        expect(launchServer!.imageRequests.length).toBeGreaterThan(killedAt);
        const history = await viaB.client.workflow.getHandle(workflowId).fetchHistory();
        finished.push({ workflowId, events: history.events?.length ?? 0 });
      });
    } finally {
      await viaA.close();
      await viaB.close();
    }
  }, 300_000);

  it('the histories survive stopping and starting the whole cluster', async () => {
    expect(finished).toHaveLength(2);
    await stopCluster();
    for (const node of nodes) {
      const { host, port } = hostPort(node.frontendAddress);
      expect(await isPortOpen(host, port), node.name).toBe(false);
    }
    timings.restartMs = await startCluster();
    for (const node of nodes) expect(await serves(node)).toBe(TEMPORAL_SERVER_VERSION.slice(1));
    for (const node of nodes) {
      const { client, close } = await clientOf(node);
      try {
        for (const { workflowId, events } of finished) {
          const handle = client.workflow.getHandle(workflowId);
          expect((await handle.describe()).status.name, `${workflowId} via ${node.name}`).toBe('COMPLETED');
          expect((await handle.fetchHistory()).events?.length).toBe(events);
        }
      } finally {
        await close();
      }
    }
  }, 300_000);
});

describe('docker-compose.yml profile cluster', () => {
  type Service = { profiles?: string[]; image?: string; command?: string[] | string; environment?: Record<string, string | number> };
  const compose = parse(fs.readFileSync(path.join(ROOT_DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
  };
  const cluster = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('cluster'));
  const text = (s: Service | undefined) => [s?.command ?? []].flat().join('\n');

  it('describes what the stack starts: the same server version, schema steps, two nodes on one database, namespace and search attributes', () => {
    const version = TEMPORAL_SERVER_VERSION.slice(1);
    const servers = cluster.filter(([, s]) => s.image === `temporalio/server:${version}`);
    expect(servers.map(([name]) => name)).toHaveLength(CLUSTER_NODE_COUNT);
    const envs = servers.map(([, s]) => s.environment ?? {});
    expect(new Set(envs.map((e) => `${e.DB}|${e.POSTGRES_SEEDS}|${e.DBNAME}|${e.VISIBILITY_DBNAME}`)).size).toBe(1);
    expect(envs[0]).toMatchObject({ DB: 'postgres12', DBNAME: TEMPORAL_DATABASES[0].name, VISIBILITY_DBNAME: TEMPORAL_DATABASES[1].name });
    expect(new Set(envs.map((e) => e.TEMPORAL_BROADCAST_ADDRESS)).size).toBe(CLUSTER_NODE_COUNT);

    const schema = text(compose.services['temporal-schema']);
    expect(compose.services['temporal-schema']?.image).toBe(`temporalio/admin-tools:${version}`);
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d', '--plugin postgres12'])
      expect(schema).toContain(step);
    for (const { name, schemaDir } of TEMPORAL_DATABASES) {
      expect(schema).toContain(name);
      expect(schemaDir).toMatch(/^schema\/postgresql\/v12\/(temporal|visibility)\/versioned$/);
    }
    expect(schema).toContain('/etc/temporal/schema/postgresql/v12/$$dir/versioned');

    const init = text(compose.services['temporal-init']);
    expect(init).toContain('operator namespace create');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(init).toContain(`${name}=${type}`);
    expect(text(compose.services.postgres)).toContain(`max_connections=${EMBEDDED_PG_MAX_CONNECTIONS}`);
  });
});
