// A video frame as a JPEG, for the webcam's training frames. Encoded in a worker: on the main thread Chromium encodes
// canvas.toBlob's (and OffscreenCanvas.convertToBlob's) JPEGs in idle time only, and a page busy with a live video
// may have none: the encode then waits ~1 s before it is forced (4 s on Android), which stalled capture for 1.5 s in
// our tests. A worker encodes at once. Browsers without OffscreenCanvas or module workers use canvas.toBlob.
let worker: Worker | null | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (b: Blob | null) => void; reject: (e: Error) => void }>();

function encoder(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    worker =
      typeof OffscreenCanvas === 'function' && typeof createImageBitmap === 'function'
        ? new Worker(new URL('./jpeg-worker.ts', import.meta.url), { type: 'module' })
        : null;
  } catch {
    worker = null;
  }
  if (worker) {
    worker.onmessage = (e: MessageEvent<{ id: number; blob?: Blob; error?: string }>) => {
      const job = pending.get(e.data.id);
      pending.delete(e.data.id);
      if (e.data.blob) job?.resolve(e.data.blob);
      else job?.reject(new Error(e.data.error ?? 'the frame could not be encoded'));
    };
    // A worker that cannot start (blocked script, old browser): the frames in flight fail, the next use toBlob.
    worker.onerror = () => {
      worker = null;
      for (const job of pending.values()) job.reject(new Error('the JPEG worker failed'));
      pending.clear();
    };
  }
  return worker;
}

/**
 * The video's current frame, as the camera sends it (not mirrored), as a JPEG; null when the video has no frame yet.
 */
export async function encodeFrame(video: HTMLVideoElement, quality: number): Promise<Blob | null> {
  if (!video.videoWidth) return null;
  const w = encoder();
  if (w) {
    const frame = await createImageBitmap(video);
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      w.postMessage({ id, frame, quality }, [frame]);
    });
  }
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d')?.drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
}
