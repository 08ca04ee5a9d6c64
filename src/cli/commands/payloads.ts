import type { Command } from 'commander';
import { Option } from 'commander';
import { payloadStorageFromEnv, serverIdentity } from '../../storage/data-converter';
import { FileSystemStorageDriver } from '../../storage/fs-storage-driver';
import { collectPayloadGarbage } from '../../storage/payload-gc';
import type { PayloadGcReport } from '../../storage/payload-gc';
import { ConfigError } from '../../errors';
import { EXIT, printJson, stderr, withClient } from '../command-context';
import type { CommandContext } from '../command-context';
import { parseDuration } from '../parse-options';

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function describeReport(report: PayloadGcReport, dir: string): string {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  return (
    `${dir}: ${report.files} files, ${verb} ${report.deleted} (${formatBytes(report.deletedBytes)}); ` +
    `kept ${report.keptReferenced} referenced by ${report.runs} runs of namespace ${report.namespace}, ` +
    `${report.keptYoung} younger than the grace period, ${report.keptForeign} that other servers or namespaces stored` +
    (report.keptUnowned > 0
      ? ` and ${report.keptUnowned} with no owner recorded (--include-unowned deletes those)`
      : '')
  );
}

/** Registers `weft payloads gc`: reclaim the payload store's space. */
export function registerPayloadCommands(program: Command, ctx: CommandContext): void {
  const payloads = program
    .command('payloads')
    .description('the store of large payloads kept outside run histories (WEFT_PAYLOAD_DIR)');
  payloads
    .command('gc')
    .description(
      'delete stored payloads that only this server and namespace stored and none of its runs references any more (scans every history)',
    )
    .addOption(
      new Option('--grace <duration>', 'keep unreferenced files younger than this, e.g. 30m, 2h, 7d')
        .argParser(parseDuration)
        .default(3_600_000, '1h'),
    )
    .option('--dry-run', 'report what would be deleted, delete nothing')
    .option(
      '--include-unowned',
      'also delete unreferenced payloads that record no owner (stored by an older weft); only when this server and namespace alone use the store',
    )
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: { grace: number; dryRun?: boolean; json?: boolean; includeUnowned?: boolean }) => {
      const { dir } = payloadStorageFromEnv();
      if (dir === null) throw new ConfigError('this process has no local payload store to collect');
      const driver = new FileSystemStorageDriver({ dir });
      const report = await withClient(async (client) => {
        const server = await serverIdentity(client.temporal.connection);
        if (server === null) {
          throw new ConfigError(
            `the server at ${client.address} reports no cluster id: cannot tell its payloads apart`,
          );
        }
        return collectPayloadGarbage({
          client: client.temporal,
          server,
          includeUnowned: flags.includeUnowned === true,
          driver,
          graceMs: flags.grace,
          dryRun: flags.dryRun === true,
          onProgress: (runs) => {
            if (runs % 100 === 0) stderr(`scanned ${runs} runs…`);
          },
        });
      });
      if (flags.json) printJson({ dir, ...report });
      else stderr(describeReport(report, dir));
      ctx.setCode(EXIT.completed);
    });
}
