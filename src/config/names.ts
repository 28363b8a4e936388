import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
/**
 * Stable names shared by workers, clients, schedules and the CLI: task queues, search attributes and
 * workflow ID builders (readable IDs, see DESIGN.md "Names").
 */

export { TASK_QUEUE } from './task-queue';

/** Custom search attributes registered with the dev server, with their Temporal types. */
export const SEARCH_ATTRIBUTES = {
  PipelineName: 'Keyword',
  Source: 'Keyword',
  DataIntervalStart: 'Datetime',
} as const;

/** Workflow IDs. */
export const workflowIds = {
  mqttIngest: (source: string) => `ingest-mqtt-${source}`,
  launchImages: (logicalDate: string) => `launch-images-${logicalDate}`,
  sensorPipeline: (intervalStart: string) => `sensor-pipeline-${intervalStart}`,
};

/** Typed keys of {@link SEARCH_ATTRIBUTES} for `typedSearchAttributes` (client, schedules, workflows). */
export const searchAttributeKeys = {
  PipelineName: defineSearchAttributeKey('PipelineName', SearchAttributeType.KEYWORD),
  Source: defineSearchAttributeKey('Source', SearchAttributeType.KEYWORD),
  DataIntervalStart: defineSearchAttributeKey('DataIntervalStart', SearchAttributeType.DATETIME),
};
