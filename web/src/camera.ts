// The page's one camera stream, shared by "Try it" and the class webcam panels: opening it for one stops it for the
// other (a laptop camera is one device, and a second live stream would only waste it), and it is stopped whenever the
// page is hidden. A refusal becomes a sentence a person can act on (CameraError), shown next to the button pressed.

interface Holder {
  stream: MediaStream;
  /** The user's own clean-up (hide its video, reset its buttons), run once when the stream is stopped. */
  onStop: () => void;
}

let holder: Holder | null = null;
/** Bumped by every open and stop: an open that finishes after a newer open or stop is no longer wanted. */
let generation = 0;

export class CameraError extends Error {}

/** Whether this page may ask for a camera at all (browsers give none to plain-http pages other than localhost). */
export function cameraSupported(): boolean {
  return !!navigator.mediaDevices?.getUserMedia;
}

/**
 * Open the camera for a new user, stopping the one before. Resolves to the stream, or to null when a newer open or a
 * stop came first (the caller then does nothing); rejects with a CameraError saying why there is no camera.
 */
export async function openCamera(onStop: () => void): Promise<MediaStream | null> {
  stopCamera();
  if (!cameraSupported())
    throw new CameraError(
      'This browser gives no camera to this page: open it at http://localhost or over https, or use Choose photos.',
    );
  const mine = ++generation;
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    if (mine === generation) throw new CameraError(cameraMessage(err));
    return null;
  }
  if (mine !== generation) {
    for (const t of stream.getTracks()) t.stop();
    return null;
  }
  holder = { stream, onStop };
  return stream;
}

/** Stop the camera (every track, so the camera light goes off) and let its user clean up. */
export function stopCamera(): void {
  generation++;
  const h = holder;
  if (!h) return;
  holder = null;
  for (const t of h.stream.getTracks()) t.stop();
  h.onStop();
}

/** The stream now open, if any. */
export function cameraStream(): MediaStream | null {
  return holder?.stream ?? null;
}

function cameraMessage(err: unknown): string {
  const name = err instanceof DOMException ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was denied. Allow the camera for this site (the camera icon in the address bar), then try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect one and try again, or use Choose photos.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not start: another program may be using it. Close that program and try again.';
    default:
      return `The camera could not start (${err instanceof Error ? err.message : String(err)}).`;
  }
}

// A hidden page keeps no camera on (another tab, a minimised window, a phone's lock screen).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') stopCamera();
});
window.addEventListener('pagehide', stopCamera);
