// A class's webcam panel, as Teachable Machine has it: a mirrored live preview and a hold-to-record button that takes
// FRAMES_PER_SECOND JPEG frames while held (pointer, or Space/Enter held on the button) and, on release, uploads them to
// the class like chosen photos (classes.ts's upload: the same endpoint, type checks, content-hash dedupe and batching).
// One panel is open at a time; it lives across the class list's redraws (classCard asks webcamControls for it again)
// and closes when its class or project goes away, when the camera stops (camera.ts: another user, a hidden page) or
// when it is closed.
import { CameraError, openCamera, stopCamera } from './camera';
import { h } from './dom';
import { encodeFrame } from './jpeg-encoder';
import { plural, state } from './state';

const FRAMES_PER_SECOND = 8;
const JPEG_QUALITY = 0.9;

/** Upload these frames to the panel's class; resolves to the summary shown to the person. */
export type UploadFrames = (files: File[], status: HTMLElement) => Promise<string>;

interface Recording {
  frames: File[];
  timer: number;
  /** A frame is being encoded: the next tick skips rather than queueing encodes behind a slow one. */
  busy: boolean;
  last: Blob | null;
}

interface Panel {
  project: string;
  cls: string;
  el: HTMLElement;
  video: HTMLVideoElement;
  record: HTMLButtonElement;
  count: HTMLElement;
  status: HTMLElement;
  /** This render's Webcam button, the area the panel sits in, and the class card's upload (redrawn each render). */
  toggle: HTMLButtonElement;
  area: HTMLElement;
  upload: UploadFrames;
  recording: Recording | null;
  /** The element inside the panel that had the focus before a redraw moved the panel (focus is lost on the move). */
  refocus: HTMLElement | null;
  closed: boolean;
}

let panel: Panel | null = null;
/** The last camera refusal, shown beside the Webcam button of the class it was pressed for (until pressed again). */
let failure: { project: string; cls: string; message: string } | null = null;

/** The class card's Webcam button and the area below its drop zone (the camera message, the open panel). */
export function webcamControls(cls: string, upload: UploadFrames): { button: HTMLElement; area: HTMLElement } {
  const project = state.current?.project.name ?? '';
  const open = panel && panel.project === project && panel.cls === cls ? panel : null;
  const button = h(
    'button',
    { type: 'button', class: 'subtle webcam-toggle', 'aria-expanded': open ? 'true' : 'false' },
    'Webcam',
  );
  const area = h('div', { class: 'webcam-area' });
  if (failure && failure.project === project && failure.cls === cls) {
    const id = `webcam-error-${Math.random().toString(36).slice(2)}`;
    area.append(h('p', { class: 'field-error camera-error', role: 'alert', id }, failure.message));
    button.setAttribute('aria-describedby', id);
  }
  if (open) {
    const focused = document.activeElement;
    open.refocus = focused instanceof HTMLElement && open.el.contains(focused) ? focused : null;
    open.toggle = button;
    open.area = area;
    open.upload = upload;
    area.append(open.el);
  }
  button.addEventListener('click', () => {
    const mine = panel && panel.toggle === button ? panel : null;
    if (mine) closeWebcam(mine);
    else void openWebcam(project, cls, button, area, upload);
  });
  return { button, area };
}

/** After the class list is redrawn: close a panel whose class or project is gone, give back a moved panel's focus. */
export function syncWebcam(): void {
  if (!panel) return;
  if (!panel.el.isConnected || panel.project !== state.current?.project.name) {
    closeWebcam(panel);
    return;
  }
  if (panel.refocus && document.activeElement !== panel.refocus) panel.refocus.focus({ preventScroll: true });
  panel.refocus = null;
  // A moved <video> may pause; a live preview should not.
  if (panel.video.paused) void panel.video.play().catch(() => {});
}

