/**
 * The Temporal connection of every process (CLI, workers, schedules, the stack): address, namespace,
 * API key, TLS/mTLS and gRPC metadata, read with `@temporalio/envconfig` from Temporal's standard
 * environment variables and config-file profile, so a user's own cluster or Temporal Cloud is reached
 * with the same settings the `temporal` CLI and the other SDKs use.
 *
 * Precedence, per field: an environment variable (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
 * `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_GRPC_META_*`; the project's own `TEMPORAL_ADDRESS` and
 * `TEMPORAL_NAMESPACE` are envconfig's variables of the same name) > the profile (`TEMPORAL_PROFILE`,
 * else `default`) of the config file (`TEMPORAL_CONFIG_FILE`, else `~/.config/temporalio/temporal.toml`)
 * > the embedded stack's defaults (`127.0.0.1:7233`, namespace `default`, no TLS).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { TLSConfig } from '@temporalio/client';

/**
 * `@temporalio/envconfig`, loaded on first use: it loads the Temporal SDK's common package, which the
 * light commands (`models`, `--help`) never load (test/cli-startup.test.ts), though they read settings.
 */
function envconfig(): typeof import('@temporalio/envconfig') {
  return createRequire(import.meta.url)('@temporalio/envconfig') as typeof import('@temporalio/envconfig');
}

/** Frontend of the embedded stack, used when neither the environment nor a profile names one. */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
/** Namespace used when neither the environment nor a profile names one. */
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';

/** Where the address came from: an environment variable, the config-file profile, or the default. */
export type TemporalAddressSource = 'env' | 'profile' | 'default';

/** The resolved Temporal connection settings. */
export interface TemporalConnectionSettings {
  /** Frontend `host:port`. @default {@link DEFAULT_TEMPORAL_ADDRESS} */
  address: string;
  /** @default {@link DEFAULT_TEMPORAL_NAMESPACE} */
  namespace: string;
  /** API key (Temporal Cloud); turns TLS on unless TLS is disabled explicitly. */
  apiKey: string | undefined;
  /** TLS: `true` for the system's roots, a config for a private CA or mTLS, `false` or `undefined` for none. */
  tls: TLSConfig | boolean | undefined;
  /** gRPC metadata sent with every call. */
  metadata: Record<string, string> | undefined;
  /** The config-file profile that was read, when the file has it. */
  profile: { name: string; file: string } | undefined;
  /** What set {@link address}. */
  addressFrom: TemporalAddressSource;
}

/** The Temporal config file or profile asked for cannot be used. */
export class TemporalProfileError extends Error {
  override readonly name = 'TemporalProfileError';
}

/**
 * The environment as envconfig should see it: variables set to the empty string count as unset, as
 * they do for every other setting of the project (envconfig would take `TEMPORAL_ADDRESS=` as an empty
 * address), except `TEMPORAL_GRPC_META_*`, where empty removes a header of the profile.
 */
function envconfigEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (v === '' && !k.startsWith('TEMPORAL_GRPC_META_')) continue;
    out[k] = v;
  }
  return out;
}

/** The config file envconfig reads: `TEMPORAL_CONFIG_FILE`, else its default under the user's config folder. */
function configFileName(env: Record<string, string>): string {
  return env.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml (the default config file)';
}

/**
 * Resolves the Temporal connection from `env` (see the module's precedence).
 * @param env the environment. @default process.env
 * @throws TemporalProfileError when `TEMPORAL_CONFIG_FILE` names a missing file, the config file is not
 *   valid TOML, `TEMPORAL_PROFILE` names a profile the file lacks (the message lists those it has), or a
 *   certificate file of the profile cannot be read.
 */
