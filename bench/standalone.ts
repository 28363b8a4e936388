/** Running one bench section on its own (`node --import tsx bench/<section>/main.ts …`). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * When the module at `moduleUrl` is the process's entry, runs `run` with a reader of numeric `--name N`
 * arguments, prints its markdown and exits 0 (1 with the error on failure).
 */
export function runIfMain(moduleUrl: string, run: (arg: (name: string) => number | undefined) => Promise<{ markdown: string }>): void {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  run(arg)
    .then((r) => {
      console.log(r.markdown);
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