async function openWebcam(
  project: string,
  cls: string,
  toggle: HTMLButtonElement,
  area: HTMLElement,
  upload: UploadFrames,
): Promise<void> {
  if (panel) closeWebcam(panel);
  failure = null;
  area.querySelector('.camera-error')?.remove();
  toggle.removeAttribute('aria-describedby');
  const p = buildPanel(project, cls, toggle, area, upload);
  panel = p;
  area.append(p.el);
  toggle.setAttribute('aria-expanded', 'true');
  let stream: MediaStream | null;
  try {
    stream = await openCamera(() => closePanel(p));
  } catch (err) {
    closePanel(p);
    const message = err instanceof CameraError ? err.message : `The camera could not start (${String(err)}).`;
    failure = { project, cls, message };
    // The area of this class card as it is now (a redraw during the wait replaced the one the button was in).
    const id = `webcam-error-${Math.random().toString(36).slice(2)}`;
    p.area.prepend(h('p', { class: 'field-error camera-error', role: 'alert', id }, message));
    p.toggle.setAttribute('aria-describedby', id);
    return;
  }
  if (!stream || p.closed) {
    closePanel(p);
    return;
  }
  p.video.srcObject = stream;
  p.record.disabled = false;
  p.status.textContent = 'Hold the button to record frames of this class.';
}

function closeWebcam(p: Panel): void {
  if (p.closed) return;
  // The panel may hold the page's camera (its onStop is closePanel(p)), or still be waiting for it (the stop makes
  // that open resolve to null).
  stopCamera();
  closePanel(p);
}

/** Camera stopped or panel closed: upload what a hold had recorded, and take the panel off the card. */
function closePanel(p: Panel): void {
  if (p.closed) return;
  if (p.recording) stopRecording(p);
  p.closed = true;
  if (panel === p) panel = null;
  const hadFocus = p.el.contains(document.activeElement);
  p.video.srcObject = null;
  p.el.remove();
  p.toggle.setAttribute('aria-expanded', 'false');
  if (hadFocus && p.toggle.isConnected) p.toggle.focus();
}

function buildPanel(
  project: string,
  cls: string,
  toggle: HTMLButtonElement,
  area: HTMLElement,
  upload: UploadFrames,
): Panel {
  const video = h('video', {
    class: 'webcam-video',
    autoplay: true,
    muted: true,
    playsinline: true,
    'aria-label': `Webcam preview for ${cls} (mirrored, like a mirror)`,
  });
  const count = h('span', { class: 'webcam-count', 'data-testid': 'webcam-count' }, plural(0, 'frame'));
  const status = h('p', { class: 'webcam-status', 'aria-live': 'polite' }, 'Starting the camera…');
  const record = h(
    'button',
    { type: 'button', class: 'primary webcam-record', 'aria-pressed': 'false', disabled: true },
    'Hold to record',
  );
  const close = h('button', { type: 'button', class: 'subtle' }, 'Close webcam');
  const el = h(
    'div',
    { class: 'webcam-panel', role: 'group', 'aria-label': `Webcam for ${cls}` },
    video,
    h('div', { class: 'webcam-controls' }, record, count, close),
    status,
  );
  const p: Panel = {
    project,
    cls,
    el,
    video,
    record,
    count,
    status,
    toggle,
    area,
    upload,
    recording: null,
    refocus: null,
    closed: false,
  };
  close.addEventListener('click', () => closeWebcam(p));
  holdToRecord(p);
  return p;
}

