/**
 * Helpers to run a stack service as a child process: port probes, start with a log file and a pid
 * file, stop on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Resolves true when a TCP connection to `host:port` succeeds within `timeoutMs`. */
export function isPortOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Waits until `host:port` accepts connections.
 * @throws Error naming the service and its log file when `timeoutMs` passes or the process exits.
 */
export async function waitForPort(
  name: string,
  host: string,
  port: number,
  timeoutMs: number,
  child?: ChildProcess,
  logFile?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`${name} exited with code ${child.exitCode} before listening on ${host}:${port}; see ${logFile ?? 'its log'}.`);
    }
    if (await isPortOpen(host, port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not listen on ${host}:${port} within ${timeoutMs} ms; see ${logFile ?? 'its log'}.`);
}

/** A service process started by the stack. */
export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Spawns `command args` with stdout/stderr appended to `<logDir>/<name>.log` and a pid file in
 * `<logDir>/<name>.pid`. The process is not detached, so it dies with its parent's process group.
 */
export function startService(name: string, command: string, args: string[], logDir: string, env?: NodeJS.ProcessEnv): ServiceProcess {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], env: env ?? process.env });
  fs.closeSync(out);
  const pidFile = path.join(logDir, `${name}.pid`);
  if (child.pid !== undefined) fs.writeFileSync(pidFile, String(child.pid));
  return {
    name,
    child,
    logFile,
    stop: () => stopChild(child, pidFile),
  };
}

async function stopChild(child: ChildProcess, pidFile: string, graceMs = 10_000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(pidFile, { force: true });
}

/**
 * Runs a command to completion without blocking the event loop (other services keep starting).
 * @throws Error with the command line and exit code when it fails.
 */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; quiet?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: options.quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'],
      env: options.env ?? process.env,
    });
    child.once('error', (e) => reject(new Error(`${command} could not be started: ${e.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`\`${[command, ...args].join(' ')}\` failed (${signal ?? `exit code ${code}`}).`));
    });
  });
}

/**
 * Waits for a started service's port; stops the service when it does not come up, so nothing is left
 * running after a failed start.
 */
export async function waitForService(
  svc: ServiceProcess,
  name: string,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<ServiceProcess> {
  try {
    await waitForPort(name, host, port, timeoutMs, svc.child, svc.logFile);
    return svc;
  } catch (e) {
    await svc.stop();
    throw e;
  }
}

/** Splits `host:port` into its parts. @throws Error when the port is missing or not a number. */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new Error(`Address ${JSON.stringify(address)} is not host:port.`);
  return { host: address.slice(0, i), port };
}
