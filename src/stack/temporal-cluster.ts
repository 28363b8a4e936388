/**
 * Temporal cluster mode (`TEMPORAL_MODE=cluster`): the real Temporal server on PostgreSQL instead of the
 * dev server. Builds the server and its SQL tool once with Go, creates the `temporal` and
 * `temporal_visibility` databases and applies their schema with the SQL tool, writes one config per
 * process from the server module's own `config/development-postgres12.yaml`, starts two server
 * processes on loopback that form one cluster (ringpop membership, found through the shared
 * `cluster_membership` table), registers the namespace and the project's search attributes, waits
 * until both frontends serve it, and balances clients across both frontends on `TEMPORAL_ADDRESS`
 * (tcp-balancer.ts), so a client of a server process that dies reconnects to the other.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { Document, parseDocument } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../config/names';
import { findOrBuildTemporalCli, waitForTemporalReady } from './temporal';
import { hostPort, isPortOpen, runCommand, startService, waitForService, type ServiceProcess } from './process';
import { startTcpBalancer, type TcpBalancer } from './tcp-balancer';

/** Version of the Temporal server built for cluster mode. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
/** Go module of the server; its source (schema, config templates) is read from Go's module cache. */
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
/** The two commands built from {@link TEMPORAL_SERVER_MODULE}. */
const SERVER_PACKAGES = ['cmd/server', 'cmd/tools/sql'].map((p) => `${TEMPORAL_SERVER_MODULE}/${p}@${TEMPORAL_SERVER_VERSION}`);
/** Databases of the cluster on the project's PostgreSQL, with their schema folder in the module. */
export const TEMPORAL_DATABASES = [
  { name: 'temporal', schemaDir: 'schema/postgresql/v12/temporal/versioned' },
  { name: 'temporal_visibility', schemaDir: 'schema/postgresql/v12/visibility/versioned' },
] as const;
/** Services every server process runs (`temporal start` runs all four by default). */
const SERVER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
/** Ports one node takes from `TEMPORAL_CLUSTER_PORT_BASE` (10 reserved, 9 used). */
const PORTS_PER_NODE = 10;
/** Number of server processes the stack starts. */
export const CLUSTER_NODE_COUNT = 2;

/** Where the server's binaries and module source are. */
export interface TemporalServerBuild {
  /** The `temporal-server` binary (`go.temporal.io/server/cmd/server`). */
  server: string;
  /** The `temporal-sql-tool` binary (`go.temporal.io/server/cmd/tools/sql`). */
  sqlTool: string;
  /** The module's source in Go's module cache (config templates, schema). */
  moduleDir: string;
}

