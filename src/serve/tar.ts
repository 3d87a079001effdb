// A minimal ustar writer: enough to stream a bundle folder as one .tar download (no dependency needed).
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width - 1 digits, then a NUL terminator.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** One 512-byte ustar header for a regular file `prefix/name`. */
export function tarHeader(name: string, size: number, mtime: Date, prefix = ''): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  if (Buffer.byteLength(prefix) > 155) throw new Error(`tar entry prefix too long: ${prefix}`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 8, 'ascii'); // mode
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // regular file
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('tl', 265, 32, 'ascii'); // uname
  h.write('tl', 297, 32, 'ascii'); // gname
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
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
  const entries = await Promise.all(
    names.map(async (name) => {
      const st = await stat(join(dir, name));
      const text =
        rewriteText && TEXT_FILE_RE.test(name)
          ? Buffer.from(rewriteText(await readFile(join(dir, name), 'utf8')))
          : undefined;
      return { name, st, text };
    }),
  );
  async function* generate(): AsyncGenerator<Buffer> {
    for (const { name, st, text } of entries) {
      if (text) {
        yield tarHeader(name, text.length, st.mtime, root);
        yield text;
        const pad = (BLOCK - (text.length % BLOCK)) % BLOCK;
        if (pad) yield Buffer.alloc(pad, 0);
        continue;
      }
      yield tarHeader(name, st.size, st.mtime, root);
      let written = 0;
      // Read exactly the size announced in the header, even if the file changed since.
      for await (const chunk of createReadStream(join(dir, name), { start: 0, end: Math.max(0, st.size - 1) })) {
        const buf = chunk as Buffer;
        const take = buf.subarray(0, Math.max(0, st.size - written));
        written += take.length;
        if (take.length) yield take;
        if (written >= st.size) break;
      }
      if (written < st.size) yield Buffer.alloc(st.size - written, 0);
      const pad = (BLOCK - (st.size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad, 0);
    }
    yield Buffer.alloc(BLOCK * 2, 0); // end of archive
  }
  return Readable.from(generate(), { objectMode: false });
}
