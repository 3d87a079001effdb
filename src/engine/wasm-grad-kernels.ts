// Gradient kernels for convolutions on the TF.js WebAssembly backend.
//
// tfjs-backend-wasm 4.22 ships no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter or
// DepthwiseConv2dNativeBackpropInput, so `tf.grad` through a conv layer throws on 'wasm'. Its
// Conv2DBackpropInput exists but is a naive C++ loop (~10x slower than the XNNPACK conv/matmul it
// could use). This module registers all four, built only from the backend's fast kernels
// (XNNPACK MatMul, Conv2D, DepthwiseConv2dNative, Transpose, PadV2, Multiply) plus an in-heap
// strided copy; intermediates are raw backend buffers, never engine tensors, and are freed before
// the kernel returns, so `tf.memory().numTensors` is unaffected.
//
// Supported: NHWC, dilation 1, any strides, padding 'same' | 'valid' | explicit numbers, any kernel
// size, channel multiplier 1 for depthwise. Anything else throws an Error naming the config
// (Conv2DBackpropInput instead falls back to the backend's original kernel).
//
// Also, from profiling a whole-MobileNetV2 training step (bench/profile-full-step.ts): the depthwise
// filter gradient as one pass over the heap, a column-sum Sum for bias gradients, 'TlClipGrad' (the
// ReLU6 clamps' gradient, see clip.ts) and an Identity that shares the buffer instead of copying it
// (the engine clones every tensor it saves for the backward pass).
import type * as TF from '@tensorflow/tfjs';
import { simdKernelsFor } from './simd/kernels.js';

type Tf = typeof TF;
type DataType = TF.DataType;

interface TI {
  dataId: object;
  shape: number[];
  dtype: DataType;
}

interface WasmBackend {
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: DataType): TI;
  disposeData(dataId: object, force?: boolean): boolean;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    /** The Emscripten module's exports, including its memory. */
    asm?: { memory?: WebAssembly.Memory };
  };
}

type ConvInfo = TF.backend_util.Conv2DInfo;
type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
type PadAttr = 'valid' | 'same' | number | Pad4;

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs backend kernels on raw TensorInfos, tracking every buffer it allocates. */
class Ops {
  private temps: TI[] = [];
  constructor(
    private readonly tf: Tf,
    readonly be: WasmBackend,
  ) {}

  private run(name: string, inputs: Record<string, TI> | TI[], attrs: Record<string, unknown>): TI {
    const k = this.tf.getKernel(name, 'wasm');
    if (k == null) throw new Error(`wasm-grad-kernels: the wasm backend has no '${name}' kernel`);
    const out = k.kernelFunc({ inputs: inputs as never, backend: this.be, attrs: attrs as never }) as TI;
    this.temps.push(out);
    return out;
  }

  /** A reshaped alias of t; owns nothing. */
  view(t: TI, shape: number[]): TI {
    if (sizeOf(shape) !== sizeOf(t.shape)) throw new Error(`view: ${t.shape} -> ${shape}`);
    return { dataId: t.dataId, shape, dtype: t.dtype };
  }

  /** Frees t now (it must be a buffer this Ops allocated, or a view of one). */
  free(t: TI): void {
    const i = this.temps.findIndex((u) => u.dataId === t.dataId);
    if (i < 0) return; // a view of a caller's input: nothing to free
    this.temps.splice(i, 1);
    this.be.disposeData(t.dataId);
  }