/** A build lock held by another live process for longer than allowed. */
export class BuildLockTimeoutError extends Error {
  override readonly name = 'BuildLockTimeoutError';
  constructor(
    readonly lockFile: string,
    readonly holderPid: number,
    readonly waitedMs: number,
  ) {
    super(
      `Waited ${waitedMs} ms for process ${holderPid} to finish the build it locked (${lockFile}); remove the file if that process is gone.`,
    );
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding `lockFile` (created exclusively, holding this process's pid), so concurrent
 * processes (test files, `npm start` beside `npm test`) do not build the same thing twice. A lock whose
 * holder is dead is taken over. Waiting polls every second.
 * @throws BuildLockTimeoutError when a live holder keeps it longer than `timeoutMs` (default 20 min).
 */
export async function withFileLock<T>(
  lockFile: string,
  fn: () => Promise<T>,
  log: (msg: string) => void,
  timeoutMs = 20 * 60_000,
): Promise<T> {
  const started = Date.now();
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number(fs.readFileSync(lockFile, { encoding: 'utf8', flag: 'a+' }).trim());
    if (!pidAlive(holder)) {
      // Written but not yet filled in (a holder between open and write) reads as 0: give it a moment.
      if (holder === 0 && Date.now() - fs.statSync(lockFile).mtimeMs < 5_000) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) throw new BuildLockTimeoutError(lockFile, holder, Date.now() - started);
    if (!told) log(`Waiting for process ${holder}, which is building (${lockFile})…`);
    told = true;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

/** The module's source folder in Go's module cache, downloaded when missing (`go mod download -json`). */
async function serverModuleDir(): Promise<string> {
  const out = await runCommand('go', ['mod', 'download', '-json', `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`], { quiet: true });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir || !fs.existsSync(dir)) throw new Error(`go mod download gave no source folder for ${TEMPORAL_SERVER_MODULE}: ${out}`);
  return dir;
}

/**
 * Returns the Temporal server and SQL tool of {@link TEMPORAL_SERVER_VERSION} in
 * `<stackDir>/bin/temporal-server-<version>/`, building both with `go install` the first time (about
 * 2–4 minutes on 2 cores, under a lock file so concurrent callers build once), and the module source.
 * @throws Error saying what to install when Go is missing; CommandFailedError when the build fails.
 */
export async function findOrBuildTemporalServer(stackDir: string, log: (msg: string) => void = console.log): Promise<TemporalServerBuild> {
  const binDir = path.join(stackDir, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const build = { server: path.join(binDir, 'server'), sqlTool: path.join(binDir, 'sql') };
  const built = () => fs.existsSync(build.server) && fs.existsSync(build.sqlTool);
  if (!built()) {
    fs.mkdirSync(path.dirname(binDir), { recursive: true });
    await withFileLock(
      `${binDir}.lock`,
      async () => {
        if (built()) return;
        const partial = `${binDir}.partial-${process.pid}`;
        fs.rmSync(partial, { recursive: true, force: true });
        log(`Building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool into ${binDir}; this takes a few minutes once…`);
        const t0 = Date.now();
        try {
          await runCommand('go', ['install', ...SERVER_PACKAGES], { env: { ...process.env, GOBIN: partial } });
        } catch (e) {
          fs.rmSync(partial, { recursive: true, force: true });
          if ((e as Error).message.includes('could not be started')) {
            throw new Error(
              `Cluster mode builds the Temporal server with Go, which is not installed (${(e as Error).message}). Install Go.`,
            );
          }
          throw e;
        }
        fs.rmSync(binDir, { recursive: true, force: true });
        fs.renameSync(partial, binDir);
        log(`Built the Temporal server in ${Math.round((Date.now() - t0) / 1000)} s.`);
      },
      log,
    );
  }
  return { ...build, moduleDir: await serverModuleDir() };
}

/** The listeners of one server process. */
export interface ClusterNode {
  /** `a`, `b`, …: names the config file, log and pid file (`temporal-<name>`). */
  name: string;
  /** Frontend gRPC `host:port` clients and workers connect to. */
  frontendAddress: string;
  /** gRPC port of each service. */
  grpcPorts: Record<(typeof SERVER_SERVICES)[number], number>;
  /** Ringpop membership port of each service. */
  membershipPorts: Record<(typeof SERVER_SERVICES)[number], number>;
  /** Frontend HTTP API port. */
  httpPort: number;
}

/**
 * Highest membership port the server can record: `cluster_membership.rpc_port` is a PostgreSQL
 * `smallint` (a port above fails every heartbeat and the server exits: "value … is out of range for
 * type smallint").
 */
export const MAX_MEMBERSHIP_PORT = 32_767;

/** A `TEMPORAL_CLUSTER_PORT_BASE` whose block of ports reaches past {@link MAX_MEMBERSHIP_PORT}. */
export class ClusterPortBaseError extends Error {
  override readonly name = 'ClusterPortBaseError';
  constructor(
    readonly portBase: number,
    readonly highestPort: number,
  ) {
    super(
      `TEMPORAL_CLUSTER_PORT_BASE=${portBase} gives the cluster ports up to ${highestPort}; the server stores membership ports ` +
        `as a PostgreSQL smallint, so they must stay at or below ${MAX_MEMBERSHIP_PORT}. Choose a lower base.`,
    );
  }
}

/**
 * The nodes of the cluster: node `i` (0-based) takes ports `base + 10·i + k` for k = 0 frontend gRPC,
 * 1–3 history/matching/worker gRPC, 4–7 membership of frontend/history/matching/worker, 8 frontend HTTP.
 * Clients connect to neither directly but to `temporalAddress`, where the stack's balancer
 * (tcp-balancer.ts) forwards each connection to a live frontend. All on the host of `temporalAddress`.
 * @throws ClusterPortBaseError when the block reaches past {@link MAX_MEMBERSHIP_PORT}.
 */
export function clusterNodes(temporalAddress: string, portBase: number, count = CLUSTER_NODE_COUNT): ClusterNode[] {
  const { host } = hostPort(temporalAddress);
  const highest = portBase + PORTS_PER_NODE * count - 1;
  if (highest > MAX_MEMBERSHIP_PORT) throw new ClusterPortBaseError(portBase, highest);
  return Array.from({ length: count }, (_, i) => {
    const p = (k: number) => portBase + PORTS_PER_NODE * i + k;
    const frontend = p(0);
    return {
      name: String.fromCharCode(97 + i),
      frontendAddress: `${host}:${frontend}`,
      grpcPorts: { frontend, history: p(1), matching: p(2), worker: p(3) },
      membershipPorts: { frontend: p(4), history: p(5), matching: p(6), worker: p(7) },
      httpPort: p(8),
    };
  });
}

/** PostgreSQL the cluster persists to. */
export interface ClusterDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The server's PostgreSQL connection from a `postgres://user:password@host:port/db` URL. */
export function clusterDatabaseFromUrl(url: string): ClusterDatabase {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

/**
 * Creates the `temporal` and `temporal_visibility` databases when missing and brings their schema to
 * the module's latest version, all with the SQL tool (`create-database`, `setup-schema -v 0.0` on a
 * database without `schema_version`, then `update-schema -d <module>/schema/postgresql/v12/…/versioned`,
 * which is a no-op when up to date).
 * @throws CommandFailedError with the tool's command line and output when a step fails.
 */
export async function setupClusterSchema(build: TemporalServerBuild, db: ClusterDatabase, log: (msg: string) => void): Promise<void> {
  const client = new pg.Client({ ...db, database: 'postgres' });
  await client.connect();
  try {
    for (const { name, schemaDir } of TEMPORAL_DATABASES) {
      const tool = (...args: string[]) =>
        runCommand(
          build.sqlTool,
          ['--plugin', 'postgres12', '--ep', db.host, '--port', String(db.port), '--user', db.user, '--db', name, ...args],
          { quiet: true, env: { ...process.env, SQL_PASSWORD: db.password } },
        );
      const exists = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
      if (!exists) {
        log(`Creating the ${name} database and its schema with the Temporal SQL tool…`);
        await tool('create-database');
      }
      if (!exists || !(await hasSchemaVersion(db, name))) await tool('setup-schema', '-v', '0.0');
      await tool('update-schema', '-d', path.join(build.moduleDir, schemaDir));
    }
  } finally {
    await client.end();
  }
}

async function hasSchemaVersion(db: ClusterDatabase, database: string): Promise<boolean> {
  const client = new pg.Client({ ...db, database });
  await client.connect();
  try {
    const r = await client.query<{ present: boolean }>(`SELECT to_regclass('public.schema_version') IS NOT NULL AS present`);
    return r.rows[0]?.present === true;
  } finally {
    await client.end();
  }
}

/**
 * Dynamic config of every node: what the dev server sets for the project (stack/temporal.ts: eager
 * activities, transfer-queue poll rate), and search attributes read fresh from persistence, as the dev
 * server does, so attributes added at start-up are usable at once on every node.
 */
export const CLUSTER_DYNAMIC_CONFIG: Record<string, Array<{ value: unknown }>> = {
  'system.enableActivityEagerExecution': [{ value: true }],
  'history.transferProcessorMaxPollRPS': [{ value: 1000 }],
  'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
};

/**
 * The server config of `node`: the module's `config/development-postgres12.yaml`, with persistence on
 * `db`, log level `warn`, this node's ports bound to its host (`bindOnLocalHost` on 127.0.0.1,
 * `bindOnIP` otherwise), the membership broadcast address, the first node as the cluster's
 * `rpcAddress`, no pprof or metrics listener (their fixed ports would collide between nodes) and
 * `dynamicConfigFile` as the dynamic config.
 */
export function clusterNodeConfig(
  template: string,
  node: ClusterNode,
  nodes: ClusterNode[],
  db: ClusterDatabase,
  dynamicConfigFile: string,
): string {
  const doc = parseDocument(template);
  const { host } = hostPort(node.frontendAddress);
  doc.setIn(['log', 'level'], 'warn');
  for (const store of ['postgres-default', 'postgres-visibility']) {
    const sql = ['persistence', 'datastores', store, 'sql'];
    if (!doc.hasIn(sql)) throw new Error(`The server's PostgreSQL template has no ${sql.join('.')}.`);
    doc.setIn([...sql, 'connectAddr'], `${db.host}:${db.port}`);
    doc.setIn([...sql, 'user'], db.user);
    doc.setIn([...sql, 'password'], db.password);
  }
  doc.setIn(['global', 'membership', 'broadcastAddress'], host);
  doc.deleteIn(['global', 'pprof']);
  doc.deleteIn(['global', 'metrics']);
  for (const service of SERVER_SERVICES) {
    const rpc = ['services', service, 'rpc'];
    doc.setIn([...rpc, 'grpcPort'], node.grpcPorts[service]);
    doc.setIn([...rpc, 'membershipPort'], node.membershipPorts[service]);
    if (host === '127.0.0.1' || host === 'localhost') {
      doc.setIn([...rpc, 'bindOnLocalHost'], true);
    } else {
      doc.deleteIn([...rpc, 'bindOnLocalHost']);
      doc.setIn([...rpc, 'bindOnIP'], host);
    }
  }
  doc.setIn(['services', 'frontend', 'rpc', 'httpPort'], node.httpPort);
  doc.setIn(['clusterMetadata', 'clusterInformation', 'active', 'rpcAddress'], nodes[0]!.frontendAddress);
  doc.setIn(['dynamicConfigClient', 'filepath'], dynamicConfigFile);
  return doc.toString();
}

/** Options of {@link startTemporalCluster}. */
export interface TemporalClusterOptions {
  stackDir: string;
  /** Where clients connect, `host:port`: the balancer in front of the nodes' frontends. */
  address: string;
  /** See {@link clusterNodes}. */
  portBase: number;
  namespace: string;
  /** `postgres://…` URL of the PostgreSQL the cluster persists to (its database part is ignored). */
  databaseUrl: string;
  log?: (msg: string) => void;
}

/** A running cluster: the processes this call started (a node already listening is reused). */
export interface TemporalCluster {
  nodes: ClusterNode[];
  /** Started process per node, `undefined` for a reused one. */
  processes: Array<ServiceProcess | undefined>;
  /** The balancer on `address`, when this call started it. */
  balancer: TcpBalancer | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the nodes of the cluster that do not listen yet (after building the server and setting up the
 * schema; the first node alone, until it listens, then the others), registers the namespace and the search attributes, and waits until every node's frontend
 * serves the namespace.
 * @returns the cluster, or `undefined` when every node was already running (nothing started).
 * @throws CommandFailedError for a failed build, schema step or CLI call; Error with the log's tail when
 *   a node does not listen within 60 s.
 */
export async function startTemporalCluster(o: TemporalClusterOptions): Promise<TemporalCluster | undefined> {
  const log = o.log ?? console.log;
  const nodes = clusterNodes(o.address, o.portBase);
  const running = await Promise.all(
    nodes.map((n) => {
      const { host, port } = hostPort(n.frontendAddress);
      return isPortOpen(host, port);
    }),
  );
  const listen = hostPort(o.address);
  const balanced = await isPortOpen(listen.host, listen.port);
  if (running.every(Boolean) && balanced) return undefined;
  const build = await findOrBuildTemporalServer(o.stackDir, log);
  const cli = await findOrBuildTemporalCli(o.stackDir, log);
  const db = clusterDatabaseFromUrl(o.databaseUrl);
  const t0 = Date.now();
  await setupClusterSchema(build, db, log);
  const schemaMs = Date.now() - t0;

  const clusterDir = path.join(o.stackDir, 'temporal-cluster');
  const configDir = path.join(clusterDir, 'config');
  fs.mkdirSync(configDir, { recursive: true });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
  fs.writeFileSync(dynamicConfigFile, new Document(CLUSTER_DYNAMIC_CONFIG).toString());
  const template = fs.readFileSync(path.join(build.moduleDir, 'config', 'development-postgres12.yaml'), 'utf8');
  const processes: Array<ServiceProcess | undefined> = [];
  let balancer: TcpBalancer | undefined;
  const stop = async () => {
    await balancer?.close();
    for (const p of [...processes].reverse()) await p?.stop();
  };
  try {
    const startNode = async (node: ClusterNode, i: number) => {
      if (running[i]) return;
      const env = `node-${node.name}`;
      fs.writeFileSync(path.join(configDir, `${env}.yaml`), clusterNodeConfig(template, node, nodes, db, dynamicConfigFile));
      const svc = startService(
        `temporal-${node.name}`,
        build.server,
        ['--root', clusterDir, '--config', 'config', '--env', env, '--allow-no-auth', 'start'],
        path.join(o.stackDir, 'logs'),
      );
      processes[i] = svc;
      const { host, port } = hostPort(node.frontendAddress);
      await waitForService(svc, `Temporal server ${node.name}`, host, port, 60_000);
    };
    // On a fresh database the first server process inserts the cluster's metadata record before it
    // listens; a process started beside it loses that conditional insert and exits ("Failed to apply
    // cluster metadata", seen on a fresh machine). So the first node starts alone, then the others.
    await startNode(nodes[0]!, 0);
    await Promise.all(nodes.slice(1).map((node, j) => startNode(node, j + 1)));
    if (!balanced)
      balancer = await startTcpBalancer(
        listen,
        nodes.map((n) => hostPort(n.frontendAddress)),
      );
    await registerNamespace(cli, nodes[0]!.frontendAddress, o.namespace);
    for (const node of nodes) await waitForTemporalReady(node.frontendAddress, o.namespace);
    await registerSearchAttributes(cli, nodes[0]!.frontendAddress, o.namespace);
    log(
      `Temporal cluster: schema checked in ${schemaMs} ms; ${nodes.map((n) => n.frontendAddress).join(' and ')} ` +
        `serve ${o.namespace} ${Date.now() - t0 - schemaMs} ms later, balanced on ${o.address}.`,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, processes, balancer, stop };
}

/** `fn()`, retried every 500 ms while it fails, for up to `timeoutMs`. @throws its last error. */
async function retried<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Runs the `temporal` CLI against `address`, quietly; its output for the caller. The stack's own
 * cluster has no TLS or API key: the CLI's config file and `TEMPORAL_*` variables (a user's profile for
 * another cluster) are ignored.
 */
function temporalCli(cli: string, address: string, args: string[]): Promise<string> {
  return runCommand(cli, [...args, '--address', address, '--disable-config-file', '--disable-config-env'], { quiet: true });
}

/**
 * Registers `namespace` (a real server has none, not even `default`) unless it exists. The frontend
 * answers before its membership has settled, so the create is retried for up to 60 s.
 */
async function registerNamespace(cli: string, address: string, namespace: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await temporalCli(cli, address, ['operator', 'namespace', 'describe', '--namespace', namespace]);
      return;
    } catch {
      // Not there yet (or the server is not ready): create it.
    }
    try {
      await temporalCli(cli, address, ['operator', 'namespace', 'create', '--namespace', namespace]);
      return;
    } catch (e) {
      if (/already (exists|registered)/i.test((e as Error).message)) return;
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Adds the project's search attributes ({@link SEARCH_ATTRIBUTES}) missing from `namespace`, one CLI
 * call each (CLI 1.5.1 given several `--name` with one `--type` added only the first), then lists them
 * again to check.
 * @throws Error naming the attributes still missing.
 */
async function registerSearchAttributes(cli: string, address: string, namespace: string): Promise<void> {
  const list = () => temporalCli(cli, address, ['operator', 'search-attribute', 'list', '--namespace', namespace, '--output', 'json']);
  // A namespace just created reaches each service's namespace cache within seconds: retried until then.
  const present = new Set(searchAttributeNames(await retried(60_000, list)));
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    if (present.has(name)) continue;
    await temporalCli(cli, address, ['operator', 'search-attribute', 'create', '--namespace', namespace, '--name', name, '--type', type]);
  }
  const after = new Set(searchAttributeNames(await list()));
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((n) => !after.has(n));
  if (missing.length) throw new Error(`Temporal at ${address} lacks search attributes ${missing.join(', ')} after adding them.`);
}

/** Custom search attribute names in `temporal operator search-attribute list --output json`. */
function searchAttributeNames(listJson: string): string[] {
  const parsed = JSON.parse(listJson) as { customAttributes?: Record<string, string> };
  return Object.keys(parsed.customAttributes ?? {});
}
