#!/usr/bin/env node
// Smoke test of the README's main command, run by .ci/run after the tests on the same clean clone:
// `npm start` until the main job has run the sensor pipeline (its summary and "Press Ctrl-C"), then
// Ctrl-C as a terminal sends it (SIGINT to the whole process group). Passes when npm exits 0 within
// 60 s, no process of the group is left, and the stack's ports and pid files are gone.
// Prints one line `smoke: npm start … passed|failed: <why>` and exits 0 or 1.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const READY_TIMEOUT_MS = 15 * 60_000; // a first run may build the Temporal CLI
const EXIT_TIMEOUT_MS = 60_000;
const PORTS = [7233, 54329, 1883, 8090];

const portOpen = (port) =>
  new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => (s.destroy(), resolve(ok));
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });

function groupMembers(pgid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, , pg] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pg) === pgid && state !== 'Z')
        out.push(`${e} ${fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function pidFiles() {
  const dir = path.join(ROOT, '.stack');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.pid'))
    .map((f) => path.join('.stack', f));
}

const fail = (why, output) => {
  console.log(output.split('\n').slice(-60).join('\n'));
  console.log(`smoke: npm start, then Ctrl-C: failed: ${why}`);
  process.exit(1);
};

const busy = [];
for (const p of PORTS) if (await portOpen(p)) busy.push(p);
if (busy.length) fail(`ports ${busy.join(', ')} are in use before the start (a stack is already running)`, '');

const t0 = Date.now();
// What `npm start` runs (package.json), without npm in between: after Ctrl-C npm reports the signal
// (exit 130) whatever its script returned, so the exit code checked is the main job's own.
const child = spawn(process.execPath, ['dist/cli.js', 'start'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
child.stdout.on('data', (d) => (output += d));
child.stderr.on('data', (d) => (output += d));
const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

const ready = await Promise.race([
  new Promise((resolve) => {
    const timer = setInterval(() => {
      if (output.includes('Press Ctrl-C to stop.')) {
        clearInterval(timer);
        resolve('ready');
      }
    }, 250);
  }),
  exited.then(({ code, signal }) => `exited early (${signal ?? `exit code ${code}`})`),
  new Promise((resolve) => setTimeout(() => resolve(`not ready within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS)),
]);
if (ready !== 'ready') {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  fail(ready, output);
}
const readyS = ((Date.now() - t0) / 1000).toFixed(1);
const models = /models: (\d+)\/(\d+) built/.exec(output);
if (!models || models[1] !== models[2] || models[1] === '0') fail('the sensor pipeline did not build every model', output);

const t1 = Date.now();
process.kill(-child.pid, 'SIGINT'); // what Ctrl-C in a terminal does: the whole foreground group
const result = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(undefined), EXIT_TIMEOUT_MS))]);
if (!result) {
  const left = groupMembers(child.pid);
  process.kill(-child.pid, 'SIGKILL');
  fail(`did not exit within ${EXIT_TIMEOUT_MS / 1000} s of SIGINT; running: ${left.join('; ')}`, output);
}
if (result.code !== 0) fail(`exit ${result.signal ?? `code ${result.code}`} after SIGINT`, output);
await new Promise((r) => setTimeout(r, 500));
const left = groupMembers(child.pid);
if (left.length) fail(`processes left after exit: ${left.join('; ')}`, output);
const open = [];
for (const p of PORTS) if (await portOpen(p)) open.push(p);
if (open.length) fail(`ports still open after exit: ${open.join(', ')}`, output);
const pids = pidFiles();
if (pids.length) fail(`pid files left: ${pids.join(', ')}`, output);
console.log(
  `smoke: npm start, then Ctrl-C: passed (ready with the sensor pipeline built in ${readyS} s; exit 0 ${((Date.now() - t1) / 1000).toFixed(1)} s after SIGINT; nothing left running)`,
);
process.exit(0); // the start-up timeout's timer is still pending
