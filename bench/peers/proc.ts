/**
 * CPU time of single processes and of this stack's servers, from `/proc/<pid>/stat` (utime, stime,
 * cutime, cstime: fields 14–17, clock ticks of 1/100 s, see proc(5)). Unlike `bench/streams/cpu.ts`,
 * which matches every PostgreSQL on the machine, the servers here are found by this worktree's stack
 * folder, so another engineer's stack on the same machine is not counted.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  /** utime + stime, ticks. */
  self: number;
  /** cutime + cstime (children that exited and were waited for), ticks. */
  children: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  try {
    return fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** utime + stime of one process (all its threads), ms; undefined when it is gone or there is no /proc. */
export function pidCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const s = readStat(pid);
  return s ? (s.self * 1000) / TICKS_PER_SECOND : undefined;
}

/**
 * CPU of a process tree, ms: the root's own and waited-for children's time plus every live
 * descendant's own time (a PostgreSQL backend that ended during the measurement is in its parent's
 * cutime/cstime once the postmaster has reaped it).
 */
function treeCpuMs(root: number): number | undefined {
  const rootStat = readStat(root);
  if (!rootStat) return undefined;
  const stats = new Map<number, Stat>();
  for (const pid of allPids()) {
    const s = readStat(pid);
    if (s) stats.set(pid, s);
  }
  let ticks = rootStat.self + rootStat.children;
  const inTree = new Set([root]);
  // Walk down from the root (PostgreSQL's tree is two levels deep; loop until nothing is added).
  for (let added = true; added;) {
    added = false;
    for (const [pid, s] of stats) {
      if (!inTree.has(pid) && inTree.has(s.ppid)) {
        inTree.add(pid);
        ticks += s.self;
        added = true;
      }
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** The first process whose command line matches `pattern`. */
function findPid(pattern: RegExp): number | undefined {
  return allPids().find((pid) => pattern.test(cmdline(pid)));
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** CPU of this stack's servers, ms; undefined where a server was not found. */
export interface ServersCpu {
  postgres: number | undefined;
  mosquitto: number | undefined;
  kafka: number | undefined;
}

/**
 * Reads the CPU used so far by this stack's PostgreSQL (postmaster of `<stackDir>/postgres/data` and
 * its backends), Mosquitto (`-c <stackDir>/…`) and Kafka broker (`kafka.Kafka <stackDir>/…`).
 */
export function serversCpuMs(stackDir: string): ServersCpu {
  let postgres: number | undefined;
  try {
    const pid = Number(fs.readFileSync(path.join(stackDir, 'postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    postgres = Number.isInteger(pid) && pid > 0 ? treeCpuMs(pid) : undefined;
  } catch {
    postgres = undefined;
  }
  return {
    postgres,
    mosquitto: pidCpuMs(findPid(new RegExp(`^\\S*mosquitto -c ${escape(stackDir)}/`))),
    kafka: pidCpuMs(findPid(new RegExp(`\\bkafka\\.Kafka ${escape(stackDir)}/`))),
  };
}

/** Starts measuring the servers; the returned function gives the CPU each used since, ms. */
export function startServersCpu(stackDir: string): () => ServersCpu {
  const a = serversCpuMs(stackDir);
  return () => {
    const b = serversCpuMs(stackDir);
    const d = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined ? y - x : undefined);
    return { postgres: d(a.postgres, b.postgres), mosquitto: d(a.mosquitto, b.mosquitto), kafka: d(a.kafka, b.kafka) };
  };
}
