// The depthwise convolution's filter gradient as a WebAssembly SIMD loop over the TF.js wasm heap (f32x4 products,
// each output row's sums folded into a float64 accumulator). It replaces a JavaScript loop that was 11-18% of a
// whole-MobileNetV2 training step (bench/profile-full-step.ts). The module imports the TF.js backend's own memory, so
// it reads x and dy where they lie, with no copy. Source: dw-filter-grad.wat beside this file; the bytes below are
// `npx --package wabt@1.0.39 wat2wasm dw-filter-grad.wat -o dw.wasm && base64 -w0 dw.wasm` of it (SIMD is on by default).

const WASM_BASE64 =
  'AGFzbQEAAAABFAFgEH9/f39/f39/f39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDAgEABxABDGR3RmlsdGVyR3JhZAAACugDAeUDAxB/AXsBfyAHQQJ0IR4gCiALbCAHbCEdQQAhEAJAA0AgECAETw0BQQAhEQJAA0AgESAITw0BIAEgECAIbCARaiAJbCAebGohGUEAIRICQANAIBIgCk8NASARIAxsIBJqIA5rIRYgFkEATiAWIAVIcQRAIAAgECAFbCAWaiAGbCAebGohGEEAIRMCQANAIBMgC08NASADIBIgC2wgE2ogHmxqIRxBACEUAkADQCAUIAlPDQEgFCANbCATaiAPayEXIBdBAE4gFyAGSHEEQCAYIBcgHmxqIRogGSAUIB5saiEbQQAhFQNAIBwgFWohISAhICH9AAIAIBogFWr9AAIAIBsgFWr9AAIA/eYB/eQB/QsCACAVQRBqIRUgFSAeSQ0ACwsgFEEBaiEUDAALCyATQQFqIRMMAAsLCyASQQFqIRIMAAsLQQAhHwJAA0AgHyAdTw0BIAMgH0ECdGr9AAIAISAgAiAfQQN0aiEhICEgIf0AAwAgIP1f/fAB/QsDACAhICH9AAMQICAgIP0NCAkKCwwNDg8AAQIDBAUGB/1f/fAB/QsDECADIB9BAnRq/QwAAAAAAAAAAAAAAAAAAAAA/QsCACAfQQRqIR8MAAsLIBFBAWohEQwACwsgEEEBaiEQDAALCws=';

export interface DwFilterGrad {
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
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, DwFilterGrad>();

/** The kernel bound to `memory` (one instance per TF.js wasm heap), or undefined where wasm SIMD is unavailable. */
export function dwFilterGradFor(memory: WebAssembly.Memory | undefined): DwFilterGrad | undefined {
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
    k = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as DwFilterGrad;
    instances.set(memory, k);
  }
  return k;
}
