/**
 * The body of `weft mock-model`: a standalone mock model for demos and manual runs
 * (`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT weft run ...`). The command wiring lives in src/cli.
 */
import { startMockModel } from './server';

/**
 * Starts the mock model, prints `mock model listening on <url>` on stdout, and resolves after
 * SIGINT or SIGTERM once the server has closed.
 */
export async function runMockModelCommand(opts: {
  port: number;
  host: string;
  latencyMs: number;
}): Promise<void> {
  const mock = await startMockModel({ port: opts.port, host: opts.host, latencyMs: opts.latencyMs });
  process.stdout.write(`mock model listening on ${mock.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await mock.close();
}
