/**
 * Telegraf as a producer of InfluxDB line protocol for the tests of `format: influx` sources: a custom
 * build of a pinned release with only the plugins those tests use, built once per machine into the
 * stack folder (`<stackDir>/bin/telegraf-<version>-influx`, git-ignored) and reused afterwards.
 *
 * The build follows Telegraf's docs/CUSTOMIZATION.md ("Via `go build`"): the module
 * `github.com/influxdata/telegraf@<version>` is fetched through the Go module proxy (`go mod download`),
 * then `go build -tags "custom,<plugins>" ./cmd/telegraf` runs in its folder (the `custom` tag selects
 * only the named plugins: without it every plugin is compiled). Measured on this 2-core machine with a
 * warm module cache of the dependencies: see the README section "Connect your own devices".
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CommandFailedError, commandLine, indentedTail, runCommand } from './process';

/** The Telegraf release built. */
export const TELEGRAF_VERSION = '1.37.2';

/** The Go module (and version) the build fetches through the Go module proxy. */
export const TELEGRAF_MODULE = `github.com/influxdata/telegraf@v${TELEGRAF_VERSION}`;

/**
 * Plugins compiled in, as Telegraf's build tags (`plugins/<category>/all/*.go` name them), those
 * `test/telegraf-influx.test.ts` configures: the inputs (own CPU and memory metrics, a data set
 * replayed with `inputs.file`), the outputs to the brokers and to files (the test's own record of what
 * was sent), the CSV parser of the replay, and the serializers of line protocol (`data_format =
 * "influx"`) and JSON (the second, independent record).
 */
export const TELEGRAF_PLUGINS = [
  'inputs.cpu',
  'inputs.mem',
  'inputs.file',
  'outputs.mqtt',
  'outputs.kafka',
  'outputs.file',
  'parsers.csv',
  'serializers.influx',
  'serializers.json',
] as const;

/** The `-tags` value of the build: `custom` and {@link TELEGRAF_PLUGINS}. */
export const TELEGRAF_BUILD_TAGS = ['custom', ...TELEGRAF_PLUGINS].join(',');

/**
 * Where the binary is kept: `telegraf-<version>-influx-<8 hex digits of the SHA-256 of the build tags>`,
 * so a build with other plugins (the bench's `telegraf`, or this one before a plugin was added) is
 * never taken for it.
 */
export function telegrafBinaryPath(stackDir: string): string {
  const tags = createHash('sha256').update(TELEGRAF_BUILD_TAGS).digest('hex').slice(0, 8);
  return path.join(stackDir, 'bin', `telegraf-${TELEGRAF_VERSION}-influx-${tags}`);
}

/**
 * The plugins of {@link TELEGRAF_PLUGINS} a Telegraf binary lacks, from its own list (`telegraf plugins`,
 * one `<category>.<name>` a line).
 * @throws TelegrafUnavailableError when the binary cannot list its plugins
 */
