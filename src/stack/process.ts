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
      throw new Error(
        `${name} exited with code ${child.exitCode} before listening on ${host}:${port}` +
          (logFile ? `; the end of ${logFile}:\n${logTail(logFile)}` : '.'),
      );
    }
    if (await isPortOpen(host, port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${name} did not listen on ${host}:${port} within ${timeoutMs} ms` + (logFile ? `; the end of ${logFile}:\n${logTail(logFile)}` : '.'),
  );
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
 * `<logDir>/<name>.pid`. It runs in a process group of its own and is stopped by its `stop()` (the
 * stack's signal handling calls it).
 */
export function startService(name: string, command: string, args: string[], logDir: string, env?: NodeJS.ProcessEnv): ServiceProcess {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const out = fs.openSync(logFile, 'a');
  fs.writeSync(out, `${new Date().toISOString()} $ ${commandLine(command, args)}\n`);
  // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and a service
  // that stopped at once (Temporal) would be gone before the program had stopped what uses it (the
  // worker). The program stops its services itself, in order (stack/index.ts).
  const child = spawn(command, args, { stdio: ['ignore', out, out], env: env ?? process.env, detached: true });
  fs.closeSync(out);
  // A binary that cannot be run: said in the log, whose tail the start's error shows.
  child.once('error', (e) => fs.appendFileSync(logFile, `${name} could not be started: ${e.message}\n`));
  const pidFile = path.join(logDir, `${name}.pid`);
  if (child.pid !== undefined) fs.writeFileSync(pidFile, String(child.pid));
  const svc: ServiceProcess = {
    name,
    child,
    logFile,
    stop: async () => {
      await stopChild(child, pidFile);
      liveServices.delete(svc);
    },
  };
  liveServices.add(svc);
  return svc;
}

/** Services started by {@link startService} in this process and not stopped yet. */
const liveServices = new Set<ServiceProcess>();

// A process that ends without stopping its services (an uncaught exception, `process.exit`) still
// ends them: `exit` handlers run synchronously, so each service's process group gets SIGTERM.
process.on('exit', () => {
  for (const s of liveServices) {
    const pid = s.child.pid;
    if (pid === undefined || s.child.exitCode !== null || s.child.signalCode !== null) continue;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
});

/** Stops every service this process started that is still running (a signal during start-up). */
export async function stopLiveServices(): Promise<void> {
  await Promise.allSettled([...liveServices].map((s) => s.stop()));
}

async function stopChild(child: ChildProcess, pidFile: string, graceMs = 10_000): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(pidFile, { force: true });
}

/** How many trailing lines of a failed command's output its error shows. @default 40 */
export const OUTPUT_TAIL_LINES = 40;
const TAIL_BYTES = 64 * 1024;

/**
 * Quotes one argument for a POSIX shell when it needs it, so a printed command line can be pasted back.
 * Arguments of only `[A-Za-z0-9_./:=@%+,-]` are left as they are.
 */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line as a user would type it. */
export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map(shellQuote).join(' ');
}

/** The last `lines` lines of `text`, each indented by two spaces; `(no output)` when empty. */
export function indentedTail(text: string, lines = OUTPUT_TAIL_LINES): string {
  const all = text.replace(/\s+$/, '').split('\n');
  if (all.length === 1 && all[0] === '') return '  (no output)';
  const tail = all.slice(-lines);
  return (all.length > lines ? `  … (${all.length - lines} earlier lines)\n` : '') + tail.map((l) => `  ${l}`).join('\n');
}

/** The last `lines` lines of a log file (its last 64 KiB), indented; a note when it cannot be read. */
export function logTail(file: string, lines = OUTPUT_TAIL_LINES): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, TAIL_BYTES);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return indentedTail(buf.toString('utf8'), lines);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `  (could not read ${file}: ${(e as Error).message})`;
  }
}

/** A provisioning command that could not start or exited unsuccessfully. */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
  constructor(
    /** The command line, shell-quoted. */
    readonly commandLine: string,
    /** `exit code N`, the signal's name, or why it could not start. */
    readonly outcome: string,
    /** The last lines of its standard output and error, interleaved as written. */
    readonly outputTail: string,
  ) {
    super(`\`${commandLine}\` failed (${outcome}). Its last output:\n${outputTail}`);
  }
}

/**
 * Runs a command to completion without blocking the event loop (other services keep starting). Its
 * output is kept (the last 64 KiB) for the error, and also shown as it runs unless `quiet`.
 * @returns its standard output (all of it)
 * @throws CommandFailedError with the shell-quoted command line, the exit code or signal, and the last
 *   {@link OUTPUT_TAIL_LINES} lines of its output, when it cannot be started or does not exit with 0.
 */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let kept = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const keep = (to: NodeJS.WriteStream) => (d: Buffer) => {
      kept += d.toString('utf8');
      if (kept.length > TAIL_BYTES * 2) kept = kept.slice(-TAIL_BYTES);
      if (!options.quiet) to.write(d);
    };
    child.stdout.on('data', keep(process.stdout));
    child.stderr.on('data', keep(process.stderr));
    const line = commandLine(command, args);
    child.once('error', (e) => reject(new CommandFailedError(line, `could not be started: ${e.message}`, indentedTail(kept))));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new CommandFailedError(line, signal ?? `exit code ${code}`, indentedTail(kept)));
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
