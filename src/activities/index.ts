/**
 * All activities of the project, built from their clients. The worker registers the returned object.
 */
import type { Client } from '@temporalio/client';
import { TASK_QUEUE } from '../config/names';
import type { Pool } from '../db/pool';
import { DeviceWorkflowSink } from '../devices/sink';
import { loadQualityRules } from '../quality/rules';
import type { OccupancyModel } from '../ml/occupancy-model';
import type { Notifier } from '../notify/index';
import { createDeviceActivities } from './devices';
import { createEventsActivities } from './events';
import { createInferenceActivities } from './inference';
import { createKafkaIngestActivities } from './kafka-ingest';
import { createLakeActivities } from './lake-export';
import { createLaunchActivities } from './launches';
import { createModelActivities } from './models';
import { createMqttIngestActivities } from './mqtt-ingest';
import { createQualityActivities } from './quality';
import { createScheduleActivities } from './schedules';
import { createWeatherActivities } from './weather';

/** Clients and settings the activities need. */
export interface ActivityDeps {
  pool: Pool;
  mqttUrl: string;
  /** Kafka bootstrap brokers. */
  kafkaBrokers: string[];
  /** Root folder of the Parquet data lake. */
  lakeDir: string;
  /** Loaded once per worker. */
  model: OccupancyModel;
  notifier: Notifier;
  /** Folder of pipeline outputs (launch JSON, images, …). */
  outputDir: string;
  /** Folder holding `dbt_project.yml`. */
  projectDir: string;
  /** Temporal client for activities that start or signal workflows (device workflows). */
  client?: Client;
  /** Task queue of workflows started by activities. @default TASK_QUEUE */
  taskQueue?: string;
}

/** Builds every activity of the project. */
export function createActivities(deps: ActivityDeps) {
  const taskQueue = deps.taskQueue ?? TASK_QUEUE;
  // Ingest tells device entity workflows about changes only (first seen, came back, out of range).
  const deviceSink = deps.client ? new DeviceWorkflowSink({ client: deps.client, taskQueue, rules: loadQualityRules() }) : undefined;
  return {
    ...createMqttIngestActivities({ ...deps, deviceSink }),
    ...createKafkaIngestActivities({ ...deps, deviceSink }),
    ...createLakeActivities(deps),
    ...createLaunchActivities(deps),
    ...createModelActivities(deps),
    ...createInferenceActivities(deps),
    ...createDeviceActivities(deps),
    ...createQualityActivities({ ...deps, taskQueue }),
    ...createWeatherActivities(deps),
    ...createEventsActivities(deps),
    ...createScheduleActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
