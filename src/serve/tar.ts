// Tar downloads (a bundle folder, an export, a whole project), packed by tar-stream: this module only says which
// files go in, reads each one lazily and keeps the stream's back-pressure.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';

/** One regular file of an archive: its bytes in memory, or a file on disk read when its turn comes. */
export interface TarFile {
  /** '/'-separated path inside the archive. */
  path: string;
  mtime: Date;
  body: Buffer | { file: string; size: number };
}

/** Resolves once `stream` takes more (or is closed: a writer stops then). */
export function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Exactly `size` bytes of `file` (the size announced in the header), even if the file changed since. */
async function* exactly(file: string, size: number): AsyncGenerator<Buffer> {
  let written = 0;
  if (size > 0)
    for await (const chunk of createReadStream(file, { start: 0, end: size - 1 })) {
      const take = (chunk as Buffer).subarray(0, size - written);
      written += take.length;
      if (take.length) yield take;
      if (written >= size) break;
    }
  if (written < size) yield Buffer.alloc(size - written, 0);
}

function addEntry(pack: Pack, { path, mtime, body }: TarFile): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = { name: path, mtime, mode: 0o644, uname: 'tl', gname: 'tl' };
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (Buffer.isBuffer(body)) {
      pack.entry(header, body, done);
      return;
    }
    const sink = pack.entry({ ...header, size: body.size }, done);
    void (async () => {
      try {
        for await (const piece of exactly(body.file, body.size)) {
          if (sink.destroyed) return;
          if (!sink.write(piece)) await drained(sink);
        }
        sink.end(null);
      } catch (err) {
        sink.destroy(err as Error);
      }
    })();
  });
}

/**
 * The files as one tar stream. They are asked for one at a time as the stream is read; an error while producing one
 * ends the stream with that error.
 */
export function tarStream(files: AsyncIterable<TarFile> | Iterable<TarFile>): Readable {
  const pack = tarPack();
  void (async () => {
    try {
      for await (const f of files) await addEntry(pack, f);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return Readable.from(pack, { objectMode: false });
}

const TEXT_FILE_RE = /\.(json|html|txt|csv|md)$/i;

/**
 * Stream the regular files directly inside `dir` as a tar whose entries sit under the folder `root/`. `rewriteText`,
 * if given, is applied to the (small) text files, which are then packed from memory.
 */
export async function tarFolder(dir: string, root: string, rewriteText?: (text: string) => string): Promise<Readable> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const files = await Promise.all(
    names.map(async (name): Promise<TarFile> => {
      const file = join(dir, name);
      const st = await stat(file);
      const body =
        rewriteText && TEXT_FILE_RE.test(name)
          ? Buffer.from(rewriteText(await readFile(file, 'utf8')))
          : { file, size: st.size };
      return { path: `${root}/${name}`, mtime: st.mtime, body };
    }),
  );
  return tarStream(files);
}