export function missingTelegrafPlugins(bin: string): string[] {
  const r = spawnSync(bin, ['plugins'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new TelegrafUnavailableError(
      `\`${commandLine(bin, ['plugins'])}\` ${r.error ? `could not run (${r.error.message})` : `failed:\n${indentedTail(`${r.stdout}\n${r.stderr}`)}`}`,
    );
  }
  const has = new Set(r.stdout.split('\n').map((l) => l.trim()));
  return TELEGRAF_PLUGINS.filter((p) => !has.has(p));
}

/** Telegraf cannot be built here (no Go). The build's own failures are `CommandFailedError`s with the command line and output. */
export class TelegrafUnavailableError extends Error {
  override readonly name = 'TelegrafUnavailableError';
  constructor(
    /** Why, with what to do about it. */
    readonly reason: string,
  ) {
    super(`Telegraf ${TELEGRAF_VERSION} is not available: ${reason}`);
  }
}

/** What {@link ensureTelegraf} returns. */
export interface TelegrafBinary {
  /** Absolute path of the binary. */
  bin: string;
  /** True when this call built it. */
  built: boolean;
  /** Wall time of the build in ms (0 when it was already there). */
  buildMs: number;
}

/**
 * Returns the Telegraf binary of {@link telegrafBinaryPath}, building it first when it is missing
 * (`TELEGRAF_PATH` names a binary of your own instead; it must have the plugins of {@link TELEGRAF_PLUGINS},
 * which is checked).
 * The build writes to a temporary name and renames at the end, so an interrupted build leaves nothing
 * that looks complete; it runs at `nice 10` so the machine stays usable (a few minutes on 2 cores).
 * @param stackDir the stack folder (`settings.stackDir`)
 * @param log progress lines (the start of a build and its duration)
 * @throws TelegrafUnavailableError when `TELEGRAF_PATH` does not exist or lacks a plugin, or no binary exists and Go is not installed
 * @throws CommandFailedError (from `./process`) with the shell-quoted command line and the last lines of its output when `go mod download` or `go build` fails
 */
export async function ensureTelegraf(stackDir: string, log: (msg: string) => void = console.log): Promise<TelegrafBinary> {
  const fromEnv = process.env.TELEGRAF_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new TelegrafUnavailableError(`TELEGRAF_PATH=${fromEnv} does not exist`);
    const missing = missingTelegrafPlugins(fromEnv);
    if (missing.length) throw new TelegrafUnavailableError(`TELEGRAF_PATH=${fromEnv} lacks the plugins ${missing.join(', ')}`);
    return { bin: fromEnv, built: false, buildMs: 0 };
  }
  const bin = telegrafBinaryPath(stackDir);
  if (fs.existsSync(bin)) return { bin, built: false, buildMs: 0 };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new TelegrafUnavailableError(
      `it is built from source with Go, and \`go version\` ${go.error ? `could not run (${go.error.message})` : `failed: ${go.stderr.trim()}`}; install Go, or set TELEGRAF_PATH to a Telegraf ${TELEGRAF_VERSION} binary with ${TELEGRAF_PLUGINS.join(', ')}`,
    );
  }
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  log(`Building Telegraf ${TELEGRAF_VERSION} (plugins: ${TELEGRAF_PLUGINS.join(', ')}) into ${bin}, once per machine…`);
  const t0 = Date.now();
  const env = { ...process.env, GOFLAGS: '-buildvcs=false', GO111MODULE: 'on' };
  // The module's folder in the module cache (read-only; the build writes only its -o output).
  const dl = ['mod', 'download', '-json', TELEGRAF_MODULE];
  const r = spawnSync('go', dl, { encoding: 'utf8', env, cwd: path.dirname(bin), maxBuffer: 16 * 1024 * 1024 });
  let dir: string | undefined;
  try {
    dir = (JSON.parse(r.stdout) as { Dir?: string }).Dir;
  } catch {
    dir = undefined;
  }
  if (r.status !== 0 || !dir) {
    throw new CommandFailedError(
      commandLine('go', dl),
      r.error ? `could not be started: ${r.error.message}` : `exit code ${r.status}`,
      indentedTail(`${r.stdout}\n${r.stderr}`),
    );
  }
  const tmp = `${bin}.partial-${process.pid}`;
  try {
    await runCommand(
      'nice',
      [
        '-n',
        '10',
        'go',
        '-C',
        dir,
        'build',
        '-tags',
        TELEGRAF_BUILD_TAGS,
        '-ldflags',
        `-s -w -X github.com/influxdata/telegraf/internal.Version=${TELEGRAF_VERSION}`,
        '-o',
        tmp,
        './cmd/telegraf',
      ],
      { env, quiet: true },
    );
    fs.renameSync(tmp, bin);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const buildMs = Date.now() - t0;
  log(`Telegraf built in ${(buildMs / 1000).toFixed(0)} s`);
  return { bin, built: true, buildMs };
}
