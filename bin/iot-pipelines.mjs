#!/usr/bin/env node
// CLI entry: runs the compiled JavaScript in dist/ (built by `npm install`, see scripts/build.mjs).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error(
    'error: dist/cli.js is missing: the CLI runs compiled code. Build it with `npm run build` ' +
      '(`npm install` does it too), then run the command again.',
  );
  process.exit(1);
}
await import(cli.href);