/** Pointer down or Space/Enter down on the record button starts; their release (anywhere) stops. */
function holdToRecord(p: Panel): void {
  const { record } = p;
  // A click that no press of ours came before (a screen reader's activation) toggles recording instead.
  let pressed = false;
  const release = () => {
    window.removeEventListener('pointerup', release);
    window.removeEventListener('pointercancel', release);
    window.removeEventListener('keyup', onKeyUp);
    window.removeEventListener('blur', release);
    if (p.recording) stopRecording(p);
    // The click that follows this release (same task) is still ignored; a later one is not.
    setTimeout(() => (pressed = false));
  };
  const onKeyUp = (e: KeyboardEvent) => {
    if (e.key !== ' ' && e.key !== 'Enter') return;
    e.preventDefault();
    release();
  };
  const press = () => {
    pressed = true;
    window.addEventListener('pointerup', release);
    window.addEventListener('pointercancel', release);
    window.addEventListener('keyup', onKeyUp);
    // Leaving the window while holding (alt-tab) never delivers the release.
    window.addEventListener('blur', release);
    startRecording(p);
  };
  record.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || record.disabled) return;
    e.preventDefault(); // no text selection or touch gesture while holding
    record.focus();
    press();
  });
  record.addEventListener('keydown', (e) => {
    if (e.key !== ' ' && e.key !== 'Enter') return;
    e.preventDefault();
    if (!e.repeat && !p.recording) press();
  });
  record.addEventListener('click', () => {
    if (pressed) return;
    if (p.recording) stopRecording(p);
    else startRecording(p);
  });
  record.addEventListener('contextmenu', (e) => e.preventDefault()); // a long touch is a hold, not a menu
}

function startRecording(p: Panel): void {
  if (p.recording || p.closed || !p.video.srcObject) return;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const rec: Recording = { frames: [], timer: 0, busy: false, last: null };
  const tick = () => {
    if (rec.busy || p.recording !== rec) return;
    rec.busy = true;
    // The saved frame keeps the camera's own orientation; only the preview is mirrored (CSS). Try it classifies the
    // camera's unmirrored frames and photos are never mirrored, so the training frames must not be either: text and
    // left/right differences then look the same in training and in use.
    void encodeFrame(p.video, JPEG_QUALITY)
      .then((blob) => keepFrame(p, rec, blob, stamp))
      .catch(() => {}) // a frame that failed to encode is skipped; the next tick tries again
      .finally(() => (rec.busy = false));
  };
  p.recording = rec;
  rec.timer = window.setInterval(tick, 1000 / FRAMES_PER_SECOND);
  tick();
  p.record.setAttribute('aria-pressed', 'true');
  p.record.textContent = 'Recording…';
  p.count.textContent = plural(0, 'frame');
  p.status.textContent = 'Recording: release the button to save the frames.';
}

async function keepFrame(p: Panel, rec: Recording, blob: Blob | null, stamp: string): Promise<void> {
  // A frame encoded after the release is dropped: the count shown is what is uploaded.
  if (!blob || p.recording !== rec) return;
  // A camera slower than the capture rate repeats its frame; the server would keep one copy of the same bytes anyway.
  if (rec.last && (await sameBytes(rec.last, blob))) return;
  if (p.recording !== rec) return;
  rec.last = blob;
  const n = rec.frames.length + 1;
  rec.frames.push(new File([blob], `webcam-${stamp}-${String(n).padStart(4, '0')}.jpg`, { type: 'image/jpeg' }));
  p.count.textContent = plural(n, 'frame');
}

async function sameBytes(a: Blob, b: Blob): Promise<boolean> {
  if (a.size !== b.size) return false;
  const [x, y] = await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
  const u = new Uint8Array(x);
  const v = new Uint8Array(y);
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
}

function stopRecording(p: Panel): void {
  const rec = p.recording;
  if (!rec) return;
  clearInterval(rec.timer);
  p.recording = null;
  p.record.setAttribute('aria-pressed', 'false');
  p.record.textContent = 'Hold to record';
  const n = rec.frames.length;
  if (!n) {
    p.status.textContent = 'No frame recorded: hold the button a little longer.';
    return;
  }
  p.status.textContent = `Recorded ${plural(n, 'frame')}; uploading…`;
  // Started now, while the project is still the one recorded for (a project change closes the panel first).
  void p.upload(rec.frames, p.status).then((summary) => {
    if (!p.closed) p.status.textContent = summary;
  });
}
