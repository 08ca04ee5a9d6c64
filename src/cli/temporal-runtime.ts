import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * Routes the Temporal worker's logs, its Rust core's included, through one logger on stderr at the
 * given level, so stdout stays clean for `--json` and INFO chatter does not drown the progress
 * lines. Must run before the first worker is created; later calls do nothing. With
 * `handleCtrlC: false`, SIGINT is left to the caller.
 */
export function quietTemporalLogs(
  level: 'INFO' | 'WARN' | 'ERROR' = 'WARN',
  options: { handleCtrlC?: boolean } = {},
): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    // `weft run` answers Ctrl-C itself (it detaches at once); the SDK's own handler would start a
    // graceful worker shutdown that waits for every running agent, freezing the CLI.
    ...(options.handleCtrlC === false ? { shutdownSignals: ['SIGTERM', 'SIGQUIT', 'SIGUSR2'] } : {}),
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } },
  });
}

/**
 * Shuts Temporal's native runtime down once nothing uses it. `Runtime.install` starts it at once,
 * and a runtime no worker ever used (a `weft replay` whose history could not be fetched) keeps
 * the process alive and swallows SIGTERM; a CLI command must end when its answer is out.
 */
export async function releaseTemporalRuntime(): Promise<void> {
  if (!installed) return;
  installed = false;
  await Runtime._instance?.shutdown();
}
