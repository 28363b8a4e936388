/**
 * Start-up benchmark (issue 15, "compiled, lazily loaded"): whole processes started from the command
 * line, the way a user runs them, each timed from spawn to exit (or to a line it prints) by this
 * process, several runs after a warm-up, the variants of one command interleaved (A B C A B C …) so
 * that a change in the machine's load falls on all of them alike:
 *
 * - `iot-pipelines --help`: compiled (`node bin/iot-pipelines.mjs`, dist/) beside today's path
 *   (`node --import tsx src/cli/main.ts`, TypeScript compiled at start, every module imported);
 * - `iot-pipelines models build` of bench/models/project (the models bench's project, database set-up
 *   and dbt virtualenv, see bench/models/main.ts), compiled and through tsx, beside `dbt build` of the
 *   same project against the same database;
 * - `iot-pipelines worker` on a task queue of its own (`TASK_QUEUE`), from spawn until it prints
 *   `Worker polling task queue`, then SIGINT.
 *
 * Each figure is reported beside its target (`--help` ≤ 150 ms; `models build` ≤ 0.45 s and ≥ 10×
 * `dbt build` of the same run; worker polling ≤ 1.5 s after start). Run it with
 * `npm run bench -- --only=startup --soak-seconds=0`, or alone: `node --import tsx bench/startup.ts`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseUrl, loadSettings, ROOT_DIR, type Settings } from '../src/config/env';
import { createDatabase, DBT, dbtBuildArgs, dbtEnv, ensureDbt, loadRaw, PROJECT, THREADS, writeProfile } from './models/main';
import { summarize } from './stats';

/** Counted runs of each variant. @default 7 */
export const RUNS = 7;
/** Runs of each variant before the counted ones. @default 1 */
export const WARMUP = 1;

/** The targets of issue 15 on this (2-core) machine. */
export const TARGETS = {
  /** `iot-pipelines --help`, wall ms. */
  helpMs: 150,
  /** `iot-pipelines models build` of the bench project, whole process, wall s. */
  modelsBuildSeconds: 0.45,
  /** `dbt build` wall / `models build` wall, medians of the same run. */
  modelsSpeedup: 10,
  /** Worker process start → `Worker polling task queue`, wall ms. */
  workerPollingMs: 1500,
} as const;

/** How a command is started: the compiled CLI, today's tsx path, dbt, or bare Node.js (`node -e 0`). */
export type Variant = 'dist' | 'tsx' | 'dbt' | 'node';

/** One variant's wall times. */
export interface Figure {
  variant: Variant;
  /** The command line, for the report (paths relative to the repository). */
  command: string;
  /** Wall ms of each counted run, in run order. */
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/** What {@link runStartupBench} measured. */
export interface StartupBenchResult {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string };
  runs: number;
  warmup: number;
  /** 1-minute load average when the bench started and ended (the machine is shared). */
  loadAverage: { start: number; end: number };
  /** `node`: `node -e 0` in the same rounds, the floor of any Node.js command here. */
  help: { tsx: Figure; dist: Figure; node: Figure; met: boolean };
  modelsBuild: {
    dbtVersion: string;
    tsx: Figure;
    dist: Figure;
    dbt: Figure;
    /** dbt median / compiled `models build` median. */
    speedup: number;
    met: { seconds: boolean; speedup: boolean };
  };
  worker: { tsx: Figure; dist: Figure; met: boolean };
  targets: typeof TARGETS;
}

/** The compiled CLI and today's path, as argv. */
const CLI: Record<'dist' | 'tsx', string[]> = {
  dist: [process.execPath, path.join(ROOT_DIR, 'bin', 'iot-pipelines.mjs')],
  tsx: [process.execPath, '--import', 'tsx', path.join(ROOT_DIR, 'src', 'cli', 'main.ts')],
};

