/**
 * The worker process: one Temporal worker on the project's task queue that registers every workflow
 * and activity. Activities get their clients (pg pool, MQTT URL, model session, …) from here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index';
import { databaseUrl, kafkaBrokers, loadSettings, mqttUrl, ROOT_DIR, type Settings } from '../config/env';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { loadOccupancyModel } from '../ml/occupancy-model';
import { createNotifier } from '../notify/index';

/** Entry file of the workflow code. */
export const WORKFLOWS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'index.ts');

/** The workflow code bundled once by `npm install` (scripts/build.mjs), used when running from dist/. */
export const WORKFLOW_BUNDLE_PATH = path.join(ROOT_DIR, 'dist', 'workflow-bundle.js');

/** The workflow code bundled with the OpenTelemetry workflow interceptors, for workers that trace. */
export const TRACED_WORKFLOW_BUNDLE_PATH = path.join(ROOT_DIR, 'dist', 'workflow-bundle-traced.js');

/**
 * Where the worker takes its workflow code: compiled code (dist/) loads the prebuilt bundle, so a
 * worker starts without running webpack; the TypeScript sources (tests, tsx) bundle `src/workflows`
 * at start, so they always run the code beside them. `traced`: the bundle (or the interceptor
 * modules) with the OpenTelemetry workflow interceptors.
 */
export function workflowSource(traced = false): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const compiled = !fileURLToPath(import.meta.url).endsWith('.ts');
  const bundle = traced ? TRACED_WORKFLOW_BUNDLE_PATH : WORKFLOW_BUNDLE_PATH;
  return compiled && fs.existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH };
}

/** The lineage workflow interceptors (src/workflows/lineage-interceptors.ts), in every bundle. */
export const LINEAGE_INTERCEPTORS_PATH = path.join(ROOT_DIR, 'src', 'workflows', 'lineage-interceptors.ts');

/**
 * Interceptors and sinks of the worker: the lineage sink always (its interceptors are in every bundle,
 * or added as modules when bundling at start); with tracing, `@temporalio/interceptors-opentelemetry`'s
 * workflow interceptors (in the traced bundle), activity interceptors and the workflow span sink.
 */
