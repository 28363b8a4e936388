/**
 * The Prometheus set-up shipped for Docker users (docker/prometheus/, the `prometheus` service of
 * docker-compose.yml; Docker cannot run here): it scrapes the ports the worker and Temporal serve
 * metrics on in that file, and every application metric its alerting rules use is one the code defines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT_DIR } from '../src/config/env';
import { registry } from '../src/observability/metrics';

const read = (f: string) => parse(fs.readFileSync(path.join(ROOT_DIR, f), 'utf8')) as unknown;

interface Compose {
  services: Record<string, { command?: string[]; environment?: Record<string, string | number>; volumes?: string[] }>;
}
interface PrometheusConfig {
  rule_files: string[];
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
}
interface Rules {
  groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string; annotations: { summary: string } }> }>;
}

describe('Prometheus for the Docker stack', () => {
  const compose = read('docker-compose.yml') as Compose;
  const config = read('docker/prometheus/prometheus.yml') as PrometheusConfig;
  const rules = (read('docker/prometheus/alerts.yml') as Rules).groups.flatMap((g) => g.rules);

  it('scrapes the worker and Temporal on the ports docker-compose.yml gives them, and loads the rules', () => {
    const prometheus = compose.services.prometheus!;
    expect(prometheus.volumes).toContain('./docker/prometheus:/etc/prometheus:ro');
    expect(config.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    const targets = Object.fromEntries(config.scrape_configs.map((s) => [s.job_name, s.static_configs.flatMap((c) => c.targets)]));
    expect(targets['iot-pipelines']).toEqual([`worker:${compose.services.worker!.environment!.METRICS_PORT}`]);
    expect(compose.services.worker!.environment!.METRICS_HOST).toBe('0.0.0.0');
    const metricsPort = compose.services.temporal!.command!.find((a) => a.startsWith('--metrics-port='))!.split('=')[1];
    expect(targets.temporal).toEqual([`temporal:${metricsPort}`]);
  });

  it('alerts on lag growth, dead-letter rate, a stream not running and a missed schedule run, with metrics the code defines', async () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'IotPipelinesKafkaLagGrowing',
        'IotPipelinesDeadLetterRateHigh',
        'IotPipelinesStreamNotRunning',
        'IotPipelinesScheduleMissedRun',
      ]),
    );
    const defined = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    for (const r of rules) {
      expect(r.annotations.summary, r.alert).toBeTruthy();
      for (const [name] of r.expr.matchAll(/\biot_pipelines_[a-z_]+/g)) {
        expect(defined.has(name.replace(/_(bucket|count|sum)$/, '')), `${r.alert}: ${name}`).toBe(true);
      }
    }
    // The stream-state rule reads the state this code sets.
    expect(rules.find((r) => r.alert === 'IotPipelinesStreamNotRunning')!.expr).toContain('state="running"');
  });
});
