/**
 * The index of the CLI's top-level commands: what `iot-pipelines --help` lists, and which module
 * registers each one. A command's module (and so what it imports: the worker, kafkajs, ONNX, DuckDB,
 * …) is loaded only when that command runs, so `--help` and light commands start fast.
 */
import type { Command } from 'commander';

/** Registers one module's commands on the program. */
export type Register = (program: Command) => void;

/** One top-level command: its summary for `--help` and the module that defines it. */
export interface CommandEntry {
  /** Shown by `iot-pipelines --help`; the same text as the module's `.description()` (tested). */
  summary: string;
  load: () => Promise<Register>;
}

/** Every top-level command. Commands defined by one module share its loader. */
export const COMMANDS: Record<string, CommandEntry> = {
  start: {
    summary: 'The main job: stack, worker, ingest streams, schedules, real data replay, both pipelines; runs until Ctrl-C.',
    load: async () => (await import('./start-command')).registerStartCommand,
  },
  stack: {
    summary: 'Manage the embedded stack (Temporal dev server, PostgreSQL, Mosquitto, Kafka).',
    load: async () => (await import('./stack-command')).registerStackCommand,
  },
  worker: {
    summary: 'Run the worker (all workflows and activities) until Ctrl-C.',
    load: async () => (await import('./worker-command')).registerWorkerCommand,
  },
  run: {
    summary:
      'Run a pipeline by name and wait for its result: launch-images, sensor-pipeline, events-stats, weather, quality-checks, models.',
    load: async () => (await import('./run-commands')).registerRunCommands,
  },
  status: {
    summary: 'Recent pipeline runs, ingest streams and schedules.',
    load: async () => (await import('./run-commands')).registerRunCommands,
  },
  simulate: {
    summary: 'Replay a real sensor data set over MQTT (QoS 1) with its original event times.',
    load: async () => (await import('./ingest-commands')).registerIngestCommands,
  },
  'simulate-producers': {
    summary:
      'Publish what the producers the shipped sources/ files were written for send: the Python MQTT sensor (sensors/data), the Kafka sensor (sensor_data_topic) and the modems (modem-events).',
    load: async () => (await import('./ingest-commands')).registerIngestCommands,
  },
  ingest: {
    summary: 'Control the long-running MQTT ingest stream of a source.',
    load: async () => (await import('./ingest-commands')).registerIngestCommands,
  },
  streams: {
    summary: 'Control every stream: mqtt:<source> or kafka:<group>:<topic>.',
    load: async () => (await import('./streams')).registerStreamCommands,
  },
  kafka: {
    summary: 'Kafka topics and producers (KAFKA_BROKERS, default the embedded broker).',
    load: async () => (await import('./streams')).registerStreamCommands,
  },
  sources: {
    summary: 'Declared sources: sources/*.yaml (SOURCES_DIR), one stream of one device type each.',
    load: async () => (await import('./sources')).registerSourceCommands,
  },
  'dead-letters': {
    summary: 'Inspect and re-drive ingest.dead_letters (rejected messages with their reason).',
    load: async () => (await import('./dead-letters')).registerDeadLetterCommands,
  },
  schedules: {
    summary: 'Temporal Schedules from schedules/*.yaml (Airflow DAG schedules).',
    load: async () => (await import('./schedule-commands')).registerScheduleCommands,
  },
  models: {
    summary: 'dbt-style SQL project: models/, seeds/, tests/ (dbt_project.yml at the repository root).',
    load: async () => (await import('./models')).registerModelCommands,
  },
  'simulate-fleet': {
    summary: 'Replay the real go!track GPS data set (28 devices) as fleet telemetry, keeping order and relative timing.',
    load: async () => (await import('./fleet')).registerFleetCommands,
  },
  devices: {
    summary: 'Device entity workflows (device-<source>-<device>).',
    load: async () => (await import('./fleet')).registerFleetCommands,
  },
  quality: {
    summary: 'Data-quality checks (config/quality-rules.yaml).',
    load: async () => (await import('./fleet')).registerFleetCommands,
  },
  weather: {
    summary: 'The weather pipeline (Open-Meteo → clean → store → dashboard).',
    load: async () => (await import('./fleet')).registerFleetCommands,
  },
  dashboard: {
    summary: 'Serve the live dashboard until Ctrl-C.',
    load: async () => (await import('./fleet')).registerFleetCommands,
  },
  'events-api': {
    summary: 'Serve GET /events?start_date=&end_date= (30 days of seeded events ending 2023-01-31) until Ctrl-C.',
    load: async () => (await import('./events')).registerEventsCommands,
  },
};
