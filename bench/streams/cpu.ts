/**
 * CPU time of the processes taking part in a measurement, to explain where a throughput ceiling comes
 * from: this process (`process.cpuUsage`), and, on Linux, every local process whose command line
 * matches a pattern (utime + stime of `/proc/<pid>/stat`, fields 14 and 15, in clock ticks of 1/100 s,
 * see proc(5)). Elsewhere, or for a remote server, the figure is `undefined`.
 */
import fs from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Sum of utime + stime, ms, of local processes whose command line matches `pattern`; undefined without /proc. */
export function processesCpuMs(pattern: RegExp): number | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (!pattern.test(cmd)) continue;
      // The command name (field 2) is in parentheses and may contain spaces: split after it.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      found = true;
    } catch {
      // The process ended while we read it.
    }
  }
  return found ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
}

/** CPU used during a measurement, ms per process group; undefined where it could not be read. */
export interface CpuSplit {
  /** This Node.js process (consumer, parsing, PostgreSQL client). */
  node: number;
  /** Local PostgreSQL server processes. */
  postgres: number | undefined;
  /** Local Kafka broker (a JVM running `kafka.Kafka`). */
  kafka: number | undefined;
}

const POSTGRES = /(^|\/)postgres(\s|$)|^postgres:/;
const KAFKA_BROKER = /kafka\.Kafka\b/;

/** Starts measuring; call the returned function at the end for the CPU used in between. */
export function startCpuSplit(): () => CpuSplit {
  const node0 = process.cpuUsage();
  const pg0 = processesCpuMs(POSTGRES);
  const kafka0 = processesCpuMs(KAFKA_BROKER);
  return () => {
    const node = process.cpuUsage(node0);
    const pg1 = processesCpuMs(POSTGRES);
    const kafka1 = processesCpuMs(KAFKA_BROKER);
    return {
      node: (node.user + node.system) / 1000,
      postgres: pg0 !== undefined && pg1 !== undefined ? pg1 - pg0 : undefined,
      kafka: kafka0 !== undefined && kafka1 !== undefined ? kafka1 - kafka0 : undefined,
    };
  };
}