const rel = (p: string) => (path.isAbsolute(p) ? path.relative(ROOT_DIR, p) || '.' : p);
const display = (argv: string[]) => argv.map((a, i) => (i === 0 && a === process.execPath ? 'node' : rel(a))).join(' ');

/** Output kept for an error message: the end of what a process printed. */
const TAIL = 4000;

interface Spawned {
  wallMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Starts `argv` and resolves when it exits (wall ms from just before the spawn to its exit), or, with
 * `until`, when a line of its output matches: then it is sent SIGINT and waited for (SIGKILL after
 * `killAfterMs`), and the wall time is the match's.
 */
function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  opts: { until?: RegExp; timeoutMs?: number; killAfterMs?: number } = {},
): Promise<Spawned> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd!, args, { cwd: ROOT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let matchedMs: number | undefined;
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${display(argv)}: no exit${opts.until ? ` and no ${opts.until}` : ''} within ${opts.timeoutMs} ms:\n${output}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (b: Buffer) => {
      output = (output + b.toString()).slice(-TAIL);
      if (opts.until && matchedMs === undefined && opts.until.test(output)) {
        matchedMs = performance.now() - t0;
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 15_000).unref();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timeout);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      const exitMs = performance.now() - t0;
      clearTimeout(timeout);
      if (opts.until && matchedMs === undefined) {
        reject(new Error(`${display(argv)} exited (${code ?? signal}) before printing ${opts.until}:\n${output}`));
        return;
      }
      resolve({ wallMs: matchedMs ?? exitMs, code, signal, output });
    });
  });
}

/** Runs of one variant, collected over the interleaved rounds. */
class Series {
  readonly runsMs: number[] = [];
  constructor(
    readonly variant: Variant,
    readonly argv: string[],
  ) {}
  figure(): Figure {
    const s = summarize(this.runsMs);
    return { variant: this.variant, command: display(this.argv), runsMs: this.runsMs, medianMs: s.p50, minMs: s.min, maxMs: s.max };
  }
}

/**
 * Runs every series `warmup + runs` times, one run of each in turn; the warm-up rounds are not counted.
 * @throws Error when a run exits non-zero (with what it printed).
 */
async function interleave(
  series: Series[],
  rounds: { runs: number; warmup: number },
  exec: (s: Series) => Promise<Spawned>,
  okCodes: (number | null)[] = [0],
): Promise<void> {
  for (let i = 0; i < rounds.warmup + rounds.runs; i++) {
    for (const s of series) {
      const r = await exec(s);
      if (!okCodes.includes(r.code)) throw new Error(`${display(s.argv)} exited with ${r.code ?? r.signal}:\n${r.output}`);
      if (i >= rounds.warmup) s.runsMs.push(r.wallMs);
    }
  }
}

/**
 * Runs the benchmark (see the module doc) against the stack of `settings` (Temporal and PostgreSQL
 * must be up; bench/run.ts starts them).
 * @throws Error when a command fails or dbt cannot be installed.
 */
