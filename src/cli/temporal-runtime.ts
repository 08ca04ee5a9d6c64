import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Routes the Temporal worker's logs, its Rust core's included, through one logger on stderr at the
 * given level, so stdout stays clean for `--json` and INFO chatter does not drown the progress
 * lines. Must run before the first worker is created; later calls do nothing.
 */
export function quietTemporalLogs(level: 'INFO' | 'WARN' | 'ERROR' = 'WARN'): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } },
  });
}
