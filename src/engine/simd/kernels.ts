// Gradient kernels as WebAssembly SIMD loops over the TF.js wasm heap, replacing JavaScript loops of a whole-MobileNetV2
// training step (bench/profile-full-step.ts): the depthwise convolution's filter gradient (f32x4 products, each output
// row's sums folded into a float64 accumulator; the JS loop was 11-18% of a step) and the ReLU6 clamp's gradient
// (f32x4 compare + mask). The module imports the TF.js backend's own memory, so it reads its tensors where they lie,
// with no copy. Source: kernels.wat beside this file; the bytes below are it compiled by wabt's wat2wasm (the pinned
// devDependency): after editing the .wat, `npm run build:simd` (scripts/build-simd.mjs) rewrites them, and
// test/unit/simd-kernels-source.test.ts fails while the two disagree.

const WASM_BASE64 =
  'AGFzbQEAAAABHQJgEH9/f39/f39/f39/f39/f38AYAZ/f39/fX0AAg8BA2VudgZtZW1vcnkCAAEDAwIAAQcbAgxkd0ZpbHRlckdyYWQAAAhjbGlwR3JhZAABCpQFAuUDAxB/AXsBfyAHQQJ0IR4gCiALbCAHbCEdQQAhEAJAA0AgECAETw0BQQAhEQJAA0AgESAITw0BIAEgECAIbCARaiAJbCAebGohGUEAIRICQANAIBIgCk8NASARIAxsIBJqIA5rIRYgFkEATiAWIAVIcQRAIAAgECAFbCAWaiAGbCAebGohGEEAIRMCQANAIBMgC08NASADIBIgC2wgE2ogHmxqIRxBACEUAkADQCAUIAlPDQEgFCANbCATaiAPayEXIBdBAE4gFyAGSHEEQCAYIBcgHmxqIRogGSAUIB5saiEbQQAhFQNAIBwgFWohISAhICH9AAIAIBogFWr9AAIAIBsgFWr9AAIA/eYB/eQB/QsCACAVQRBqIRUgFSAeSQ0ACwsgFEEBaiEUDAALCyATQQFqIRMMAAsLCyASQQFqIRIMAAsLQQAhHwJAA0AgHyAdTw0BIAMgH0ECdGr9AAIAISAgAiAfQQN0aiEhICEgIf0AAwAgIP1f/fAB/QsDACAhICH9AAMQICAgIP0NCAkKCwwNDg8AAQIDBAUGB/1f/fAB/QsDECADIB9BAnRq/QwAAAAAAAAAAAAAAAAAAAAA/QsCACAfQQRqIR8MAAsLIBFBAWohEQwACwsgEEEBaiEQDAALCwuqAQMDfwN7AX0gA0ECdCEIIAhBcHEhByAE/RMhCSAF/RMhCkEAIQYCQANAIAYgB08NASAAIAZq/QACACELIAIgBmogCyAJ/UYgCyAK/UX9TiABIAZq/QACAP1O/QsCACAGQRBqIQYMAAsLAkADQCAGIAhPDQEgACAGaioCACEMIAIgBmogASAGaioCAEMAAAAAIAwgBGAgDCAFX3EbOAIAIAZBBGohBgwACwsL';

export interface SimdKernels {
  /** Byte offsets into the memory; acc (float64) and tmp (float32), kh*kw*C each, must be zeroed by the caller. */
  dwFilterGrad(
    x: number,
    dy: number,
    acc: number,
    tmp: number,
    N: number,
    H: number,
    W: number,
    C: number,
    OH: number,
    OW: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): void;
  /** out = dy where lo <= x <= hi, else 0; n floats (byte offsets). */
  clipGrad(x: number, dy: number, out: number, n: number, lo: number, hi: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

/** The kernels bound to `memory` (one instance per TF.js wasm heap), or undefined where wasm SIMD is unavailable. */
export function simdKernelsFor(memory: WebAssembly.Memory | undefined): SimdKernels | undefined {
  if (!memory) return undefined;
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(WASM_BASE64, 'base64'));
    } catch {
      compiled = null; // no SIMD in this runtime: callers keep their JavaScript loop
    }
  }
  if (!compiled) return undefined;
  let k = instances.get(memory);
  if (!k) {
    k = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}
