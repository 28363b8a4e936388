/** Temporal client for CLI commands. */
import { Client, Connection } from '@temporalio/client';
import type { Settings } from '../config/env';
import { describeTemporalConnection, isExternalTemporal, temporalConnectionOptions } from '../config/temporal-connection';

/**
 * Connects to Temporal with the settings' connection (address, API key, TLS of the environment or the
 * config-file profile: src/config/temporal-connection.ts).
 * @throws Error naming the address and profile, and telling the user to start the stack (the embedded
 *   one) or check the profile (their own cluster), when nothing answers.
 */
export async function connectClient(settings: Settings): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnectionOptions(settings), connectTimeout: 5_000 });
  } catch (e) {
    const hint = isExternalTemporal(settings.temporalConnection)
      ? 'Check the address and credentials of the Temporal profile or environment (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE).'
      : 'Start the stack with `iot-pipelines stack up` or set TEMPORAL_ADDRESS (or a Temporal config profile).';
    throw new Error(`Cannot reach Temporal at ${describeTemporalConnection(settings)} (${(e as Error).message}). ${hint}`, { cause: e });
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