async function interceptorOptions(
  tracing: import('../observability/tracing').Tracing | undefined,
  source: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>,
): Promise<Partial<WorkerOptions>> {
  const { lineageSinks } = await import('./lineage-sink');
  const workflowModules = source.workflowBundle ? [] : [LINEAGE_INTERCEPTORS_PATH];
  if (!tracing) return { sinks: { ...lineageSinks() }, interceptors: { workflowModules } };
  const otel = await import('@temporalio/interceptors-opentelemetry/lib/worker/index.js');
  const { createRequire } = await import('node:module');
  if (!source.workflowBundle)
    workflowModules.push(createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'));
  return {
    sinks: { ...lineageSinks(), exporter: otel.makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
    interceptors: {
      workflowModules,
      activity: [
        (ctx) => ({
          inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
  };
}

/**
 * Worker tuning for low trigger-to-done latency on a single dev server; see README "Benchmarks"
 * for what was measured.
 */
export const WORKER_TUNING: Partial<WorkerOptions> = {
  maxConcurrentActivityTaskExecutions: 200,
  maxConcurrentWorkflowTaskExecutions: 40,
  maxCachedWorkflows: 1000,
  // Heartbeats reach the server at least every second, so a pause (activity cancellation) arrives fast.
  maxHeartbeatThrottleInterval: '1 second',
  // A workflow task for a worker that died (SIGKILL, lost machine) waits this long on its sticky queue
  // before any worker may take it (the server's default 10 s came on top of every stream's heartbeat
  // timeout, issue 19). A live worker picks its sticky tasks up in milliseconds; one busier than this
  // only loses the cached copy (another poll replays the history).
  stickyQueueScheduleToStartTimeout: '1 second',
};

/**
 * Bound of a graceful shutdown (SIGTERM, Ctrl-C): the worker stops polling at once and cancels its
 * in-flight activities (`shutdownGraceTime` 0: stream consumers commit what they hold and return, so
 * a standby takes the streams over within seconds); activities that do not act on cancellation finish
 * their attempt. After this long the worker gives up on them and `done` rejects with the SDK's
 * `GracefulShutdownPeriodExpiredError` (the CLI then exits 1), so a stopping worker always exits.
 * @default 30 s
 */
export const WORKER_SHUTDOWN_FORCE_TIME = '30 seconds';

/** A running worker and what it holds. */
export interface RunningWorker {
  worker: Worker;
  /** The operations endpoint's URL (`METRICS_PORT`), if it has one. */
  opsUrl?: string;
  /** Resolves when the worker has stopped and its clients are closed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Creates and runs the worker on `settings.taskQueue`.
 * @throws when Temporal or PostgreSQL cannot be reached.
 */
export async function startWorker(settings: Settings = loadSettings(), extra: Partial<WorkerOptions> = {}): Promise<RunningWorker> {
  const pool = createPool(databaseUrl(settings), 20);
  // The operations endpoint (/metrics, /healthz, /readyz) when METRICS_PORT is set: up first, so
  // /healthz answers and /readyz says what is missing while the worker is still connecting.
  let clientConnection: Connection | undefined;
  const ops =
    settings.metricsPort === undefined
      ? undefined
      : await (async () => {
          const { startOpsServer } = await import('../observability/server');
          const { postgresCheck } = await import('../observability/dependencies');
          return startOpsServer({
            port: settings.metricsPort!,
            host: settings.metricsHost,
            temporalMetricsUrl: settings.temporalMetricsPort ? `http://127.0.0.1:${settings.temporalMetricsPort}/metrics` : undefined,
            checks: [
              postgresCheck(pool),
              {
                name: 'temporal',
                check: async () => {
                  if (!clientConnection) throw new Error('not connected yet');
                  await clientConnection.workflowService.getSystemInfo({});
                },
              },
            ],
          }).catch(async (e: unknown) => {
            await pool.end();
            throw e;
          });
        })();
  try {
    return await runWorker(settings, extra, pool, (c) => (clientConnection = c), ops);
  } catch (e) {
    await ops?.close();
    throw e;
  }
}

/**
 * Worker Versioning (Temporal Worker Deployments) when `WORKER_BUILD_ID` is set: the worker polls as
 * version `<WORKER_DEPLOYMENT_NAME>.<WORKER_BUILD_ID>`, gets tasks once that version is the deployment's
 * current (or ramping) one (`temporal worker deployment set-current-version`), and its workflows are
 * Pinned unless their type says otherwise: a pipeline run finishes on the build it started on, while
 * the long-running ingest supervisors and device workflows are Auto-Upgrade (`setWorkflowOptions` in
 * their modules) and move to the new build; their code changes go behind `patched()`, which the replay
 * test checks. README, "Upgrade the workers".
 */
export function versioningOptions(settings: Settings): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  const d = settings.workerDeployment;
  if (!d) return {};
  return { workerDeploymentOptions: { useWorkerVersioning: true, version: d, defaultVersioningBehavior: 'PINNED' } };
}

/** The rest of {@link startWorker}, once the pool (and the operations endpoint) exist. */
async function runWorker(
  settings: Settings,
  extra: Partial<WorkerOptions>,
  pool: ReturnType<typeof createPool>,
  connected: (c: Connection) => void,
  ops: { url: string; close(): Promise<void> } | undefined,
): Promise<RunningWorker> {
  // Idempotent; lets a worker run against any PostgreSQL (DATABASE_URL) without a separate step.
  await migrate(pool);
  const model = await loadOccupancyModel();
  // Address, API key and TLS of the environment or the Temporal config profile (config/temporal-connection.ts).
  const connectionOptions = temporalConnectionOptions(settings);
  // Traces when an OTLP endpoint is configured (src/observability/tracing.ts); nothing of OpenTelemetry loads otherwise.
  const { startTracing } = await import('../observability/tracing');
  const tracing = await startTracing('worker');
  const source = workflowSource(tracing !== undefined);
  const connection = await NativeConnection.connect(connectionOptions);
  // Activities that signal or start workflows (device entity workflows) use an ordinary client.
  const clientConnection = await Connection.connect(connectionOptions);
  connected(clientConnection);
  const client = new Client({ connection: clientConnection, namespace: settings.temporalNamespace });
  const worker = await Worker.create({
    connection,
    namespace: settings.temporalNamespace,
    taskQueue: settings.taskQueue,
    ...source,
    ...(await interceptorOptions(tracing, source)),
    activities: createActivities({
      pool,
      mqttUrl: mqttUrl(settings),
      kafkaBrokers: kafkaBrokers(settings),
      lakeDir: settings.lakeDir,
      model,
      notifier: createNotifier({ webhookUrl: settings.notifyWebhookUrl }),
      outputDir: settings.outputDir,
      projectDir: ROOT_DIR,
      client,
      taskQueue: settings.taskQueue,
    }),
    ...WORKER_TUNING,
    shutdownForceTime: WORKER_SHUTDOWN_FORCE_TIME,
    ...versioningOptions(settings),
    ...extra,
  });
  const done = worker.run().finally(async () => {
    await ops?.close();
    await tracing?.shutdown().catch(() => undefined);
    await connection.close();
    await clientConnection.close();
    await pool.end();
    await model.release();
  });
  return {
    worker,
    ...(ops ? { opsUrl: ops.url } : {}),
    done,
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
