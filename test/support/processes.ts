/** Child processes of the project's own CLI, for tests that kill a worker for real. */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { commandLine, isPortOpen } from '../../src/stack/process';
import path from 'node:path';
import { ROOT_DIR } from '../../src/config/env';

/** Spawns `iot-pipelines <args>` with extra environment; output is kept for failure messages. */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [path.join(ROOT_DIR, 'bin', 'iot-pipelines.mjs'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/**
 * Spawns the compiled `iot-pipelines worker` with extra environment and waits until it polls its task
 * queue (up to 120 s: the first start may bundle the workflows).
 * @throws Error when it exits first or does not poll in time (it is then killed), with its output
 */
export async function startCliWorker(env: Record<string, string>): Promise<ChildProcess & { output: () => string }> {
  const w = spawnCli(['worker'], env);
  try {
    await waitFor(
      'the compiled worker to poll',
      () => w.output().includes('Worker polling task queue') || w.exitCode !== null,
      120_000,
      100,
    );
  } catch (e) {
    w.kill('SIGKILL');
    throw new Error(`${(e as Error).message}; its output:\n${w.output()}`);
  }
  if (w.exitCode !== null) throw new Error(`iot-pipelines worker exited with ${w.exitCode} before polling:\n${w.output()}`);
  return w;
}

/** A command that ran to its exit (see {@link runToExit}). */
export interface FinishedProcess {
  /** The command line, shell-quoted to paste back. */
  commandLine: string;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** Standard output and error, interleaved as written. */
  output: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

/**
 * Runs a command to its exit without blocking the event loop (a worker in this process keeps
 * polling), keeping its output. Killed with SIGKILL after `timeoutMs`; the result then says so
 * (`signal`), it does not throw.
 * @throws Error when the command cannot be started, with its command line
 */
export function runToExit(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<FinishedProcess> {
  const line = commandLine(command, args);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`\`${line}\` could not be started: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ commandLine: line, code, signal, output, ms: Date.now() - t0 });
    });
  });
}

/**
 * The exit code of `child` once it has exited (null when a signal ended it).
 * @throws Error after `timeoutMs` when it is still running.
 */
export function exitOf(child: ChildProcess, timeoutMs = 120_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Kills with SIGKILL (no cleanup, like a crashed machine) and waits for the exit. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Polls `check` until it returns true. @throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A free TCP port on 127.0.0.1 in 20000–29999, for a test's own server. */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if (!(await isPortOpen('127.0.0.1', p))) return p;
  }
}

/**
 * Spawns a worker process with only the stream workflows and activities (bench/streams/worker.ts) and
 * waits until it polls; tests kill it for real.
 * @throws when the process exits before it is ready.
 */
export async function spawnStreamWorker(env: Record<string, string>): Promise<ChildProcess & { output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT_DIR, 'bench/streams/worker.ts')], {
    cwd: ROOT_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the stream worker to start', () => out.includes('ready') || child.exitCode !== null, 60_000, 100);
  if (child.exitCode !== null) throw new Error(`stream worker exited: ${out}`);
  return Object.assign(child, { output: () => out });
}

/** A loopback port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
