// How a backbone wants its input: the parameters of the one preprocessing function (data/image.ts). It lives with the
// preprocessing, below the backbones that declare it (backbone/types.ts re-exports it).

/** How a photo becomes the network's input tensor. Everything here feeds the feature-cache key. */
export interface InputSpec {
  /** Square side in pixels. */
  size: number;
  layout: 'NCHW' | 'NHWC';
  /** 'cover' = resize the shorter side to `size`, then centre crop; 'fill' = stretch to size x size. */
  resize: 'cover' | 'fill';
  /** Centre crop as a fraction of the resized image (0.875 = resize the shorter side to 256, crop 224). Default 1. */
  cropFraction?: number;
  /** Per-channel (RGB) mean and std applied to pixel/255: x = (p/255 - mean) / std. */
  mean: [number, number, number];
  std: [number, number, number];
  /** A fused model's input (backbone/fused.ts): each part's own spec; the tensor is their tensors concatenated. */
  parts?: InputSpec[];
}
