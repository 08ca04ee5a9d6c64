/**
 * Locating the Temporal CLI binary that runs the local dev server.
 *
 * weft never downloads a binary: `scripts/setup.mjs` builds the CLI from its Go module into a cache
 * folder, and this module finds it there (or wherever the user pointed us). The lookup order and
 * the cache path must stay in step with `scripts/setup.mjs`, which cannot import this file because
 * it runs before anything is compiled.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors';

/**
 * The Temporal CLI release weft builds and tests against. v1.5.1 is pinned because it is the newest
 * tag that `go install` accepts directly (v1.6.0 to v1.8.2 carry a `replace` directive in go.mod).
 */
export const TEMPORAL_CLI_VERSION = '1.5.1';

const BINARY_NAME = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

/**
 * Where `npm run setup` puts the CLI it builds:
 * `$XDG_CACHE_HOME/weft/temporal-v<version>/temporal`, with `~/.cache` when `XDG_CACHE_HOME` is unset.
 * The version is in the folder name so upgrading weft builds a fresh binary instead of reusing an old one.
 */
export function temporalCliCachePath(): string {
  const cacheHome = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(cacheHome, 'weft', `temporal-v${TEMPORAL_CLI_VERSION}`, BINARY_NAME);
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fsp.stat(file);
    if (!stat.isFile()) return false;
    await fsp.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(): Promise<string | null> {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    // An empty PATH entry means the current folder, which we do not want to trust implicitly.
    if (dir === '') continue;
    const candidate = path.join(dir, BINARY_NAME);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Finds the Temporal CLI: `TEMPORAL_CLI_PATH` first, then `temporal` on `PATH`, then the cache that
 * `npm run setup` fills ({@link temporalCliCachePath}).
 *
 * @returns the absolute path of an executable file.
 * @throws ConfigError when `TEMPORAL_CLI_PATH` is set but is not an executable file (an explicit
 *   setting that is wrong should not be silently replaced by another binary), or when no CLI is found.
 */
export async function findTemporalCli(): Promise<string> {
  const fromEnv = process.env['TEMPORAL_CLI_PATH'];
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (await isExecutableFile(resolved)) return resolved;
    throw new ConfigError(
      `TEMPORAL_CLI_PATH is set to "${fromEnv}", which is not an executable file: fix it, or unset it to use the CLI from "npm run setup"`,
    );
  }
  const onPath = await findOnPath();
  if (onPath !== null) return onPath;
  const cached = temporalCliCachePath();
  if (await isExecutableFile(cached)) return cached;
  throw new ConfigError(
    'Temporal CLI not found: run "npm run setup" (builds it with Go) or set TEMPORAL_CLI_PATH',
  );
}
