// The webcam's JPEG encoder, off the page's main thread (jpeg-encoder.ts says why): a frame in, its JPEG out.
interface Job {
  id: number;
  frame: ImageBitmap;
  quality: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage: (message: { id: number; blob?: Blob; error?: string }) => void;
};

scope.onmessage = (e) => {
  const { id, frame, quality } = e.data;
  void (async () => {
    try {
      const canvas = new OffscreenCanvas(frame.width, frame.height);
      canvas.getContext('2d')!.drawImage(frame, 0, 0);
      frame.close();
      scope.postMessage({ id, blob: await canvas.convertToBlob({ type: 'image/jpeg', quality }) });
    } catch (err) {
      scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
    }
  })();
};
