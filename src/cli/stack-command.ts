/** `stack up`: start what is missing of the embedded stack and keep it running until Ctrl-C. */
import { InvalidArgumentError, type Command } from 'commander';
import { kafkaBrokers, mqttUrl } from '../config/env';
import { describeTemporalConnection, isExternalTemporal } from '../config/temporal-connection';
import { ensureStack, type ServiceName } from '../stack/index';
import { clusterNodes } from '../stack/temporal-cluster';
import { untilSignal } from './signals';

const SERVICES: ServiceName[] = ['temporal', 'postgres', 'mosquitto', 'kafka'];

/** Registers `stack up`. */
export function registerStackCommand(program: Command): void {
  program
    .command('stack')
    .description('Manage the embedded stack (Temporal dev server, PostgreSQL, Mosquitto, Kafka).')
    .command('up')
    .description('Start every missing service and keep them running until Ctrl-C.')
    .option('--services <list>', `comma-separated subset of ${SERVICES.join(',')}`, 'temporal,postgres,mosquitto')
    .action(async (o: { services: string }) => {
      const services = o.services.split(',').map((s) => s.trim()) as ServiceName[];
      const unknown = services.filter((s) => !SERVICES.includes(s));
      if (unknown.length) throw new InvalidArgumentError(`Unknown service(s) ${unknown.join(', ')}; choose from ${SERVICES.join(', ')}.`);
      const stack = await ensureStack({ services });
      const s = stack.settings;
      console.log(`Stack ready (started: ${stack.started.join(', ') || 'none, all reused'}).`);
      if (isExternalTemporal(s.temporalConnection)) {
        console.log(`  Temporal  ${describeTemporalConnection(s)} (your own; not started by the stack)`);
      } else if (s.temporalMode === 'cluster' && services.includes('temporal')) {
        // The server has no Web UI; the UI is a separate program (README "Cluster mode").
        const nodes = clusterNodes(s.temporalAddress, s.temporalClusterPortBase);
        console.log(
          `  Temporal  ${s.temporalAddress}: cluster of ${nodes.length} servers on PostgreSQL, frontends ${nodes.map((n) => n.frontendAddress).join(', ')} (no Web UI)`,
        );
      } else {
        console.log(`  Temporal  ${s.temporalAddress}  UI http://127.0.0.1:${s.temporalUiPort}`);
      }
      console.log(`  MQTT      ${mqttUrl(s)}`);
      if (services.includes('kafka')) console.log(`  Kafka     ${kafkaBrokers(s).join(',')}`);
      console.log('Press Ctrl-C to stop.');
      // Signal listeners alone do not keep a process alive: with every service reused (nothing else to
      // wait on) `stack up` exited at once with code 13 (an unsettled top-level await).
      const keepAlive = setInterval(() => undefined, 2 ** 30);
      const signal = await untilSignal();
      clearInterval(keepAlive);
      console.log(`${signal}: stopping ${stack.started.join(', ') || 'nothing (all reused)'}…`);
      await stack.stop();
      console.log('Stopped.');
    });
}
