import { promises as fs } from 'node:fs';
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
