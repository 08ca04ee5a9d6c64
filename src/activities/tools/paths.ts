import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from './tool-types';

/** Symlink hops followed before a path is refused as a loop. */
const MAX_LINK_HOPS = 40;

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? '');
}

/**
 * The real path of `p` even when it does not exist yet: the longest existing prefix is resolved
 * with realpath, and a dangling symlink is followed to where it points, so that writing a new file
 * through a link that leads outside the working directory is caught too.
 */
export async function realpathLoose(p: string, hops = 0): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch (err) {
    if (!isCode(err, 'ENOENT', 'ENOTDIR')) throw err;
  }
  const stat = await fs.lstat(p).catch(() => null);
  if (stat?.isSymbolicLink()) {
    if (hops >= MAX_LINK_HOPS) throw new ToolError(`too many levels of symbolic links: ${p}`);
    const target = await fs.readlink(p);
    return realpathLoose(path.resolve(path.dirname(p), target), hops + 1);
  }
  const parent = path.dirname(p);
  if (parent === p) return p;
  return path.join(await realpathLoose(parent, hops), path.basename(p));
}

/** Whether `p` is `root` or below it; both must already be real, absolute paths. */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Resolves a path an agent gave a file tool: relative paths are taken from the working directory,
 * symlinks are resolved, and anything that lands outside the working directory is refused with a
 * message the model can act on (S401).
 */
export async function resolveInside(cwd: string, given: unknown, what = 'file_path'): Promise<string> {
  if (typeof given !== 'string' || given.trim() === '')
    throw new ToolError(`${what} must be a non-empty path`);
  const absolute = path.resolve(cwd, given);
  const real = await realpathLoose(absolute);
  if (!isInside(cwd, real)) {
    throw new ToolError(
      `${given} is outside the working directory ${cwd}${real !== absolute ? ` (it resolves to ${real})` : ''}; ` +
        'file tools may only read and write inside it',
    );
  }
  return real;
}

/** A path as the model should see it: relative to the working directory when inside it. */
export function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel === '' ? '.' : rel;
}

const O = fsConstants;
/** Linux lets a path go through `/proc/self/fd/N`, which is how Node can do `openat`-style calls. */
const HAS_PROC_FD = process.platform === 'linux';

/**
 * The path through which a call reaches `name` inside the already-open directory `dirFd`. On Linux
 * that is `/proc/self/fd/<dirFd>/<name>`: the kernel resolves it from the directory the descriptor
 * holds, so swapping a folder of the path for a symlink after it was checked changes nothing.
 * Elsewhere it falls back to the checked path, and the after-open checks are what holds.
 */
function underDir(dir: OpenDir, name: string): string {
  return HAS_PROC_FD ? `/proc/self/fd/${dir.handle.fd}/${name}` : path.join(dir.real, name);
}

interface OpenDir {
  handle: FileHandle;
  /** The real path it was opened at; on Linux re-checked against the descriptor. */
  real: string;
}

/** Where an open descriptor really is: the kernel's own answer on Linux, else realpath of `expected` after checking it is the same file. */
async function realPathOfHandle(handle: FileHandle, expected: string): Promise<string | null> {
  if (HAS_PROC_FD) return fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
  const [opened, now] = await Promise.all([
    handle.stat(),
    fs.realpath(expected).then((real) => fs.stat(real).then((s) => ({ real, s }))),
  ]).catch(() => [null, null] as const);
  if (!opened || !now || opened.dev !== now.s.dev || opened.ino !== now.s.ino) return null;
  return now.real;
}

function outsideError(given: string, cwd: string): ToolError {
  return new ToolError(
    `${given} is outside the working directory ${cwd} (a folder or link on its path changed while it was opened); ` +
      'file tools may only read and write inside it',
  );
}

/**
 * Opens each folder from `cwd` down to `real` (a real path inside `cwd`) without following any
 * symlink, so the folder it ends on is the one that was checked. With `create`, missing folders
 * are made on the way, each inside the folder opened before it.
 */
async function openDirInside(cwd: string, real: string, given: string, create: boolean): Promise<OpenDir> {
  let dir: OpenDir = { handle: await fs.open(cwd, O.O_RDONLY | O.O_DIRECTORY), real: cwd };
  try {
    for (const part of path.relative(cwd, real).split(path.sep).filter(Boolean)) {
      const next = path.join(dir.real, part);
      const open = (): Promise<FileHandle> =>
        fs.open(underDir(dir, part), O.O_RDONLY | O.O_DIRECTORY | O.O_NOFOLLOW);
      let handle: FileHandle;
      try {
        handle = await open();
      } catch (err) {
        if (!create || !isCode(err, 'ENOENT')) throw err;
        await fs.mkdir(underDir(dir, part)).catch((e: unknown) => {
          if (!isCode(e, 'EEXIST')) throw e;
        });
        handle = await open();
      }
      await dir.handle.close();
      dir = { handle, real: next };
    }
    const actual = await realPathOfHandle(dir.handle, dir.real);
    if (actual === null || !isInside(cwd, actual)) throw outsideError(given, cwd);
    return dir;
  } catch (err) {
    await dir.handle.close();
    if (err instanceof ToolError) throw err;
    // A symlink where a checked folder was (ELOOP, ENOTDIR) means the path changed under us.
    if (isCode(err, 'ELOOP', 'ENOTDIR')) throw outsideError(given, cwd);
    // A missing folder on the way means the file the agent named does not exist.
    if (isCode(err, 'ENOENT')) throw new ToolError(`file does not exist: ${given}`);
    throw new ToolError(`cannot open ${given}: ${(err as Error).message}`);
  }
}

