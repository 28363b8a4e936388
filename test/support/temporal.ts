/**
 * Test helpers for running workflows on the real Temporal dev server: a worker on a unique task queue
 * for the duration of a callback, a client shared by a file's tests, and history recording for the
 * replay test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { afterAll, beforeAll } from 'vitest';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadSettings, ROOT_DIR } from '../../src/config/env';

/** Folder of recorded histories replayed by `test/replay.test.ts`. */
export const HISTORIES_DIR = path.join(ROOT_DIR, 'test', 'histories');

/** What a test callback receives. */
export interface WorkerContext {
  client: Client;
  taskQueue: string;
}

/**
 * Runs `fn` while a worker polls a fresh task queue with `workflowsPath` and `activities`.
 * The worker is shut down afterwards, also when `fn` throws.
 */
export async function withWorker<T>(
  options: Pick<WorkerOptions, 'workflowsPath' | 'activities'> & Partial<WorkerOptions>,
  fn: (ctx: WorkerContext) => Promise<T>,
): Promise<T> {
  const settings = loadSettings();
  const taskQueue = options.taskQueue ?? `test-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address: settings.temporalAddress });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: settings.temporalNamespace,
    ...options,
    taskQueue,
  });
  const connection = await Connection.connect({ address: settings.temporalAddress });
  const client = new Client({ connection, namespace: settings.temporalNamespace });
  try {
    return await worker.runUntil(fn({ client, taskQueue }));
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

/**
 * Saves the history of a finished workflow as `test/histories/<name>.json` for replay, when the file
 * is missing or `RECORD_HISTORIES=1`. Committed histories are what guard running workflows against
 * non-deterministic changes.
 */
export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  const file = path.join(HISTORIES_DIR, `${name}.json`);
  if (fs.existsSync(file) && process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  fs.writeFileSync(file, historyToJSON(history));
}

/**
 * A Temporal client shared by the tests of one file (or `describe` block): connected before them,
 * closed after. Call at collection time; use the returned getter inside tests.
 * @throws Error from the getter when used outside the tests (before `beforeAll` ran).
 */
export function useTemporalClient(): () => Client {
  let connection: Connection | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    connection = await Connection.connect({ address: loadSettings().temporalAddress });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await connection?.close();
  });
  return () => {
    if (!client) throw new Error('useTemporalClient: the client is only available inside tests');
    return client;
  };
}