  transpose(x: TI, perm: number[]): TI {
    return this.run('Transpose', { x }, { perm });
  }
  pad(x: TI, paddings: number[][]): TI {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }
  matMul(a: TI, b: TI): TI {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }
  mul(a: TI, b: TI): TI {
    return this.run('Multiply', { a, b }, {});
  }
  sum(x: TI, axis: number): TI {
    return this.run('Sum', { x }, { axis: [axis], keepDims: false });
  }
  reverse(x: TI, dims: number[]): TI {
    return this.run('Reverse', { x }, { dims });
  }
  concat(xs: TI[], axis: number): TI {
    return this.run('Concat', xs, { axis });
  }
  conv2d(x: TI, filter: TI, pad: PadAttr): TI {
    return this.run('Conv2D', { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
  }
  depthwise(x: TI, filter: TI, pad: PadAttr): TI {
    return this.run('DepthwiseConv2dNative', { x, filter }, { strides: [1, 1], pad, dilations: [1, 1] });
  }

  /** Copies x[begin : begin+size] (any rank, float32) with memmoves of the longest contiguous runs. */
  slice(x: TI, begin: number[], size: number[]): TI {
    const rank = x.shape.length;
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    const out = this.be.makeOutput(size, x.dtype);
    this.temps.push(out);
    // Merge trailing dims taken whole into one contiguous run.
    let inner = rank - 1;
    let run = size[inner];
    while (inner > 0 && size[inner] === x.shape[inner]) {
      inner--;
      run *= size[inner];
    }
    const strides = new Array<number>(rank);
    strides[rank - 1] = 1;
    for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * x.shape[d + 1];
    const heap = new Float32Array(this.be.wasm.HEAPU8.buffer); // after makeOutput: heap may have grown
    const src0 = this.be.dataIdMap.get(x.dataId)!.memoryOffset / 4;
    const dst0 = this.be.dataIdMap.get(out.dataId)!.memoryOffset / 4;
    let base = src0;
    for (let d = 0; d <= inner; d++) base += begin[d] * strides[d];
    const nOuter = inner; // dims [0, inner) iterate; dim `inner` is the run
    const idx = new Array<number>(nOuter).fill(0);
    const total = sizeOf(size) / run;
    let dst = dst0;
    for (let r = 0; r < total; r++) {
      let off = base;
      for (let d = 0; d < nOuter; d++) off += idx[d] * strides[d];
      heap.copyWithin(dst, off, off + run);
      dst += run;
      for (let d = nOuter - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  /**
   * Ends the computation: frees every buffer except the one holding `out`, and returns `out` as a
   * TensorInfo the engine can own. Call `abort` instead on failure.
   */
  finish(out: TI): TI {
    let kept = false;
    for (const t of this.temps) {
      if (!kept && t.dataId === out.dataId) kept = true;
      else this.be.disposeData(t.dataId);
    }
    this.temps = [];
    if (kept) return { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
    // `out` aliases a caller's input: hand back a copy.
    const copy = this.run('Identity', { x: out }, {});
    this.temps = [];
    return copy;
  }

  /** Adopt a buffer made outside `run` (e.g. by a wrapped native kernel) so finish/abort free it. */
  track(t: TI): TI {
    this.temps.push(t);
    return t;
  }

  abort(): void {
    for (const t of this.temps) this.be.disposeData(t.dataId);
    this.temps = [];
  }
}

function fail(kernel: string, why: string): never {
  throw new Error(`wasm-grad-kernels: ${kernel} does not support ${why}`);
}

function isNHWC(dataFormat: unknown): boolean {
  return dataFormat == null || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

function dilationsAreOne(d: unknown): boolean {
  if (d == null) return true;
  if (typeof d === 'number') return d === 1;
  return (d as number[]).every((v) => v === 1);
}

/**
 * Gives, for each filter tap (i, j), the input samples it meets:
 * tap(i, j)[n, oh, ow, c] = xpad[n, oh*sh + i, ow*sw + j, c], as a [N, OH, OW, C] buffer.
 */
function tapReader(o: Ops, x: TI, info: ConvInfo): { tap: (i: number, j: number) => TI; release: (t: TI) => void } {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (top < 0 || left < 0) fail('conv gradient', `negative padding ${top},${left}`);
  // Padded extent the taps read, rounded up to whole stride phases.
  const Hp = sh * Math.ceil(((OH - 1) * sh + kh) / sh);
  const Wp = sw * Math.ceil(((OW - 1) * sw + kw) / sw);
  const bottom = Hp - top - H;
  const right = Wp - left - W;
  let src = x;
  if (bottom < 0 || right < 0)
    src = o.slice(src, [0, 0, 0, 0], [N, H + Math.min(bottom, 0), W + Math.min(right, 0), C]);
  if (top > 0 || left > 0 || bottom > 0 || right > 0) {
    const padded = o.pad(src, [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ]);
    if (src !== x) o.free(src);
    src = padded;
  }
  const Hq = Hp / sh;
  const Wq = Wp / sw;
  let shared = src; // buffer every tap reads; taps that alias it are not freed
  const release = (t: TI): void => {
    if (t.dataId !== x.dataId && t.dataId !== shared.dataId) o.free(t);
  };
  if (sh === 1 && sw === 1) {
    return { tap: (i, j) => o.slice(src, [0, i, j, 0], [N, OH, OW, C]), release };
  }
  if (C >= 32) {
    // Long channel runs: strided copies straight from the padded input.
    const phases6 = o.view(src, [N, Hq, sh, Wq, sw, C]);
    const tap = (i: number, j: number): TI =>
      o.view(o.slice(phases6, [0, Math.floor(i / sh), i % sh, Math.floor(j / sw), j % sw, 0], [N, OH, 1, OW, 1, C]), [
        N,
        OH,
        OW,
        C,
      ]);
    return { tap, release };
  }
  // Few channels: split the input into its sh*sw stride phases once (two 3-D transposes; the wasm
  // Transpose is very slow above rank 4), laid out [q][p][n][hq][wq][c]; each tap is then a window.
  const rowsSplit = o.transpose(o.view(src, [N * Hq, sh, Wq * sw * C]), [1, 0, 2]); // [p][n][hq][wq][q][c]
  if (src !== x) o.free(src);
  const phases = o.transpose(o.view(rowsSplit, [sh * N * Hq * Wq, sw, C]), [1, 0, 2]);
  o.free(rowsSplit);
  shared = phases;
  const flat = o.view(phases, [sw * sh * N, Hq, Wq, C]);
  const tap = (i: number, j: number): TI => {
    const block = (j % sw) * sh + (i % sh);
    return o.slice(flat, [block * N, Math.floor(i / sh), Math.floor(j / sw), 0], [N, OH, OW, C]);
  };
  return { tap, release };
}

/**
 * Spreads t [N, A, B, C] onto a stride grid: out[n, a*sh, b*sw, c] = t[n, a, b, c], zeros elsewhere;
 * out is [N, A*sh, B*sw, C] (trailing zero rows/cols included).
 */
function dilate(o: Ops, t: TI, sh: number, sw: number): TI {
  const [N, A, B, C] = t.shape;
  let cur = t;
  if (sw > 1) {
    const p = o.pad(o.view(cur, [N * A, B, 1, C]), [
      [0, 0],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    cur = o.view(p, [N, A, B * sw, C]);
  }
  if (sh > 1) {
    const Bw = cur.shape[2];
    const p = o.pad(o.view(cur, [N, A, 1, Bw * C]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
    ]);
    if (cur !== t) o.free(cur);
    cur = o.view(p, [N, A * sh, Bw, C]);
  }
  return cur;
}

/**
 * Prepares the input of the transposed convolution that computes dx: dy spread onto the stride grid,
 * shifted so that a stride-1 'valid' correlation with the flipped kernel yields [N, H, W, *].
 * Returns the buffer and the explicit (non-negative) padding to give the convolution.
 */
function backpropSource(o: Ops, dy: TI, info: ConvInfo): { src: TI; pad: Pad4 } {
  const { inHeight: H, inWidth: W, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  let src = dilate(o, dy, sh, sw);
  let [N, A, B, C] = src.shape;
  // Row r of src must land at padded row r + offT of an (H + kh - 1)-row input.
  let offT = kh - 1 - info.padInfo.top;
  let offL = kw - 1 - info.padInfo.left;
  let bottom = H + kh - 1 - offT - A;
  let right = W + kw - 1 - offL - B;
  if (offT < 0 || offL < 0 || bottom < 0 || right < 0) {
    const r0 = Math.max(-offT, 0);
    const c0 = Math.max(-offL, 0);
    const rows = A - r0 - Math.max(-bottom, 0);
    const cols = B - c0 - Math.max(-right, 0);
    const cut = o.slice(src, [0, r0, c0, 0], [N, rows, cols, C]);
    if (src !== dy) o.free(src);
    src = cut;
    [N, A, B, C] = src.shape;
    offT = Math.max(offT, 0);
    offL = Math.max(offL, 0);
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  return {
    src,
    pad: [
      [0, 0],
      [offT, bottom],
      [offL, right],
      [0, 0],
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Kernels

interface KernelArgs {
  inputs: Record<string, TI>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
}

function withOps(tf: Tf, args: KernelArgs, f: (o: Ops) => TI): TI {
  const o = new Ops(tf, args.backend);
  try {
    return o.finish(f(o));
  } catch (e) {
    o.abort();
    throw e;
  }
}

/** dW[i, j, ci, co] = sum over n, oh, ow of xpad[n, oh*s+i, ow*s+j, ci] * dy[n, oh, ow, co]. */
function conv2DBackpropFilter(tf: Tf, args: KernelArgs): TI {
  const { x, dy } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number];
    pad: PadAttr;
    dataFormat?: string;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (!isNHWC(dataFormat)) fail('Conv2DBackpropFilter', `dataFormat ${dataFormat} (NHWC only)`);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') fail('Conv2DBackpropFilter', 'non-float32 tensors');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const {
    batchSize: N,
    outHeight: OH,
    outWidth: OW,
    inChannels: Cin,
    outChannels: Cout,
    filterHeight: kh,
    filterWidth: kw,
  } = info;
  const M = N * OH * OW;
  return withOps(tf, args, (o) => {
    const { tap, release } = tapReader(o, x, info);
    const dy2 = o.view(dy, [M, Cout]);
    // XNNPACK packs MatMul's right operand on every call (and caches it by buffer), while MatMul
    // with transposeA/B is a slow loop: so transpose one operand explicitly and make the other the
    // right one. One tap: the smaller operand goes right. Several: dy goes right (packed once).
    if (kh * kw === 1 && Cin < Cout) {
      const xt = tap(0, 0);
      const dyT = o.transpose(dy2, [1, 0]); // [Cout, M]
      const gT = o.matMul(dyT, o.view(xt, [M, Cin])); // [Cout, Cin]
      release(xt);
      o.free(dyT);
      return o.view(o.transpose(gT, [1, 0]), [1, 1, Cin, Cout]);
    }
    const parts: TI[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const xt = tap(i, j);
        const xtT = o.transpose(o.view(xt, [M, Cin]), [1, 0]); // [Cin, M]
        release(xt);
        parts.push(o.matMul(xtT, dy2)); // [Cin, Cout]
        o.free(xtT);
      }
    }
    const out = parts.length === 1 ? parts[0] : o.concat(parts, 0);
    return o.view(out, [kh, kw, Cin, Cout]);
  });
}

/** dx = (dy spread on the stride grid) correlated with the flipped, in/out-swapped filter. */
function conv2DBackpropInput(tf: Tf, args: KernelArgs, fallback: TF.KernelConfig | undefined): TI {
  const { dy, filter } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number];
    pad: PadAttr;
    dataFormat?: string;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  const supported = isNHWC(dataFormat) && dy.dtype === 'float32' && filter.dtype === 'float32';
  if (!supported) {
    if (fallback) return fallback.kernelFunc(args as never) as TI;
    fail('Conv2DBackpropInput', `dataFormat ${dataFormat} (NHWC only)`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    outHeight: OH,
    outWidth: OW,
    inChannels: Cin,
    outChannels: Cout,
  } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  return withOps(tf, args, (o) => {
    if (kh === 1 && kw === 1) {
      // A 1x1 conv is a matrix product; its input gradient is dy . W^T, then spread on the stride grid.
      const wT = o.transpose(o.view(filter, [Cin, Cout]), [1, 0]);
      const g = o.view(o.matMul(o.view(dy, [N * OH * OW, Cout]), wT), [N, OH, OW, Cin]);
      o.free(wT);
      if (sh === 1 && sw === 1 && OH === H && OW === W && info.padInfo.top === 0 && info.padInfo.left === 0) return g;
      const { src, pad: p } = backpropSource(o, g, info); // kh = kw = 1: p places it exactly
      if (src !== g) o.free(g);
      return o.pad(src, p);
    }
    const wf = o.reverse(filter, [0, 1]);
    const wfT = o.transpose(wf, [0, 1, 3, 2]); // [kh, kw, Cout, Cin]
    o.free(wf);
    const { src, pad: p } = backpropSource(o, dy, info);
    return o.conv2d(src, wfT, p);
  });
}

/**
 * dW[i, j, c] = sum over n, oh, ow of xpad[n, oh*s+i, ow*s+j, c] * dy[n, oh, ow, c], in one pass over the heap.
 * (The tap-by-tap version, a strided copy + Multiply + an axis-0 Sum per tap, was a quarter of a whole-MobileNetV2
 * training step: the copies and Sum's transpose cost more than the products. Here every x row is read in place,
 * the inner loop runs over contiguous channels, and padding is skipped rather than materialized.)
 */
function depthwiseBackpropFilter(tf: Tf, args: KernelArgs): TI {
  const { x, dy } = args.inputs;
  const { strides, pad, dilations, dimRoundingMode, filterShape } = args.attrs as {
    strides: number | [number, number];
    pad: PadAttr;
    dilations?: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  const name = 'DepthwiseConv2dNativeBackpropFilter';
  if (!dilationsAreOne(dilations)) fail(name, `dilations ${dilations}`);
  if (filterShape[3] !== 1) fail(name, `channel multiplier ${filterShape[3]} (1 only)`);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') fail(name, 'non-float32 tensors');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    outHeight: OH,
    outWidth: OW,
    inChannels: C,
    filterHeight: kh,
    filterWidth: kw,
  } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const be = args.backend;
  const out = be.makeOutput([kh, kw, C, 1], 'float32');
  const simd = C % 4 === 0 ? simdKernelsFor(be.wasm.asm?.memory) : undefined;
  if (simd) {
    // The SIMD loop (simd/kernels.ts): scratch buffers in the heap, freed before returning.
    const T = kh * kw * C;
    const accP = be.wasm._malloc(T * 8 + 16);
    const tmpP = be.wasm._malloc(T * 4 + 16);
    try {
      const acc8 = (accP + 7) & ~7;
      const tmp16 = (tmpP + 15) & ~15;
      const u8 = be.wasm.HEAPU8; // after the mallocs: the heap may have grown
      u8.fill(0, acc8, acc8 + T * 8);
      u8.fill(0, tmp16, tmp16 + T * 4);
      const xo = be.dataIdMap.get(x.dataId)!.memoryOffset;
      const dyo = be.dataIdMap.get(dy.dataId)!.memoryOffset;
      simd.dwFilterGrad(xo, dyo, acc8, tmp16, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left);
      const buf = be.wasm.HEAPU8.buffer;
      new Float32Array(buf, be.dataIdMap.get(out.dataId)!.memoryOffset, T).set(new Float64Array(buf, acc8, T));
    } finally {
      be.wasm._free(accP);
      be.wasm._free(tmpP);
    }
    return out;
  }
  const acc = new Float64Array(kh * kw * C);
  const heap = new Float32Array(be.wasm.HEAPU8.buffer); // after makeOutput: the heap may have grown
  const xs = be.dataIdMap.get(x.dataId)!.memoryOffset / 4;
  const ds = be.dataIdMap.get(dy.dataId)!.memoryOffset / 4;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const dyRow = ds + (n * OH + oh) * OW * C;
      for (let i = 0; i < kh; i++) {
        const ih = oh * sh + i - top;
        if (ih < 0 || ih >= H) continue;
        const xRow = xs + (n * H + ih) * W * C;
        for (let j = 0; j < kw; j++) {
          const a0 = (i * kw + j) * C;
          for (let ow = 0; ow < OW; ow++) {
            const iw = ow * sw + j - left;
            if (iw < 0 || iw >= W) continue;
            const xo = xRow + iw * C;
            const dyo = dyRow + ow * C;
            for (let c = 0; c < C; c++) acc[a0 + c] += heap[xo + c] * heap[dyo + c];
          }
        }
      }
    }
  }
  heap.set(acc, be.dataIdMap.get(out.dataId)!.memoryOffset / 4);
  return out;
}

/**
 * Sum over every axis but the last (bias gradients: dy [N, H, W, C] or [M, C] → [C]). The wasm Sum reduces the
 * innermost axis only, so it transposes [M, C] first; a column sum in place is several times cheaper.
 */
function columnSum(args: KernelArgs, native: TF.KernelConfig): TI {
  const { x } = args.inputs;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims?: boolean };
  const r = x.shape.length;
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b);
  const leading = r >= 2 && axes.length === r - 1 && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== 'float32') return native.kernelFunc(args as never) as TI;
  const C = x.shape[r - 1];
  const M = sizeOf(x.shape) / C;
  const be = args.backend;
  const out = be.makeOutput(keepDims ? [...new Array<number>(r - 1).fill(1), C] : [C], 'float32');
  const acc = new Float64Array(C);
  const heap = new Float32Array(be.wasm.HEAPU8.buffer);
  let p = be.dataIdMap.get(x.dataId)!.memoryOffset / 4;
  for (let m = 0; m < M; m++, p += C) for (let c = 0; c < C; c++) acc[c] += heap[p + c];
  heap.set(acc, be.dataIdMap.get(out.dataId)!.memoryOffset / 4);
  return out;
}

/** The clamp's gradient (see engine/clip.ts): dy where lo <= x <= hi, else 0, in one pass over the heap. */
function clipGradWasm(args: KernelArgs): TI {
  const { dy, x } = args.inputs;
  const { lo, hi } = args.attrs as { lo: number; hi: number };
  const be = args.backend;
  const out = be.makeOutput(dy.shape, 'float32');
  const heap = new Float32Array(be.wasm.HEAPU8.buffer);
  const xs = be.dataIdMap.get(x.dataId)!.memoryOffset / 4;
  const ds = be.dataIdMap.get(dy.dataId)!.memoryOffset / 4;
  const os = be.dataIdMap.get(out.dataId)!.memoryOffset / 4;
  const n = sizeOf(dy.shape);
  const simd = simdKernelsFor(be.wasm.asm?.memory);
  if (simd) {
    simd.clipGrad(xs * 4, ds * 4, os * 4, n, lo, hi);
    return out;
  }
  const xv = heap.subarray(xs, xs + n);
  const dv = heap.subarray(ds, ds + n);
  const ov = heap.subarray(os, os + n);
  // Branch-free: a ReLU6's input is on either side of its bounds at random, so a branch mispredicts about half the
  // time; the 0/1 product is ~3-10x faster here (+ 0 turns the -0 of a masked negative dy into the 0 tfjs gives).
  for (let i = 0; i < n; i++) {
    const v = xv[i];
    ov[i] = dv[i] * (+(v >= lo) & +(v <= hi)) + 0;
  }
  return out;
}

/**
 * Identity (tf.clone) as a new reference to the same buffer, as the cpu backend and the wasm Reshape do: tensors are
 * immutable. The engine clones every tensor it saves for a backward pass, and the wasm Identity copies: that was ~7% of
 * a whole-MobileNetV2 training step, copying activations that are never written again.
 */
function identityAlias(args: KernelArgs, native: TF.KernelConfig): TI {
  const { x } = args.inputs;
  if (x.dtype === 'string') return native.kernelFunc(args as never) as TI;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** dx = (dy spread on the stride grid) depthwise-correlated with the spatially flipped filter. */
function depthwiseBackpropInput(tf: Tf, args: KernelArgs): TI {
  const { dy, filter } = args.inputs;
  const { strides, pad, dilations, dimRoundingMode, inputShape } = args.attrs as {
    strides: number | [number, number];
    pad: PadAttr;
    dilations?: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  const name = 'DepthwiseConv2dNativeBackpropInput';
  if (!dilationsAreOne(dilations)) fail(name, `dilations ${dilations}`);
  if (filter.shape[3] !== 1) fail(name, `channel multiplier ${filter.shape[3]} (1 only)`);
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') fail(name, 'non-float32 tensors');
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  return withOps(tf, args, (o) => {
    const wf = o.reverse(filter, [0, 1]);
    const { src, pad: p } = backpropSource(o, dy, info);
    return o.depthwise(src, wf, p);
  });
}

/**
 * BatchMatMul with transposeA/transposeB: the wasm kernel handles the flags ~10x slower than a plain product
 * (measured here), and every dense/1x1 gradient asks for them. Transpose explicitly, then multiply plainly.
 */
function batchMatMulPlain(tf: Tf, args: KernelArgs, native: TF.KernelConfig): TI {
  const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  if (!transposeA && !transposeB) return native.kernelFunc(args as never) as TI;
  return withOps(tf, args, (o) => {
    const swapLast = (t: TI): TI => {
      const r = t.shape.length;
      const perm = Array.from({ length: r }, (_, i) => i);
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return o.transpose(t, perm);
    };
    const a = transposeA ? swapLast(args.inputs.a) : args.inputs.a;
    const b = transposeB ? swapLast(args.inputs.b) : args.inputs.b;
    return o.track(
      native.kernelFunc({
        inputs: { a, b },
        backend: args.backend,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      } as never) as TI,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Registration

const MARK = Symbol.for('tl.wasmGradKernel');
/** Kernel names this module registers for the 'wasm' backend. */
export const WASM_GRAD_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'BatchMatMul',
  'Sum',
  'TlClipGrad',
  'Identity',
] as const;

/**
 * Registers fast convolution-gradient kernels for the 'wasm' backend, so that models with Conv2D
 * and DepthwiseConv2D layers can be trained there. Idempotent; call after `tfWasm()` (or any time:
 * the registry is global, it does not need the backend to be initialized). Pass the same
 * `@tensorflow/tfjs` module instance the caller trains with.
 */
export function registerWasmGradKernels(tf: Tf): void {
  const existing = (name: string): TF.KernelConfig | undefined => tf.getKernel(name, 'wasm') ?? undefined;
  const install = (name: string, kernelFunc: (args: KernelArgs) => TI): void => {
    const prev = existing(name);
    if (prev && (prev.kernelFunc as unknown as Record<symbol, unknown>)[MARK]) return;
    if (prev) tf.unregisterKernel(name, 'wasm');
    const fn = kernelFunc as unknown as TF.KernelFunc;
    (fn as unknown as Record<symbol, unknown>)[MARK] = true;
    // Keep a replaced kernel's setupFunc: our fallback to it needs its wasm function bound.
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: fn, setupFunc: prev?.setupFunc });
  };
  const nativeBackpropInput = existing('Conv2DBackpropInput');
  const nativeMatMul = existing('BatchMatMul');
  if (nativeMatMul && !(nativeMatMul.kernelFunc as unknown as Record<symbol, unknown>)[MARK]) {
    install('BatchMatMul', (a) => batchMatMulPlain(tf, a, nativeMatMul));
  }
  const nativeSum = existing('Sum');
  if (nativeSum && !(nativeSum.kernelFunc as unknown as Record<symbol, unknown>)[MARK]) {
    install('Sum', (a) => columnSum(a, nativeSum));
  }
  install('TlClipGrad', (a) => clipGradWasm(a));
  const nativeIdentity = existing('Identity');
  if (nativeIdentity && !(nativeIdentity.kernelFunc as unknown as Record<symbol, unknown>)[MARK]) {
    install('Identity', (a) => identityAlias(a, nativeIdentity));
  }
  install('Conv2DBackpropFilter', (a) => conv2DBackpropFilter(tf, a));
  install('Conv2DBackpropInput', (a) => conv2DBackpropInput(tf, a, nativeBackpropInput));
  install('DepthwiseConv2dNativeBackpropFilter', (a) => depthwiseBackpropFilter(tf, a));
  install('DepthwiseConv2dNativeBackpropInput', (a) => depthwiseBackpropInput(tf, a));
}
