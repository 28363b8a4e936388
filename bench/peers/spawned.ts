/**
 * A peer process of the bench (Telegraf, a Python script): spawned with piped stdio, its output lines
 * handed to a callback as they arrive (so the bench sees each commit when it happens), its last lines
 * kept for error messages, its CPU read from `/proc/<pid>/stat` before it is stopped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { pidCpuMs } from './proc';

/** Lines of output kept for an error message. */
const TAIL_LINES = 15;

/** A running peer process. */
export interface Spawned {
  readonly child: ChildProcess;
  /** The command line, for error messages. */
  readonly commandLine: string;
  /** Exit code once it has exited (null: killed by a signal), undefined while running. */
  exitCode(): number | null | undefined;
  /** The last lines of stdout and stderr. */
  tail(): string;
  /** utime + stime of the process so far, ms (undefined once it has exited). */
  cpuMs(): number | undefined;
  /** Resolves when `check()` holds; rejects when the process exits first or after `timeoutMs`. */
  waitFor(check: () => boolean, what: string, timeoutMs: number): Promise<void>;
  /** Writes a line to its stdin. */
  send(line: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** `cmd` with its arguments as a shell would show them. */
export function quote(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Spawns `cmd args`; `onLine` gets every line of stdout and stderr as it arrives. */
export function spawnPeer(
  cmd: string,
  args: readonly string[],
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
  o: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const commandLine = quote(cmd, args);
  const tail: string[] = [];
  let code: number | null | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (c) => {
      code = c;
      resolve();
    });
    child.once('error', (e) => {
      spawnError = e;
      code = null;
      tail.push(String(e));
      resolve();
    });
  });
  for (const [stream, input] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const) {
    readline.createInterface({ input }).on('line', (line) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      onLine(line, stream);
    });
  }
  // A peer must not outlive the bench.
  const guard = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
  guard.unref();
  void exited.then(() => clearTimeout(guard));
  return {
    child,
    commandLine,
    exitCode: () => code,
    tail: () => tail.join('\n'),
    cpuMs: () => (code === undefined ? pidCpuMs(child.pid) : undefined),
    async waitFor(check, what, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (!check()) {
        if (code !== undefined)
          throw new Error(
            `${what}: \`${commandLine}\` exited with ${code}${spawnError ? ` (${spawnError.message})` : ''}; last output:\n${tail.join('\n')}`,
          );
        if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms; \`${commandLine}\`, last output:\n${tail.join('\n')}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async stop(graceMs = 5000) {
      if (code !== undefined) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Result of {@link runCommand}. */
export interface CommandResult {
  ok: boolean;
  /** On failure: the command line and the tail of its output. */
  error?: string;
  stdout: string;
}

/** Runs a command to its end; a failure gives its command line and the tail of its output. */
export function runCommand(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): CommandResult {
  const r = spawnSync(cmd, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    encoding: 'utf8',
    timeout: o.timeoutMs,
    maxBuffer: 64 * 2 ** 20,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status === 0) return { ok: true, stdout: r.stdout };
  const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
  const tail = out.trim().split('\n').slice(-TAIL_LINES).join('\n');
  return { ok: false, stdout: r.stdout ?? '', error: `\`${quote(cmd, args)}\` failed (${why}):\n${tail}` };
}
