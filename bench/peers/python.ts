/**
 * The seeds' own way as a peer: Python glue scripts (bench/peers/mqtt_to_pg.py, kafka_to_pg.py) with
 * paho-mqtt / confluent-kafka and a plain psycopg 3 client, run from a bench-only virtual environment
 * that the bench creates under the stack folder (`<stack>/bench-venv`) from bench/peers/requirements.txt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './spawned';

/** This folder: the scripts and requirements.txt. */
export const PEERS_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Where the bench keeps its virtual environment. */
export function venvPath(stackDir: string): string {
  return path.join(stackDir, 'bench-venv');
}

/**
 * Returns the virtual environment's Python, creating the environment (python3 -m venv, pip install -r
 * requirements.txt) when missing or when requirements.txt changed since.
 * @returns `{ python }`, or `{ error }` with the failing command line and the tail of its output
 */
export function ensureVenv(stackDir: string, log: (m: string) => void): { python: string; versions: string } | { error: string } {
  const dir = venvPath(stackDir);
  const python = path.join(dir, 'bin', 'python');
  const requirements = path.join(PEERS_DIR, 'requirements.txt');
  const stamp = path.join(dir, '.requirements.txt');
  const wanted = fs.readFileSync(requirements, 'utf8');
  if (!fs.existsSync(python) || !fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== wanted) {
    log(`  peers: creating the Python environment ${dir} (${requirements})…`);
    const venv = runCommand('python3', ['-m', 'venv', '--clear', dir], { timeoutMs: 120_000 });
    if (!venv.ok) return { error: `creating the virtual environment failed: ${venv.error}` };
    const pip = runCommand(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements], {
      timeoutMs: 10 * 60_000,
    });
    if (!pip.ok) return { error: `installing the Python packages failed: ${pip.error}` };
    fs.writeFileSync(stamp, wanted);
  }
  const v = runCommand(python, [
    '-c',
    'import sys, paho.mqtt, confluent_kafka, psycopg; print(f"Python {sys.version.split()[0]}, paho-mqtt {paho.mqtt.__version__}, confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]}), psycopg {psycopg.__version__} ({psycopg.pq.__impl__})")',
  ]);
  if (!v.ok) return { error: `the Python environment does not import its packages: ${v.error}` };
  return { python, versions: v.stdout.trim() };
}

/** Path of a peer script in this folder. */
export function script(name: 'mqtt_to_pg.py' | 'kafka_to_pg.py'): string {
  return path.join(PEERS_DIR, name);
}
