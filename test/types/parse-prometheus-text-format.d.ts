/** Types of `parse-prometheus-text-format` (the package ships none): the families of a Prometheus text exposition. */
declare module 'parse-prometheus-text-format' {
  /** One metric family: its samples with labels (histograms and summaries: `buckets`/`quantiles`, `count`, `sum`). */
  interface MetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }>;
  }
  /** Parses the text. @throws Error on text that is not the exposition format */
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
