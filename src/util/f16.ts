// IEEE 754 half precision by hand (Node 20 has no Float16Array), the one float16 codec of the toolkit: cut activations
// are cached as float16 to halve the disk they take, and exports store weights in it (ONNX FLOAT16, TF.js 'float16'
// quantization use this same layout). Round to nearest even; values beyond ±65504 become ±Infinity, NaN stays NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflow to ±0
    mant |= 0x800000; // subnormal half: shift in the implicit bit
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

// All 65536 halves decoded once (256 KB): decoding is then a table lookup.
const TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] =
      e === 0 ? sign * m * 2 ** -24 : e === 0x1f ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function fromHalf(h: number): number {
  return TABLE[h & 0xffff];
}

/** The nearest float16 of every value, in place: what a float16 store would give back. */
export function roundToF16(v: Float32Array): Float32Array {
  for (let i = 0; i < v.length; i++) v[i] = TABLE[toHalf(v[i])];
  return v;
}

/** float32 values → float16 bit patterns. */
export function toFloat16(v: Float32Array): Uint16Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = toHalf(v[i]);
  return out;
}

/** float32 values → little-endian float16 bytes. */
export function encodeF16(v: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(v.length * 2);
  for (let i = 0; i < v.length; i++) out.writeUInt16LE(toHalf(v[i]), i * 2);
  return out;
}

/** Little-endian float16 bytes → float32 values. */
export function decodeF16(bytes: Uint8Array, into?: Float32Array): Float32Array {
  const n = bytes.byteLength >>> 1;
  const out = into ?? new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = TABLE[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}
