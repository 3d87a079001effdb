// Replace a whole folder so that a kill at any instant leaves the old or the new version, complete, findable under its
// name. Node has no atomic exchange of two folders, so the swap is three renames on one file system:
//   1. fill DIR.tmp-PID-R                      (a kill here: the old DIR is untouched; the temp folder is junk)
//   2. rename it to DIR.tmp-PID-R.done         (marks the new version complete)
//   3. rename DIR to DIR.tmp-PID-R.old         (a kill between 3 and 4: DIR is missing for an instant;
//   4. rename DIR.tmp-PID-R.done to DIR         `recoverDir` finishes the swap from .done on the next open)
//   5. remove DIR.tmp-PID-R.old
// Leftovers of dead processes are recognised by their name and pid, and removed or put back by the next save or load.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

type Kind = 'writing' | 'done' | 'old' | 'legacy';
interface Leftover {
  path: string;
  pid: number;
  kind: Kind;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The folders beside `dir` that a save of it made; `DIR.tmp-PID` alone is what older versions of tl left. */
async function leftoversOf(dir: string): Promise<Leftover[]> {
  const re = new RegExp(`^${escapeRegExp(basename(dir))}\\.tmp-(\\d+)(-[0-9a-f]+)?(\\.done|\\.old)?$`);
  let names: string[];
  try {
    names = await readdir(dirname(dir));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = re.exec(name);
    if (!m) return [];
    const kind: Kind = m[3] === '.done' ? 'done' : m[3] === '.old' ? 'old' : m[2] ? 'writing' : 'legacy';
    return [{ path: join(dirname(dir), name), pid: Number(m[1]), kind }];
  });
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function mtime(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.mtimeMs ?? 0;
}

export interface RecoverOptions {
  /** Whether a folder left by an older tl (`DIR.tmp-PID`, no completion mark) holds a complete version. */
  isComplete: (path: string) => Promise<boolean>;
  /**
   * Whether a dead process's `DIR.tmp-PID` may be removed. That name is plausible for a folder of the user's own, so
   * only one that looks like ours goes (default: none). The names with a random suffix are tl's alone.
   */
  isOwnLegacy?: (path: string) => Promise<boolean>;
  /** How long to wait for a live process that is between its renames (ms). */
  waitMs?: number;
}

/**
 * Make DIR hold a complete version again after a killed save, and remove the dead savers' leftovers. Returns the
 * folder to read: DIR, or (when it cannot be restored, e.g. on a read-only disk) the complete version beside it.
 */
export async function recoverDir(dir: string, opts: RecoverOptions): Promise<string> {
  let all = await leftoversOf(dir);
  if (!all.length) return dir;
  // A live saver between its renames: DIR comes back within moments.
  const deadline = Date.now() + (opts.waitMs ?? 2000);
  while (
    !existsSync(dir) &&
    all.some((l) => isAlive(l.pid) && (l.kind === 'done' || l.kind === 'old')) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 10));
    all = await leftoversOf(dir);
  }
  const dead = all.filter((l) => !isAlive(l.pid));
  let readFrom = dir;
  if (!existsSync(dir)) {
    // Newest complete version first: a finished new one, then the one moved aside, then an old tl's temp folder.
    const rank: Record<Kind, number> = { done: 0, old: 1, legacy: 2, writing: 3 };
    const candidates = [...all.filter((l) => l.kind !== 'writing')];
    const times = new Map(await Promise.all(candidates.map(async (l) => [l.path, await mtime(l.path)] as const)));
    candidates.sort((a, b) => rank[a.kind] - rank[b.kind] || times.get(b.path)! - times.get(a.path)!);
    for (const c of candidates) {
      if (c.kind === 'legacy' && !(await opts.isComplete(c.path))) continue;
      if (isAlive(c.pid)) {
        readFrom = c.path; // its saver is still at work: read, do not move
        break;
      }
      try {
        await rename(c.path, dir);
      } catch {
        if (existsSync(dir)) break; // someone else restored it first
        readFrom = c.path; // cannot rename (read-only disk?): read it where it is
      }
      break;
    }
  }
  for (const l of dead) {
    if (l.path === readFrom || !existsSync(l.path)) continue;
    if (l.kind === 'legacy' && !(await opts.isOwnLegacy?.(l.path))) continue;
    await rm(l.path, { recursive: true, force: true }).catch(() => {});
  }
  return readFrom;
}

/** Write every file and the folder itself through to the disk, so a power cut cannot leave a renamed but empty file. */
async function syncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await syncTree(join(dir, e.name));
    else if (e.isFile()) await syncPath(join(dir, e.name));
  }
  await syncPath(dir);
}

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface ReplaceOptions extends RecoverOptions {
  /** Throws when `dir` (as recovered) must not be replaced. */
  check?: (dir: string) => Promise<void>;
}

/**
 * Replace `dir` by a folder that `fill` writes, atomically in the sense above. On failure nothing is left behind and
 * the previous `dir` (if any) is unchanged; the error from the file system is rethrown.
 */
export async function replaceDir(
  dir: string,
  fill: (tmp: string) => Promise<void>,
  opts: ReplaceOptions,
): Promise<void> {
  await recoverDir(dir, opts);
  await opts.check?.(dir);
  const parent = dirname(dir);
  if (!existsSync(parent)) await mkdir(parent, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const done = `${tmp}.done`;
  const old = `${tmp}.old`;
  // Not recursive: a recursive mkdir reports ENOENT for a read-only parent; this one says EROFS/EACCES.
  await mkdir(tmp);
  try {
    await fill(tmp);
    await syncTree(tmp);
    await rename(tmp, done);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  const hadOld = await lstat(dir).then(
    () => true,
    () => false,
  );
  try {
    if (hadOld) await rename(dir, old);
  } catch (err) {
    await rm(done, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  try {
    await rename(done, dir);
  } catch (err) {
    if (hadOld) await rename(old, dir).catch(() => {});
    await rm(done, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  await syncPath(parent).catch(() => {});
  if (hadOld) await rm(old, { recursive: true, force: true }).catch(() => {});
}
