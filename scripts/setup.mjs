// Prepares a checkout of weft: installs node_modules, makes sure the Temporal CLI exists (building it
// from its Go module on the first run; weft never downloads a binary), and compiles the TypeScript.
// It runs before node_modules exists, so it uses Node builtins only. Every step is skipped when its
// output is up to date, so `npm test`, `npm run demo` and `npm run bench` can call it every time.
//
// Usage: node scripts/setup.mjs [--no-build] [--for-tests]
//   --for-tests also provisions what the test suite drives besides node_modules: Debian's chromium
//   for the Web UI tests (scripts/install-chromium.sh), Debian's bubblewrap for the Bash sandbox
//   tests (scripts/install-bubblewrap.sh), and Debian's postgresql and the real temporal-server for
//   the cluster suite (scripts/install-postgresql.sh, scripts/build-temporal-server.sh, cached in
//   ~/.cache/weft/ like the CLI); apt-get as root or via sudo.
//
// The CLI lookup order and cache path must match src/dev-server/temporal-cli.ts.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPORAL_CLI_VERSION = '1.5.1';
const TEMPORAL_CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binaryName = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

class SetupError extends Error {}

function log(line) {
  process.stderr.write(`weft setup: ${line}\n`);
}

/** mtime in ms, or null when the path does not exist. */
function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function isExecutableFile(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Newest mtime of any file under dir (0 for an empty or missing folder). */
function newestMtime(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    const m = entry.isDirectory() ? newestMtime(full) : (mtime(full) ?? 0);
    if (m > newest) newest = m;
  }
  return newest;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) {
    throw new SetupError(`could not run ${command}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `failed with exit code ${result.status}`;
    throw new SetupError(`\`${[path.basename(command), ...args].join(' ')}\` ${how} (see its output above)`);
  }
}

/** Runs npm the way the current npm does when we were started by it, so the same npm is used. */
function runNpm(args) {
  const npmCli = process.env.npm_execpath;
  if (npmCli && npmCli.endsWith('.js')) run(process.execPath, [npmCli, ...args]);
  else run('npm', args, { shell: process.platform === 'win32' });
}

function ensureNodeModules() {
  const installed = mtime(path.join(root, 'node_modules', '.package-lock.json'));
  const lock = mtime(path.join(root, 'package-lock.json'));
  if (installed !== null && (lock === null || lock <= installed)) return;
  log(
    installed === null
      ? 'installing dependencies (npm install from package-lock.json)…'
      : 'package-lock.json changed: reinstalling (npm install)…',
  );
  // Not `npm ci`: the lock can only record the optional native packages this machine's registry
  // serves (it 404s the other platforms' @swc/core and @unrs bindings), and `npm ci` refuses such a
  // lock as out of sync. `npm install` installs the same locked versions and skips the absent ones.
  runNpm(['install', '--no-audit', '--no-fund']);
}

function cliCachePath() {
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheHome, 'weft', `temporal-v${TEMPORAL_CLI_VERSION}`, binaryName);
}

function findOnPath() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, binaryName);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function ensureTemporalCli() {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    const resolved = path.resolve(fromEnv);
    if (isExecutableFile(resolved)) return resolved;
    throw new SetupError(
      `TEMPORAL_CLI_PATH is set to "${fromEnv}", which is not an executable file: fix it, or unset it`,
    );
  }
  const onPath = findOnPath();
  if (onPath) return onPath;
  const cached = cliCachePath();
  if (isExecutableFile(cached)) return cached;

  const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (goVersion.error || goVersion.status !== 0) {
    throw new SetupError(
      'the Temporal CLI is missing and Go is not installed to build it: install Go (https://go.dev/dl/), or set TEMPORAL_CLI_PATH to a temporal binary',
    );
  }
  log('building the Temporal CLI from its Go module (first run only, a few minutes)…');
  log(`  ${goVersion.stdout.trim()}; go install ${TEMPORAL_CLI_MODULE} into ${path.dirname(cached)}`);
  const started = Date.now();
  // GOBIN points go install at our cache folder, so nothing lands in the user's ~/go/bin.
  run('go', ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, GOBIN: path.dirname(cached) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (!isExecutableFile(cached)) {
    throw new SetupError(`go install succeeded but ${cached} is not there; set TEMPORAL_CLI_PATH instead`);
  }
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return cached;
}

function ensureBuild() {
  const dist = path.join(root, 'dist');
  // tsc emits even when type checking fails, so fresh outputs alone do not prove a good build.
  const failedMarker = path.join(dist, '.build-failed');
  // The newest output against the newest source: tsc rewrites every output on each build.
  const built = mtime(dist) === null ? 0 : newestMtime(dist);
  if (built > 0 && mtime(failedMarker) === null && newestMtime(path.join(root, 'src')) <= built) return;
  log(built === 0 ? 'building the TypeScript (npm run build)…' : 'src/ changed: rebuilding (npm run build)…');
  try {
    runNpm(['run', 'build']);
  } catch (err) {
    mkdirSync(dist, { recursive: true });
    writeFileSync(failedMarker, `${new Date().toISOString()}\n`);
    throw err;
  }
  rmSync(failedMarker, { force: true });
}

try {
  const noBuild = process.argv.includes('--no-build');
  ensureNodeModules();
  const cli = ensureTemporalCli();
  if (process.argv.includes('--for-tests')) {
    run('sh', [path.join(root, 'scripts', 'install-chromium.sh')]);
    run('sh', [path.join(root, 'scripts', 'install-bubblewrap.sh')]);
    // The cluster suite's real Temporal server: Debian's PostgreSQL, and temporal-server built once.
    run('sh', [path.join(root, 'scripts', 'install-postgresql.sh')]);
    run('sh', [path.join(root, 'scripts', 'build-temporal-server.sh')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  if (!noBuild) ensureBuild();
  log(`Temporal CLI: ${cli}`);
} catch (err) {
  log(
    err instanceof SetupError ? err.message : `failed: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
}