export function loadTemporalConnection(env: NodeJS.ProcessEnv = process.env): TemporalConnectionSettings {
  const { loadClientConfig, loadClientConnectConfig } = envconfig();
  const vars = envconfigEnv(env);
  const file = configFileName(vars);
  if (vars.TEMPORAL_CONFIG_FILE !== undefined && !fs.existsSync(vars.TEMPORAL_CONFIG_FILE)) {
    throw new TemporalProfileError(`TEMPORAL_CONFIG_FILE=${vars.TEMPORAL_CONFIG_FILE} does not exist; create it or unset the variable.`);
  }
  let profiles: Record<string, { address?: string }>;
  try {
    profiles = loadClientConfig({ overrideEnvVars: vars }).profiles;
  } catch (e) {
    throw new TemporalProfileError(`Cannot read the Temporal config file ${file}: ${(e as Error).message}`, { cause: e });
  }
  const profileName = vars.TEMPORAL_PROFILE;
  if (profileName !== undefined && !Object.hasOwn(profiles, profileName)) {
    const names = Object.keys(profiles);
    throw new TemporalProfileError(
      `TEMPORAL_PROFILE=${profileName}: the Temporal config file ${file} has no [profile.${profileName}] ` +
        `(${names.length ? `its profiles: ${names.join(', ')}` : 'it has no profiles'}).`,
    );
  }
  const name = profileName ?? 'default';
  const fileProfile = Object.hasOwn(profiles, name) ? profiles[name] : undefined;
  let connect: ReturnType<typeof loadClientConnectConfig>;
  try {
    connect = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (e) {
    throw new TemporalProfileError(
      `Cannot load the Temporal connection${fileProfile ? ` of profile ${name} in ${file}` : ''}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const o = connect.connectionOptions;
  const address = o.address ?? DEFAULT_TEMPORAL_ADDRESS;
  return {
    address,
    namespace: connect.namespace ?? DEFAULT_TEMPORAL_NAMESPACE,
    apiKey: typeof o.apiKey === 'string' ? o.apiKey : undefined,
    tls: o.tls ?? undefined,
    metadata: stringMetadata(o.metadata),
    profile: fileProfile ? { name, file } : undefined,
    addressFrom: vars.TEMPORAL_ADDRESS !== undefined ? 'env' : fileProfile?.address !== undefined ? 'profile' : 'default',
  };
}

/** The profile's gRPC metadata (envconfig gives only strings), `undefined` when it has none. */
function stringMetadata(m: Record<string, string | Buffer> | undefined): Record<string, string> | undefined {
  const entries = Object.entries(m ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length ? Object.fromEntries(entries) : undefined;
}

/** What {@link temporalConnectionOptions} needs: the resolved address beside the rest of the connection. */
export interface TemporalConnectionInput {
  temporalAddress: string;
  temporalConnection: Pick<TemporalConnectionSettings, 'apiKey' | 'tls' | 'metadata'>;
}

/**
 * Options for `Connection.connect` (client) and `NativeConnection.connect` (worker): the settings'
 * address with the API key, TLS and metadata of their connection. Every caller builds its connection
 * from this, so a profile's credentials reach the CLI, the workers and the schedules alike.
 */
export function temporalConnectionOptions(s: TemporalConnectionInput): {
  address: string;
  apiKey?: string;
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
} {
  const { apiKey, tls, metadata } = s.temporalConnection;
  return {
    address: s.temporalAddress,
    ...(apiKey !== undefined && { apiKey }),
    ...(tls !== undefined && { tls }),
    ...(metadata !== undefined && { metadata }),
  };
}

/**
 * Whether the Temporal of these settings is the user's own, which the stack must not start: its
 * address comes from a config profile, or it needs an API key or TLS (a dev server has neither).
 */
export function isExternalTemporal(c: Pick<TemporalConnectionSettings, 'addressFrom' | 'apiKey' | 'tls'>): boolean {
  return c.addressFrom === 'profile' || c.apiKey !== undefined || (c.tls !== undefined && c.tls !== false);
}

/** One line naming the connection for messages: address, namespace, profile, TLS/API key. */
export function describeTemporalConnection(s: {
  temporalAddress: string;
  temporalNamespace: string;
  temporalConnection: Pick<TemporalConnectionSettings, 'apiKey' | 'tls' | 'profile'>;
}): string {
  const c = s.temporalConnection;
  const extras = [
    c.profile && `profile ${c.profile.name} of ${c.profile.file}`,
    c.tls !== undefined && c.tls !== false && (typeof c.tls === 'object' && c.tls.clientCertPair ? 'mTLS' : 'TLS'),
    c.apiKey !== undefined && 'API key',
  ].filter(Boolean);
  return `${s.temporalAddress}, namespace ${s.temporalNamespace}${extras.length ? ` (${extras.join(', ')})` : ''}`;
}
