// The one preprocessing path (decodeToRgb / rgbToTensor) against the odd images people actually feed it.
// Every odd image is generated here with sharp into a temp dir; no image file is committed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { decodeToRgb, preprocess, rgbToTensor } from '../../src/data/image.js';
import type { InputSpec } from '../../src/backbone/types.js';
import { TlError } from '../../src/util/errors.js';

const DATASETS = process.env.TL_DATASETS_DIR || resolve(import.meta.dirname, '../../../shared/datasets');

type RGB = [number, number, number];
const RED: RGB = [220, 20, 30];
const GREEN: RGB = [20, 200, 40];
const BLUE: RGB = [30, 40, 210];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tl-image-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Pixel (x, y) of a size x size RGB buffer. */
function px(rgb: Buffer, size: number, x: number, y: number): RGB {
  const i = (y * size + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

function assertClose(actual: RGB, expected: RGB, tol: number, what: string): void {
  const ok = actual.every((v, c) => Math.abs(v - expected[c]) <= tol);
  assert.ok(ok, `${what}: got [${actual}] expected [${expected}] +-${tol}`);
}

/** Every pixel of the buffer is within tol of one colour. */
function assertAll(rgb: Buffer, size: number, expected: RGB, tol: number, what: string): void {
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) assertClose(px(rgb, size, x, y), expected, tol, `${what} at (${x},${y})`);
}

/** Raw 8-bit RGB image where colourAt(x, y) gives each pixel. */
function rawImage(width: number, height: number, channels: 3 | 4, colourAt: (x: number, y: number) => number[]): Sharp {
  const buf = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const c = colourAt(x, y);
      for (let k = 0; k < channels; k++) buf[(y * width + x) * channels + k] = c[k];
    }
  return sharp(buf, { raw: { width, height, channels } });
}

function solid(width: number, height: number, c: RGB): Sharp {
  return sharp({ create: { width, height, channels: 3, background: { r: c[0], g: c[1], b: c[2] } } });
}

/** Insert an iCCP chunk holding sharp's sRGB profile right after the IHDR chunk of a PNG. */
async function withSrgbProfile(png: Buffer): Promise<Buffer> {
  const icc = (await sharp(await solid(1, 1, RED).withIccProfile('srgb').png().toBuffer()).metadata()).icc;
  assert.ok(icc, 'sharp should embed its sRGB profile');
  const body = Buffer.concat([Buffer.from('sRGB\0\0', 'latin1'), deflateSync(icc)]);
  const type = Buffer.from('iCCP', 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, body])));
  const ihdrEnd = 8 + 4 + 4 + 13 + 4;
  return Buffer.concat([png.subarray(0, ihdrEnd), len, type, body, crc, png.subarray(ihdrEnd)]);
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

async function file(name: string, data: Buffer | Promise<Buffer>): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, await data);
  return p;
}