export async function runStartupBench(
  opts: { runs?: number; warmup?: number; settings?: Settings; log?: (line: string) => void } = {},
): Promise<StartupBenchResult> {
  const rounds = { runs: opts.runs ?? RUNS, warmup: opts.warmup ?? WARMUP };
  const settings = opts.settings ?? loadSettings();
  const log = opts.log ?? ((line: string) => console.log(line));
  const loadStart = os.loadavg()[0] ?? NaN;
  const startedAt = new Date().toISOString();
  const cpus = os.cpus();
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: settings.temporalAddress,
    TEMPORAL_NAMESPACE: settings.temporalNamespace,
    DATABASE_URL: databaseUrl(settings),
  };

  // 1. --help.
  log(`  --help: ${rounds.warmup} + ${rounds.runs} runs each, interleaved…`);
  const help = [
    new Series('tsx', [...CLI.tsx, '--help']),
    new Series('dist', [...CLI.dist, '--help']),
    new Series('node', [process.execPath, '-e', '0']),
  ];
  await interleave(help, rounds, (s) => run(s.argv, baseEnv));

  // 2. models build vs dbt build, one database (bench/models/main.ts's set-up).
  log(`  models build vs dbt build: ${rounds.warmup} + ${rounds.runs} runs each, interleaved…`);
  const dbtVersion = ensureDbt();
  const db = await createDatabase();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-startup-'));
  let models: Series[];
  try {
    await loadRaw(db.pool);
    writeProfile(work, db.url);
    const modelsArgs = (variant: string) => [
      'models',
      'build',
      '--project-dir',
      PROJECT,
      '--target-path',
      path.join(work, `${variant}-target`),
      '--threads',
      String(THREADS),
    ];
    const dbtArgv = [DBT, ...dbtBuildArgs(work)];
    models = [
      new Series('dbt', dbtArgv),
      new Series('tsx', [...CLI.tsx, ...modelsArgs('tsx')]),
      new Series('dist', [...CLI.dist, ...modelsArgs('dist')]),
    ];
    const modelsEnv = { ...baseEnv, DATABASE_URL: db.url };
    await interleave(models, rounds, (s) => run(s.argv, s.variant === 'dbt' ? { ...dbtEnv(), DATABASE_URL: db.url } : modelsEnv));
  } finally {
    await db.drop();
    fs.rmSync(work, { recursive: true, force: true });
  }

  // 3. worker start → polling, on a task queue of its own.
  log(`  worker start → polling: ${rounds.warmup} + ${rounds.runs} runs each, interleaved…`);
  const worker = [new Series('tsx', [...CLI.tsx, 'worker']), new Series('dist', [...CLI.dist, 'worker'])];
  const workerEnv = { ...baseEnv, TASK_QUEUE: `bench-startup-${randomUUID()}` };
  await interleave(
    worker,
    rounds,
    (s) => run(s.argv, workerEnv, { until: /Worker polling task queue/, timeoutMs: 120_000 }),
    // Ctrl-C: the worker shuts down and exits 0 (a signal exit is accepted too).
    [0, 130, null],
  );

  const [helpTsx, helpDist, bareNode] = help.map((s) => s.figure()) as [Figure, Figure, Figure];
  const [dbt, modelsTsx, modelsDist] = models.map((s) => s.figure()) as [Figure, Figure, Figure];
  const [workerTsx, workerDist] = worker.map((s) => s.figure()) as [Figure, Figure];
  const speedup = dbt.medianMs / modelsDist.medianMs;
  log(
    `  medians (today → compiled): --help ${Math.round(helpTsx.medianMs)} → ${Math.round(helpDist.medianMs)} ms (node -e 0: ${Math.round(bareNode.medianMs)} ms); ` +
      `models build ${Math.round(modelsTsx.medianMs)} → ${Math.round(modelsDist.medianMs)} ms (dbt build ${Math.round(dbt.medianMs)} ms); ` +
      `worker polling ${Math.round(workerTsx.medianMs)} → ${Math.round(workerDist.medianMs)} ms`,
  );
  return {
    startedAt,
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown', node: process.versions.node },
    runs: rounds.runs,
    warmup: rounds.warmup,
    loadAverage: { start: loadStart, end: os.loadavg()[0] ?? NaN },
    help: { tsx: helpTsx, dist: helpDist, node: bareNode, met: helpDist.medianMs <= TARGETS.helpMs },
    modelsBuild: {
      dbtVersion,
      tsx: modelsTsx,
      dist: modelsDist,
      dbt,
      speedup,
      met: { seconds: modelsDist.medianMs <= TARGETS.modelsBuildSeconds * 1000, speedup: speedup >= TARGETS.modelsSpeedup },
    },
    worker: { tsx: workerTsx, dist: workerDist, met: workerDist.medianMs <= TARGETS.workerPollingMs },
    targets: TARGETS,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { renderStartup } = await import('./report');
  runStartupBench()
    .then((r) => {
      console.log(renderStartup(r).join('\n'));
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
