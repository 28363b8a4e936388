/** Workflow bundle entry of the stream worker (until src/workflows/index.ts exports these). */
export { mqttIngest } from '../../src/workflows/mqtt-ingest';
export { kafkaIngest } from '../../src/workflows/kafka-ingest';
export { lakeExport } from '../../src/workflows/lake-export';
