/**
 * Every workflow of the project: the entry the worker bundles and the replay test replays against.
 * Deterministic code only.
 */
export { mqttIngest } from './mqtt-ingest';
export { launchImages } from './launches';
export { buildModels } from './model-graph';
export { sensorPipeline } from './sensor-pipeline';
export { deviceEntity } from './device';
export { qualityChecks } from './quality-checks';
export { weatherPipeline } from './weather';
export { eventsStats } from './events';
export { kafkaIngest } from './kafka-ingest';
export { lakeExport } from './lake-export';
