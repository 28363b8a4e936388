/**
 * OpenTelemetry traces, on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
 * is set, off otherwise: nothing of the OpenTelemetry SDK is loaded then, and the project's own spans
 * (`ownSpan`) go to the API's no-op tracer.
 *
 * When on, a process exports its spans over OTLP/HTTP (protobuf-free JSON exporter,
 * `@opentelemetry/exporter-trace-otlp-http`, which reads the standard `OTEL_EXPORTER_OTLP_*`
 * variables) in batches, and the worker carries the trace through Temporal with
 * `@temporalio/interceptors-opentelemetry`: a workflow's span (`RunWorkflow:<type>`), its activities'
 * (`RunActivity:<type>`) and child workflows' spans form one trace, and the project's own spans (a
 * batch commit, a model node, an inference run, a notification) nest in the activity that made them.
 * The service name is `OTEL_SERVICE_NAME`, default `iot-pipelines-<role>`.
 */
import { trace, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';

/** The tracer of the project's own spans. */
export const tracer = trace.getTracer('iot-pipelines');

/** Whether traces are exported (an OTLP endpoint is configured). */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && env.OTEL_SDK_DISABLED !== 'true';
}

/** What a process that traces holds: the span processor and resource the Temporal interceptors export with. */
export interface Tracing {
  spanProcessor: import('@opentelemetry/sdk-trace-base').SpanProcessor;
  resource: import('@opentelemetry/resources').Resource;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Starts exporting this process's spans when {@link tracingEnabled}; registers the global tracer provider.
 * @returns undefined when tracing is off
 */
export async function startTracing(role: string): Promise<Tracing | undefined> {
  if (!tracingEnabled()) return undefined;
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { Resource } = await import('@opentelemetry/resources');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME || `iot-pipelines-${role}` });
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  return { spanProcessor, resource, shutdown: () => provider.shutdown() };
}

/**
 * Runs `fn` in a span of the project's own named `name` (a child of the active span, e.g. the activity's),
 * with `attributes`; `fn` may add more. The span ends with `fn`, and records its error.
 */
export async function ownSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}
