// One upload request, all or nothing: every file is streamed into a staging folder inside the project (tmp/, emptied
// at start-up), checked there, and only when the whole request was received and accepted are the files renamed into
// the class folder. A request refused half-way (too many files, a malformed or aborted body) stores nothing.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpError, tooLarge, unprocessable } from './errors.js';
import { checkImage } from './image-types.js';
import { formatBytes } from '../util/format.js';

export interface UploadResult {
  file: string;
  class: string;
  /** The same photo (same bytes) was already in this class. */
  duplicate: boolean;
  originalName: string;
}

export interface UploadRejection {
  file: string;
  status: number;
  code: string;
  message: string;
}

interface Staged {
  path: string;
  originalName: string;
  declaredType: string;
  hash: string;
  /** Set by check(): the content-addressed name and the thumbnail. */
  file?: string;
  thumb?: Buffer;
}

export interface UploadTarget {
  project: string;
  cls: string;
  /** The project's tmp/ folder. */
  tmpDir: string;
  /** Called at commit time: the class folder (throws if the class went away meanwhile). */
  classDir: () => Promise<string>;
  saveThumb: (file: string, thumb: Buffer) => Promise<void>;
  makeThumb: (path: string) => Promise<Buffer>;
}

export class UploadBatch {
  private readonly staging: string;
  private staged: Staged[] = [];
  readonly rejected: UploadRejection[] = [];
  private created = false;

  constructor(
    private readonly target: UploadTarget,
    private readonly maxBytes: number,
  ) {
    this.staging = join(target.tmpDir, `upload-${randomBytes(8).toString('hex')}`);
  }

  /** Files received so far (kept or rejected). */
  get count(): number {
    return this.staged.length + this.rejected.length;
  }

  /** Stream one file part into the staging folder. Only size problems are known here; content is checked later. */
  async receive(source: Readable & { truncated?: boolean }, originalName: string, declaredType: string): Promise<void> {
    if (!this.created) {
      await mkdir(this.staging, { recursive: true });
      this.created = true;
    }
    const path = join(this.staging, String(this.count));
    const hash = createHash('sha256');
    let bytes = 0;
    await pipeline(
      source,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          // The multipart parser truncates at the limit (source.truncated); never error here, as destroying the
          // part's stream would stop the parsing of the files after it.
          bytes += chunk.length;
          hash.update(chunk);
          cb(null, chunk);
        },
      }),
      createWriteStream(path),
    );
    if (source.truncated || bytes > this.maxBytes)
      return this.reject(
        originalName,
        tooLarge(`"${originalName}" is larger than the ${formatBytes(this.maxBytes)} limit`),
        path,
      );
    if (bytes === 0)
      return this.reject(
        originalName,
        unprocessable(`"${originalName}" is empty (0 bytes)`, 'undecodable_image'),
        path,
      );
    this.staged.push({ path, originalName, declaredType, hash: hash.digest('hex') });
  }

  /** Check every received file (type, header, a full decode for the thumbnail); the bad ones become rejections. */
  async check(concurrency = 4): Promise<void> {
    const queue = [...this.staged];
    const worker = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        try {
          const { ext } = await checkImage(s.path, s.declaredType, s.originalName);
          s.file = `${s.hash.slice(0, 16)}.${ext}`;
          try {
            // Decoding the whole image also rejects truncated files before they are kept.
            s.thumb = await this.target.makeThumb(s.path);
          } catch {
            throw unprocessable(
              `"${s.originalName}" is truncated or corrupt; it cannot be decoded`,
              'undecodable_image',
            );
          }
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
          this.rejected.push({ file: s.originalName, status: err.statusCode, code: err.code, message: err.message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.staged.length) }, worker));
    this.staged = this.staged.filter((s) => s.file !== undefined);
  }

  /** Files that passed check(). */
  get accepted(): number {
    return this.staged.length;
  }

  /** Move the checked files into the class folder (synced first, so a crash never leaves half an image there). */
  async commit(): Promise<UploadResult[]> {
    const classDir = await this.target.classDir();
    const out: UploadResult[] = [];
    for (const s of this.staged) {
      const fh = await open(s.path, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const dest = join(classDir, s.file!);
      const duplicate = existsSync(dest);
      if (!duplicate) await rename(s.path, dest);
      await this.target.saveThumb(s.file!, s.thumb!).catch(() => {});
      out.push({ file: s.file!, class: this.target.cls, duplicate, originalName: s.originalName });
    }
    return out;
  }

  /** Remove the staging folder (after commit, or instead of it). */
  async discard(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true }).catch(() => {});
  }

  private async reject(name: string, err: HttpError, path: string): Promise<void> {
    this.rejected.push({ file: name, status: err.statusCode, code: err.code, message: err.message });
    await rm(path, { force: true });
  }
}
