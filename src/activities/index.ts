/**
 * All activities of the project, built from their clients. The worker registers the returned object.
 */
import type { Client } from '@temporalio/client';
import { TASK_QUEUE } from '../config/names';
import type { Pool } from '../db/pool';
import type { OccupancyModel } from '../ml/occupancy-model';
import type { Notifier } from '../notify/index';
import { createDeviceActivities } from './devices';
import { createEventsActivities } from './events';
import { createInferenceActivities } from './inference';
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
  return {
    ...createMqttIngestActivities(deps),
    ...createLaunchActivities(deps),
    ...createModelActivities(deps),
    ...createInferenceActivities(deps),
    ...createDeviceActivities(deps),
    ...createQualityActivities({ ...deps, taskQueue: deps.taskQueue ?? TASK_QUEUE }),
    ...createWeatherActivities(deps),
    ...createEventsActivities(deps),
    ...createScheduleActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