/** A file opened for reading inside the working directory, with what `fstat` says of it. */
export interface OpenedFile {
  handle: FileHandle;
  /** Its real path, inside the working directory. */
  real: string;
  stat: Stats;
}

/**
 * Opens a file an agent named for reading, race-free: the path is resolved and checked
 * ({@link resolveInside}), the file is opened with `O_NOFOLLOW` from its checked folder's
 * descriptor, and the opened descriptor's own path is checked again, so a symlink swapped in after
 * the check cannot make Read or Grep return a file from outside. A file with other hard links is
 * refused too: one of its names may be outside, and its path cannot tell.
 */
export async function openFileInside(cwd: string, given: unknown, what = 'file_path'): Promise<OpenedFile> {
  const real = await resolveInside(cwd, given, what);
  const shown = String(given);
  if (real === cwd) throw new ToolError(`${shown} is a directory; use Glob or Bash (ls) to list it`);
  const dir = await openDirInside(cwd, path.dirname(real), shown, false);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO must not hang the agent; it makes no difference to regular files.
    handle = await fs.open(underDir(dir, path.basename(real)), O.O_RDONLY | O.O_NOFOLLOW | O.O_NONBLOCK);
  } catch (err) {
    if (isCode(err, 'ELOOP')) throw outsideError(shown, cwd);
    if (isCode(err, 'ENOENT')) throw new ToolError(`file does not exist: ${shown}`);
    throw new ToolError(`cannot read ${shown}: ${(err as Error).message}`);
  } finally {
    await dir.handle.close();
  }
  try {
    const actual = await realPathOfHandle(handle, real);
    if (actual === null || !isInside(cwd, actual)) throw outsideError(shown, cwd);
    const stat = await handle.stat();
    if (stat.isFile() && stat.nlink > 1) {
      throw new ToolError(
        `${shown} has ${stat.nlink} hard links, and another of its names may be outside the working directory; file tools refuse hard-linked files`,
      );
    }
    return { handle, real: actual, stat };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Writes a whole file an agent named, race-free: missing folders are created one by one from the
 * working directory down without following symlinks, the content is written to a new file in the
 * checked folder's descriptor and renamed over the target. So a symlink swapped in anywhere on the
 * path cannot redirect the write outside, and a hard link to a file outside is replaced, never
 * written through. An existing file keeps its permission bits.
 *
 * @returns the real path written and whether a file was there before.
 */
export async function writeFileInside(
  cwd: string,
  given: unknown,
  content: string,
  what = 'file_path',
): Promise<{ real: string; existed: boolean }> {
  const real = await resolveInside(cwd, given, what);
  const shown = String(given);
  if (real === cwd) throw new ToolError(`${shown} is a directory`);
  const name = path.basename(real);
  const dir = await openDirInside(cwd, path.dirname(real), shown, true);
  try {
    const existing = await fs.lstat(underDir(dir, name)).catch(() => null);
    if (existing?.isDirectory()) throw new ToolError(`${shown} is a directory`);
    const tmpName = `.${name}.weft-${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    const tmp = await fs.open(
      underDir(dir, tmpName),
      O.O_WRONLY | O.O_CREAT | O.O_EXCL | O.O_NOFOLLOW,
      existing?.isFile() ? existing.mode & 0o7777 : 0o666,
    );
    try {
      await tmp.writeFile(content, 'utf8');
      if (existing?.isFile()) await tmp.chmod(existing.mode & 0o7777);
    } finally {
      await tmp.close();
    }
    try {
      await fs.rename(underDir(dir, tmpName), underDir(dir, name));
    } catch (err) {
      await fs.rm(underDir(dir, tmpName), { force: true });
      throw new ToolError(`cannot write ${shown}: ${(err as Error).message}`);
    }
    return { real, existed: existing !== null };
  } finally {
    await dir.handle.close();
  }
}

/**
 * Whether a path a search found (Glob, Grep) really is inside the working directory once every
 * symlink on it is resolved; a pattern naming a linked folder would otherwise list or read what
 * lies behind it.
 */
export async function realInside(cwd: string, p: string): Promise<string | null> {
  const real = await fs.realpath(p).catch(() => null);
  return real !== null && isInside(cwd, real) ? real : null;
}
