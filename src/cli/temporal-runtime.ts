import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Keeps the Temporal worker's own INFO logs off the terminal, where they would drown the run's
 * progress. Must run before the first worker is created; later calls do nothing.
 */
export function quietTemporalLogs(level: 'WARN' | 'ERROR' = 'WARN'): void {
  if (installed) return;
  installed = true;
  Runtime.install({ logger: new DefaultLogger(level) });
}