async function assertTlError(p: Promise<unknown>, pattern: RegExp): Promise<TlError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TlError, `expected a TlError, got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.match(caught.message, pattern);
  assert.ok(
    caught.message.length < 200 && !caught.message.includes('\n'),
    `message should be one short line: ${caught.message}`,
  );
  return caught;
}

const FILL = (size: number) => ({ size, resize: 'fill' as const });
const COVER = (size: number) => ({ size, resize: 'cover' as const });

describe('decodeToRgb: colour spaces, depths and formats', () => {
  test('PNG with alpha: transparent becomes white, opaque colour is kept, half alpha blends over white', async () => {
    // left third transparent black, middle third opaque green, right third 50% black
    const img = rawImage(30, 10, 4, (x) => (x < 10 ? [0, 0, 0, 0] : x < 20 ? [...GREEN, 255] : [0, 0, 0, 128]));
    const p = await file('alpha.png', img.png().toBuffer());
    assert.equal((await sharp(p).metadata()).hasAlpha, true);
    const rgb = await decodeToRgb(p, FILL(30));
    assert.equal(rgb.length, 30 * 30 * 3);
    assertClose(px(rgb, 30, 4, 15), [255, 255, 255], 0, 'transparent');
    assertClose(px(rgb, 30, 15, 15), GREEN, 0, 'opaque');
    assertClose(px(rgb, 30, 25, 15), [127, 127, 127], 1, 'half transparent black over white');
  });

  test('grayscale + alpha PNG: transparent becomes white, grey stays grey on 3 channels', async () => {
    const img = rawImage(20, 10, 4, (x) => (x < 10 ? [0, 0, 0, 0] : [90, 90, 90, 255]));
    const p = await file('grey-alpha.png', img.toColourspace('b-w').png().toBuffer());
    const m = await sharp(p).metadata();
    assert.equal(m.channels, 2);
    const rgb = await decodeToRgb(p, FILL(20));
    assertClose(px(rgb, 20, 3, 10), [255, 255, 255], 0, 'transparent grey');
    assertClose(px(rgb, 20, 15, 10), [90, 90, 90], 1, 'opaque grey');
  });

  test('grayscale JPEG and grayscale PNG give 3 equal channels', async () => {
    const grad = rawImage(64, 64, 3, (x) => [x * 4, x * 4, x * 4]).toColourspace('b-w');
    const jpg = await file('grey.jpg', grad.clone().jpeg({ quality: 95 }).toBuffer());
    const png = await file('grey.png', grad.clone().png().toBuffer());
    for (const p of [jpg, png]) {
      const m = await sharp(p).metadata();
      assert.equal(m.channels, 1, p);
      const rgb = await decodeToRgb(p, FILL(64));
      assert.equal(rgb.length, 64 * 64 * 3);
      for (let i = 0; i < 64 * 64; i++) {
        assert.equal(rgb[i * 3], rgb[i * 3 + 1], `${p} pixel ${i}`);
        assert.equal(rgb[i * 3], rgb[i * 3 + 2], `${p} pixel ${i}`);
      }
      // the gradient survives: left dark, right bright
      assert.ok(px(rgb, 64, 1, 32)[0] < 16 && px(rgb, 64, 62, 32)[0] > 230, `${p} gradient`);
    }
    // PNG is lossless: exact values
    const rgb = await decodeToRgb(png, FILL(64));
    assert.equal(px(rgb, 64, 10, 5)[0], 40);
  });

  test('16-bit RGB PNG (with and without ICC profile) and 16-bit grayscale PNG are scaled to 8 bit (65535 -> 255)', async () => {
    // 4 columns of 16-bit samples: 0, 128*257, 65535 and a colour that is (255, 128, 0) in 8 bit
    const w = 4;
    const h = 4;
    const data = new Uint16Array(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v =
          x === 0 ? [0, 0, 0] : x === 1 ? [32896, 32896, 32896] : x === 2 ? [65535, 65535, 65535] : [65535, 32896, 0];
        data.set(v, (y * w + x) * 3);
      }
    // a Uint16Array makes sharp read the raw samples as 16-bit
    const raw = () => sharp(data, { raw: { width: w, height: h, channels: 3 } });
    const rgb16 = await file('rgb16.png', raw().toColourspace('rgb16').png().toBuffer());
    // same samples plus an embedded sRGB profile (spliced in as an iCCP chunk so the samples stay untouched)
    const rgb16icc = await file('rgb16-icc.png', withSrgbProfile(await raw().toColourspace('rgb16').png().toBuffer()));
    const grey16 = await file('grey16.png', raw().toColourspace('grey16').png().toBuffer());
    for (const p of [rgb16, rgb16icc]) {
      const m = await sharp(p).metadata();
      assert.equal(m.depth, 'ushort', p);
      assert.equal(m.channels, 3, p);
    }
    assert.equal((await sharp(rgb16icc).metadata()).hasProfile, true);
    // the samples really are stored unchanged in both files
    assert.deepEqual(await sharp(rgb16icc).keepIccProfile().raw().toBuffer(), await sharp(rgb16).raw().toBuffer());
    const mg = await sharp(grey16).metadata();
    assert.equal(mg.depth, 'ushort');
    assert.equal(mg.channels, 1);

    for (const p of [rgb16, rgb16icc]) {
      const rgb = await decodeToRgb(p, FILL(4));
      assert.equal(rgb.length, 4 * 4 * 3);
      assertClose(px(rgb, 4, 0, 1), [0, 0, 0], 0, `${p} 0`);
      assertClose(px(rgb, 4, 1, 1), [128, 128, 128], 0, `${p} 32896`);
      assertClose(px(rgb, 4, 2, 1), [255, 255, 255], 0, `${p} 65535`);
      assertClose(px(rgb, 4, 3, 1), [255, 128, 0], 1, `${p} colour`);
    }

    const g = await decodeToRgb(grey16, FILL(4));
    assert.equal(g.length, 4 * 4 * 3);
    assertClose(px(g, 4, 0, 2), [0, 0, 0], 0, 'grey16 0');
    assertClose(px(g, 4, 1, 2), [128, 128, 128], 0, 'grey16 32896');
    assertClose(px(g, 4, 2, 2), [255, 255, 255], 0, 'grey16 65535');
  });

  test('16-bit RGBA PNG: alpha is flattened, result is 8-bit RGB', async () => {
    // three 4-px stripes: transparent, opaque red, half-transparent blue
    const stripe = [
      [0, 0, 0, 0],
      [65535, 0, 0, 65535],
      [0, 0, 65535, 32768],
    ];
    const data = new Uint16Array(12 * 4 * 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 12; x++) data.set(stripe[Math.floor(x / 4)], (y * 12 + x) * 4);
    const p = await file(
      'rgba16.png',
      sharp(data, { raw: { width: 12, height: 4, channels: 4 } })
        .toColourspace('rgb16')
        .png()
        .toBuffer(),
    );
    const m = await sharp(p).metadata();
    assert.equal(m.depth, 'ushort');
    assert.equal(m.channels, 4);
    const rgb = await decodeToRgb(p, FILL(12));
    assert.equal(rgb.length, 12 * 12 * 3);
    assertClose(px(rgb, 12, 1, 6), [255, 255, 255], 0, 'transparent 16-bit');
    assertClose(px(rgb, 12, 6, 6), [255, 0, 0], 0, 'opaque red 16-bit');
    assertClose(px(rgb, 12, 10, 6), [127, 127, 255], 1, 'half-transparent blue 16-bit over white');
  });

  test('CMYK JPEG (with and without embedded profile) comes out close to the original RGB', async () => {
    const colours: RGB[] = [
      [200, 80, 40],
      [120, 100, 90],
      [30, 140, 60],
      [240, 230, 210],
    ];
    for (const colour of colours) {
      const plain = await file(
        'cmyk.jpg',
        solid(32, 32, colour).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
      );
      const withIcc = await file(
        'cmyk-icc.jpg',
        solid(32, 32, colour).toColourspace('cmyk').withIccProfile('cmyk').jpeg({ quality: 95 }).toBuffer(),
      );
      for (const p of [plain, withIcc]) {
        const m = await sharp(p).metadata();
        assert.equal(m.space, 'cmyk');
        assert.equal(m.channels, 4);
        const rgb = await decodeToRgb(p, FILL(16));
        assert.equal(rgb.length, 16 * 16 * 3);
        // SWOP round trips are not exact; 12 levels is well inside what a viewer shows as "the same colour"
        assertAll(rgb, 16, colour, 12, `cmyk ${p} [${colour}]`);
      }
    }
  });

  test('WebP (lossy and with alpha) and TIFF decode', async () => {
    const webp = await file('solid.webp', solid(20, 20, BLUE).webp({ quality: 95 }).toBuffer());
    assertAll(await decodeToRgb(webp, FILL(8)), 8, BLUE, 8, 'webp');
    const webpA = await file(
      'alpha.webp',
      rawImage(20, 20, 4, (x) => (x < 10 ? [0, 0, 0, 0] : [...RED, 255]))
        .webp({ lossless: true })
        .toBuffer(),
    );
    const wa = await decodeToRgb(webpA, FILL(20));
    assertClose(px(wa, 20, 2, 10), [255, 255, 255], 0, 'webp transparent');
    assertClose(px(wa, 20, 17, 10), RED, 0, 'webp opaque');
    const tiff = await file('solid.tiff', solid(20, 20, GREEN).tiff({ compression: 'lzw' }).toBuffer());
    assert.equal((await sharp(tiff).metadata()).format, 'tiff');
    assertAll(await decodeToRgb(tiff, FILL(8)), 8, GREEN, 0, 'tiff');
  });

  test('GIF decodes (first frame, palette colours)', async () => {
    const p = await file('solid.gif', solid(20, 20, [255, 0, 0]).gif().toBuffer());
    assert.equal((await sharp(p).metadata()).format, 'gif');
    assertAll(await decodeToRgb(p, FILL(8)), 8, [255, 0, 0], 2, 'gif');
  });

  test('bytes and path give the same pixels', async () => {
    const buf = await solid(10, 10, GREEN).png().toBuffer();
    const p = await file('same.png', buf);
    assert.deepEqual(await decodeToRgb(buf, COVER(7)), await decodeToRgb(p, COVER(7)));
  });
});

describe('decodeToRgb: EXIF orientation', () => {
  // 40 wide x 60 tall: left half red, right half blue, a green 10x10 block in the top-left corner.
  const stored = () => rawImage(40, 60, 3, (x, y) => (x < 10 && y < 10 ? GREEN : x < 20 ? RED : BLUE));
  const S = 30;
  const q = (rgb: Buffer, fx: number, fy: number) => px(rgb, S, Math.floor(fx * S), Math.floor(fy * S));

  // orientation -> how a viewer turns the stored pixels (clockwise degrees) + where the colours end up (x, y fractions)
  const cases: { o: number; deg: number; red: [number, number]; blue: [number, number]; green: [number, number] }[] = [
    // 6: rotate 90 CW to display -> left half (red) becomes the top, green corner top-right
    { o: 6, deg: 90, red: [0.5, 0.3], blue: [0.5, 0.8], green: [0.95, 0.05] },
    // 3: rotate 180 -> red on the right, green bottom-right
    { o: 3, deg: 180, red: [0.75, 0.5], blue: [0.25, 0.5], green: [0.97, 0.97] },
    // 8: rotate 90 CCW (270 CW) -> red at the bottom, green bottom-left
    { o: 8, deg: 270, red: [0.5, 0.8], blue: [0.5, 0.2], green: [0.05, 0.97] },
  ];

  for (const c of cases) {
    test(`orientation ${c.o} is applied as a viewer shows it`, async () => {
      const p = await file(
        `orient${c.o}.jpg`,
        stored().jpeg({ quality: 95 }).withMetadata({ orientation: c.o }).toBuffer(),
      );
      const m = await sharp(p).metadata();
      assert.equal(m.orientation, c.o);
      assert.equal(m.width, 40); // stored, not displayed, dimensions
      const rgb = await decodeToRgb(p, FILL(S));
      assertClose(q(rgb, ...c.red), RED, 20, 'red region');
      assertClose(q(rgb, ...c.blue), BLUE, 20, 'blue region');
      assertClose(q(rgb, ...c.green), GREEN, 40, 'green corner');

      // and it matches the orientation-1 image rotated by sharp itself
      const upright = await file(`upright${c.o}.jpg`, stored().rotate(c.deg).jpeg({ quality: 95 }).toBuffer());
      const ref = await decodeToRgb(upright, FILL(S));
      let maxDiff = 0;
      let sumDiff = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(ref[i] - rgb[i]);
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
      }
      assert.ok(sumDiff / ref.length < 3, `mean abs diff vs sharp-rotated reference ${sumDiff / ref.length}`);
    });
  }

  test('cover crop happens after rotation (tall image turned wide keeps its centre)', async () => {
    // stored 40x120 tall: top third red, middle green, bottom blue; orientation 6 turns it 120x40 wide
    const img = rawImage(40, 120, 3, (_x, y) => (y < 40 ? RED : y < 80 ? GREEN : BLUE));
    const p = await file('orient6-cover.jpg', img.jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
    const rgb = await decodeToRgb(p, COVER(32));
    assertClose(px(rgb, 32, 16, 16), GREEN, 20, 'centre');
    assertClose(px(rgb, 32, 1, 16), GREEN, 30, 'left edge after crop');
    assertClose(px(rgb, 32, 30, 16), GREEN, 30, 'right edge after crop');
  });
});

describe('decodeToRgb: resize', () => {
  // 300x100, distinct left/centre/right thirds
  const thirds = () => rawImage(300, 100, 3, (x) => (x < 100 ? RED : x < 200 ? GREEN : BLUE));

  test("'cover' keeps the centre third only", async () => {
    const p = await file('thirds.png', thirds().png().toBuffer());
    const rgb = await decodeToRgb(p, COVER(64));
    assert.equal(rgb.length, 64 * 64 * 3);
    let green = 0;
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++) if (px(rgb, 64, x, y).every((v, c) => Math.abs(v - GREEN[c]) <= 10)) green++;
    assert.ok(green / (64 * 64) > 0.95, `green share ${green / 4096}`);
    assertClose(px(rgb, 64, 32, 32), GREEN, 0, 'centre');
  });

  test("'fill' stretches and keeps all three thirds", async () => {
    const p = await file('thirds-fill.png', thirds().png().toBuffer());
    const rgb = await decodeToRgb(p, FILL(64));
    assert.equal(rgb.length, 64 * 64 * 3);
    assertClose(px(rgb, 64, 5, 32), RED, 0, 'left');
    assertClose(px(rgb, 64, 32, 32), GREEN, 0, 'centre');
    assertClose(px(rgb, 64, 58, 32), BLUE, 0, 'right');
  });

  test('tiny image is upscaled to size', async () => {
    const p = await file('tiny.png', solid(1, 1, RED).png().toBuffer());
    assertAll(await decodeToRgb(p, COVER(5)), 5, RED, 0, 'tiny');
  });
});

describe('decodeToRgb: huge images', () => {
  test('96-megapixel JPEG decodes (shrink-on-load) to size*size*3', async () => {
    const colour: RGB = [10, 120, 200];
    const p = await file('huge.jpg', solid(12000, 8000, colour).jpeg({ quality: 60 }).toBuffer());
    const before = process.memoryUsage().rss;
    const t = Date.now();
    const rgb = await decodeToRgb(p, COVER(224));
    const ms = Date.now() - t;
    const grew = (process.memoryUsage().rss - before) / 1e6;
    assert.equal(rgb.length, 224 * 224 * 3);
    assertAll(rgb, 224, colour, 6, 'huge');
    // a full decode would need 288 MB of pixels; shrink-on-load needs a fraction
    assert.ok(grew < 200, `rss grew ${grew.toFixed(0)} MB decoding a 96 MP JPEG`);
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  test('image above 100 megapixels: TlError mentioning megapixels', async () => {
    // 121 MP solid grey PNG: ~120 kB on disk, rejected from the header before any decode
    const p = await file(
      'too-big.png',
      solid(11000, 11000, [0, 0, 0]).toColourspace('b-w').png({ compressionLevel: 9 }).toBuffer(),
    );
    const err = await assertTlError(decodeToRgb(p, COVER(224)), /megapixel/i);
    assert.match(err.message, /11000.*11000|121/);
  });
});

describe('decodeToRgb: broken input gives a short TlError', () => {
  test('zero-byte buffer and zero-byte file', async () => {
    await assertTlError(decodeToRgb(Buffer.alloc(0), COVER(8)), /empty file \(0 bytes\)/);
    const p = await file('zero.jpg', Buffer.alloc(0));
    await assertTlError(decodeToRgb(p, COVER(8)), /empty file \(0 bytes\)/);
  });

  test('missing file', async () => {
    await assertTlError(decodeToRgb(join(dir, 'nope.jpg'), COVER(8)), /not found|no such file/i);
  });

  test('truncated JPEG (first half of a real JPEG)', async () => {
    const full = await rawImage(200, 200, 3, (x, y) => [x, y, (x * y) & 255])
      .jpeg({ quality: 90 })
      .toBuffer();
    const half = full.subarray(0, Math.floor(full.length / 2));
    const p = await file('truncated.jpg', half);
    await assertTlError(decodeToRgb(p, COVER(8)), /truncated or corrupt/);
    await assertTlError(decodeToRgb(half, COVER(8)), /truncated or corrupt/);
  });

  test('truncated progressive JPEG and truncated PNG', async () => {
    const img = () => rawImage(200, 200, 3, (x, y) => [x, y, (x * y) & 255]);
    const prog = await img().jpeg({ quality: 90, progressive: true }).toBuffer();
    await assertTlError(decodeToRgb(prog.subarray(0, Math.floor(prog.length / 2)), COVER(8)), /truncated or corrupt/);
    const png = await img().png().toBuffer();
    await assertTlError(decodeToRgb(png.subarray(0, Math.floor(png.length / 2)), COVER(8)), /truncated or corrupt/);
  });

  test('a text file named .jpg', async () => {
    const p = await file('notes.jpg', Buffer.from('this is not a photo\n'));
    await assertTlError(decodeToRgb(p, COVER(8)), /not an image sharp can read/);
  });

  test('a directory', async () => {
    await assertTlError(decodeToRgb(dir, COVER(8)), /directory/);
  });
});

describe('decodeToRgb: real dataset files', () => {
  test('progressive JPEG with a space in its name (hymenoptera "ant photos.jpg")', async (t) => {
    const p = join(DATASETS, 'hymenoptera_data/train/ants/ant photos.jpg');
    if (!existsSync(p)) return t.skip(`${p} not present`);
    assert.equal((await sharp(p).metadata()).isProgressive, true);
    const rgb = await decodeToRgb(p, COVER(224));
    assert.equal(rgb.length, 224 * 224 * 3);
    const t2 = await preprocess(p, {
      size: 224,
      resize: 'cover',
      layout: 'NCHW',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    assert.equal(t2.length, 3 * 224 * 224);
    assert.ok(t2.every(Number.isFinite));
  });

  test('a grayscale JPEG from imagenette/val gives 3 equal channels', async (t) => {
    const root = join(DATASETS, 'imagenette/val');
    if (!existsSync(root)) return t.skip(`${root} not present`);
    let grey: string | undefined;
    outer: for (const cls of (await readdir(root)).sort())
      for (const f of (await readdir(join(root, cls))).sort()) {
        const m = await sharp(join(root, cls, f)).metadata();
        if (m.channels === 1) {
          grey = join(root, cls, f);
          break outer;
        }
      }
    assert.ok(grey, 'no grayscale JPEG found in imagenette/val');
    const rgb = await decodeToRgb(grey, COVER(160));
    assert.equal(rgb.length, 160 * 160 * 3);
    for (let i = 0; i < 160 * 160; i++)
      assert.ok(rgb[i * 3] === rgb[i * 3 + 1] && rgb[i * 3] === rgb[i * 3 + 2], `pixel ${i}`);
    // and the bytes path agrees with the file path
    assert.deepEqual(await decodeToRgb(await readFile(grey), COVER(160)), rgb);
  });
});

describe('rgbToTensor', () => {
  // 2x1 image: pixel 0 = (255, 128, 0), pixel 1 = (10, 20, 30)
  const rgb = Buffer.from([255, 128, 0, 10, 20, 30]);
  const pixels = [
    [255, 128, 0],
    [10, 20, 30],
  ];
  const imagenet = {
    mean: [0.485, 0.456, 0.406] as [number, number, number],
    std: [0.229, 0.224, 0.225] as [number, number, number],
  };
  const minusOneOne = {
    mean: [0.5, 0.5, 0.5] as [number, number, number],
    std: [0.5, 0.5, 0.5] as [number, number, number],
  };

  // size must be square; use a 2x2 image whose second row repeats the first
  const rgb4 = Buffer.concat([rgb, rgb]);
  const px4 = [...pixels, ...pixels];

  const expect = (p: number, c: number, norm: typeof imagenet) => (p / 255 - norm.mean[c]) / norm.std[c];

  for (const [name, norm] of [
    ['ImageNet mean/std', imagenet],
    ['[-1, 1]', minusOneOne],
  ] as const) {
    test(`NCHW with ${name}`, () => {
      const spec: InputSpec = { size: 2, resize: 'cover', layout: 'NCHW', ...norm };
      const out = rgbToTensor(rgb4, spec);
      assert.equal(out.length, 12);
      for (let c = 0; c < 3; c++)
        for (let i = 0; i < 4; i++) {
          const want = expect(px4[i][c], c, norm);
          assert.ok(Math.abs(out[c * 4 + i] - want) < 1e-6, `NCHW c${c} i${i}: ${out[c * 4 + i]} vs ${want}`);
        }
    });
    test(`NHWC with ${name}`, () => {
      const spec: InputSpec = { size: 2, resize: 'cover', layout: 'NHWC', ...norm };
      const out = rgbToTensor(rgb4, spec);
      assert.equal(out.length, 12);
      for (let i = 0; i < 4; i++)
        for (let c = 0; c < 3; c++) {
          const want = expect(px4[i][c], c, norm);
          assert.ok(Math.abs(out[i * 3 + c] - want) < 1e-6, `NHWC i${i} c${c}: ${out[i * 3 + c]} vs ${want}`);
        }
    });
  }

  test('known values written out', () => {
    const nchw = rgbToTensor(rgb4, { size: 2, resize: 'cover', layout: 'NCHW', ...imagenet });
    // R of pixel 0: (1 - 0.485) / 0.229 = 2.2489083; G of pixel 0: (128/255 - 0.456) / 0.224 = 0.2051821; B: -0.406/0.225 = -1.8044444
    assert.ok(Math.abs(nchw[0] - 2.2489083) < 1e-6);
    assert.ok(Math.abs(nchw[4] - 0.2051821) < 1e-6);
    assert.ok(Math.abs(nchw[8] - -1.8044444) < 1e-6);
    const nhwc = rgbToTensor(rgb4, { size: 2, resize: 'cover', layout: 'NHWC', ...minusOneOne });
    // 255 -> 1, 128 -> 0.0039216, 0 -> -1
    assert.deepEqual(
      Array.from(nhwc.subarray(0, 3), (v) => Math.round(v * 1e6) / 1e6),
      [1, 0.003922, -1],
    );
    // pixel 1 (10, 20, 30): 10/127.5 - 1 = -0.9215686
    assert.ok(Math.abs(nhwc[3] - -0.9215686) < 1e-6);
  });
});
