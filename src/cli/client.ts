/** Temporal client for CLI commands. */
import { Client, Connection } from '@temporalio/client';
import type { Settings } from '../config/env';

/**
 * Connects to Temporal at `settings.temporalAddress`.
 * @throws Error telling the user to start the stack when nothing answers.
 */
export async function connectClient(settings: Settings): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.temporalAddress, connectTimeout: 5_000 });
  } catch (e) {
    throw new Error(
      `Cannot reach Temporal at ${settings.temporalAddress} (${(e as Error).message}). Start the stack with \`iot-pipelines stack up\` or set TEMPORAL_ADDRESS.`,
    );
  }
  return { client: new Client({ connection, namespace: settings.temporalNamespace }), close: () => connection.close() };
}

/** Runs `fn` with a client and closes it afterwards. */
export async function withClient<T>(settings: Settings, fn: (client: Client) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(settings);
  try {
    return await fn(client);
  } finally {
    await close();
  }
}
