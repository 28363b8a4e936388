/**
 * Jaeger all-in-one as the trace collector of the tests that check traces (`test/traces.test.ts`):
 * Jaeger v1.75.0's `jaeger` command (Jaeger v2, built on the OpenTelemetry Collector; with no
 * configuration it runs all-in-one: OTLP receivers on 4317 (gRPC) and 4318 (HTTP), in-memory storage,
 * the query API and UI on 16686). It is built once per machine from the Go module through the small
 * tools module `tools/jaeger` (`go get -tool github.com/jaegertracing/jaeger/cmd/jaeger@v1.75.0`,
 * go.mod and go.sum committed) into `<stackDir>/bin/jaeger-v1.75.0`, and started only by what needs it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT_DIR } from '../config/env';
import { runCommand, startService, waitForService, type ServiceProcess } from './process';

/** The Jaeger release built. */
export const JAEGER_VERSION = '1.75.0';
/** Ports of the all-in-one defaults. */
export const JAEGER_PORTS = { otlpGrpc: 4317, otlpHttp: 4318, query: 16686 } as const;
/** The tools module whose go.mod pins Jaeger and its dependencies. */
export const JAEGER_TOOLS_DIR = path.join(ROOT_DIR, 'tools', 'jaeger');

/** Where the binary is kept. */
export function jaegerBinaryPath(stackDir: string): string {
  return path.join(stackDir, 'bin', `jaeger-v${JAEGER_VERSION}`);
}

/** Jaeger cannot be built here (no Go). */
export class JaegerUnavailableError extends Error {
  override readonly name = 'JaegerUnavailableError';
}

/**
 * The Jaeger binary, built first when missing (`JAEGER_PATH` names one of your own instead). The build
 * writes a temporary name and renames it, so an interrupted build leaves nothing that looks complete.
 * @throws JaegerUnavailableError when Go is missing
 * @throws CommandFailedError with the command line and its output when `go build` fails
 */
export async function ensureJaeger(stackDir: string, log: (msg: string) => void = console.log): Promise<{ bin: string; buildMs: number }> {
  const fromEnv = process.env.JAEGER_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new JaegerUnavailableError(`JAEGER_PATH=${fromEnv} does not exist`);
    return { bin: fromEnv, buildMs: 0 };
  }
  const bin = jaegerBinaryPath(stackDir);
  if (fs.existsSync(bin)) return { bin, buildMs: 0 };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new JaegerUnavailableError(`Jaeger ${JAEGER_VERSION} is built with Go, and \`go version\` failed; install Go or set JAEGER_PATH`);
  }
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  log(`Building Jaeger ${JAEGER_VERSION} into ${bin}, once per machine (a few minutes)…`);
  const t0 = Date.now();
  const tmp = `${bin}.partial-${process.pid}`;
  try {
    await runCommand('nice', ['-n', '10', 'go', '-C', JAEGER_TOOLS_DIR, 'build', '-o', tmp, 'github.com/jaegertracing/jaeger/cmd/jaeger'], {
      env: { ...process.env, GOFLAGS: '-buildvcs=false -mod=mod', GO111MODULE: 'on' },
      quiet: true,
    });
    fs.renameSync(tmp, bin);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const buildMs = Date.now() - t0;
  log(`Built Jaeger in ${(buildMs / 1000).toFixed(0)} s.`);
  return { bin, buildMs };
}

/**
 * Starts Jaeger all-in-one on loopback (its defaults, see the module comment) and waits for its OTLP
 * HTTP receiver and query API. Stop it with the returned service's `stop()`.
 * @throws Error with the end of its log when it exits or does not listen within 60 s
 */
export async function startJaeger(stackDir: string, bin: string): Promise<ServiceProcess> {
  const svc = startService('jaeger', bin, [], path.join(stackDir, 'logs'));
  await waitForService(svc, 'Jaeger (OTLP/HTTP)', '127.0.0.1', JAEGER_PORTS.otlpHttp, 60_000);
  await waitForService(svc, 'Jaeger (query)', '127.0.0.1', JAEGER_PORTS.query, 60_000);
  return svc;
}
