/**
 * All activities of the project, built from their clients. The worker registers the returned object.
 */
import type { Pool } from '../db/pool';
import type { OccupancyModel } from '../ml/occupancy-model';
import type { Notifier } from '../notify/index';
import { createInferenceActivities } from './inference';
import { createLaunchActivities } from './launches';
import { createModelActivities } from './models';
import { createMqttIngestActivities } from './mqtt-ingest';

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
}

/** Builds every activity of the project. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createMqttIngestActivities(deps),
    ...createLaunchActivities(deps),
    ...createModelActivities(deps),
    ...createInferenceActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
