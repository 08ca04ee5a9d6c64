import type { Command } from 'commander';
import { WeftClient } from '../../client/weft-client';
import { describeConnection, loadConfig } from '../../config';
import type { ConnectionDescription } from '../../config';
import { devServerStatus } from '../../dev-server/dev-server';
import { EXIT, printJson, stderr } from '../command-context';
import type { CommandContext } from '../command-context';

/** What `weft doctor` found: where weft connects and whether that server is ready for runs. */
export interface DoctorReport extends ConnectionDescription {
  /** The frontend answered (for the embedded server: it is running). */
  reachable: boolean;
  serverVersion: string | null;
  /** weft's search attributes that the namespace lacks (runs still work, without them). */
  missingSearchAttributes: string[];
}

async function diagnose(): Promise<DoctorReport> {
  const config = loadConfig();
  if (config.address === null) {
    // Without a configured server weft would start its own; doctor only looks, it starts nothing.
    const status = await devServerStatus(config.stateDir);
    const address = status?.running ? status.address : '(embedded dev server, not running)';
    if (!status?.running) {
      return {
        ...describeConnection(config, address),
        reachable: false,
        serverVersion: null,
        missingSearchAttributes: [],
      };
    }
  }
  const client = await WeftClient.connect({ config });
  try {
    const info = await client.temporal.workflowService.getSystemInfo({});
    return {
      ...client.describeConnection(),
      reachable: true,
      serverVersion: info.serverVersion || null,
      missingSearchAttributes: await client.missingSearchAttributes(),
    };
  } finally {
    await client.close();
  }
}

/** Registers `weft doctor`. */
export function registerDoctorCommands(program: Command, ctx: CommandContext): void {
  program
    .command('doctor')
    .description(
      'show which Temporal server weft uses (address, namespace, TLS, auth kind; never a secret) and check it answers',
    )
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: { json?: boolean }) => {
      const report = await diagnose();
      if (flags.json) printJson(report);
      else {
        stderr(`Temporal:   ${report.address}${report.embedded ? ' (embedded dev server)' : ''}`);
        stderr(`namespace:  ${report.namespace}`);
        stderr(`TLS:        ${report.tls ? 'yes' : 'no'}`);
        stderr(`auth:       ${report.auth}`);
        if (report.profile !== null || report.configFile !== null)
          stderr(
            `profile:    ${report.profile ?? 'default'}${report.configFile ? ` (${report.configFile})` : ''}`,
          );
        stderr(
          `reachable:  ${report.reachable ? `yes${report.serverVersion ? `, server ${report.serverVersion}` : ''}` : 'no'}`,
        );
        if (report.missingSearchAttributes.length > 0)
          stderr(
            `missing search attributes: ${report.missingSearchAttributes.join(', ')} (filters in the Web UI and weft list are limited)`,
          );
      }
      ctx.setCode(report.reachable ? EXIT.completed : EXIT.notCompleted);
    });
}
