// Try it: classify a chosen or dropped photo, or webcam frames, with the project's latest bundle.
import { api, type Prediction } from './api';
import { CameraError, cameraSupported, openCamera, stopCamera } from './camera';
import { h, pct } from './dom';
import { setupDrop } from './drop';
import { serverDown } from './banner';
import { guard, isImage, state } from './state';

/** Set while Try it holds the page's camera (camera.ts); its onStop clears it. */
let webcam: { timer: number | undefined; busy: boolean } | null = null;

/** Stop the page's camera, whoever holds it (Try it or a class's webcam panel): on leaving the project. */
export const stopWebcam = stopCamera;

/** Stop the camera only if Try it holds it (a class panel recording elsewhere on the page keeps its camera). */
function stopTryWebcam(): void {
  if (webcam) stopCamera();
}

export function tryControls(): HTMLElement {
  const wrap = h('div', { id: 'try-body' });
  queueMicrotask(renderTry);
  return wrap;
}

export function renderTry(): void {
  const body = document.getElementById('try-body');
  if (!body || !state.current) return;
  stopTryWebcam();
  if (!state.current.project.latestBundle) {
    body.replaceChildren(h('p', { class: 'muted' }, 'Train first, then test the classifier on new photos here.'));
    return;
  }
  const input = h('input', { type: 'file', accept: 'image/*', id: 'try-file', class: 'visually-hidden' });
  const preview = h('img', { id: 'try-preview', alt: 'The photo being classified', hidden: true });
  const video = h('video', {
    id: 'try-video',
    autoplay: true,
    muted: true,
    playsinline: true,
    hidden: true,
    'aria-label': 'Webcam view',
  });
  const result = h('div', { id: 'try-result', class: 'try-result', 'aria-live': 'polite' });
  const canUseCamera = cameraSupported();
  const camButton = h(
    'button',
    { type: 'button', id: 'webcam-button', class: 'subtle', hidden: !canUseCamera },
    'Use webcam',
  );
  // Only the newest request's answer is shown: a webcam frame still in flight when a photo is chosen (or dropped)
  // must not replace the photo's answer when it comes back later.
  let latest = 0;
  const classify = (blob: Blob) => {
    const mine = ++latest;
    return guard(async () => {
      if (!state.current) return;
      const pred = await api.predict(state.current.project.name, blob);
      if (mine === latest) showPrediction(result, pred);
    }, result).then((ok) => {
      // No "Classifying…" left behind when the request failed (the reason is beside it, or in the banner).
      if (!ok && mine === latest) result.replaceChildren(h('p', { class: 'muted' }, 'Not classified.'));
    });
  };
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (!f) return;
    stopTryWebcam();
    video.hidden = true;
    preview.src = URL.createObjectURL(f);
    preview.hidden = false;
    result.replaceChildren(h('p', { class: 'muted' }, 'Classifying…'));
    void classify(f);
  });
  camButton.addEventListener('click', () => {
    if (webcam) {
      stopCamera();
      return;
    }
    void guard(async () => {
      let stream: MediaStream | null;
      try {
        stream = await openCamera(resetTryWebcam);
      } catch (err) {
        if (!(err instanceof CameraError)) throw err;
        // Said here, beside the button, not in the page's status line far above.
        result.replaceChildren(h('p', { class: 'field-error camera-error', role: 'alert' }, err.message));
        return;
      }
      if (!stream) return;
      video.srcObject = stream;
      video.hidden = false;
      preview.hidden = true;
      camButton.textContent = 'Stop webcam';
      webcam = { timer: undefined, busy: false };
      const canvas = document.createElement('canvas');
      const tick = () => {
        if (!webcam) return;
        // No frames while the server does not answer (the banner says so); they start again when it is back.
        if (!webcam.busy && video.videoWidth && !serverDown()) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          canvas.getContext('2d')?.drawImage(video, 0, 0);
          webcam.busy = true;
          canvas.toBlob(
            (blob) => {
              if (!blob || !webcam) return;
              void classify(blob).finally(() => webcam && (webcam.busy = false));
            },
            'image/jpeg',
            0.85,
          );
        }
        webcam.timer = window.setTimeout(tick, 250);
      };
      tick();
    });
  });
  const drop = h(
    'div',
    { class: 'dropzone' },
    h('span', {}, 'Drop a photo here, or '),
    h('label', { for: 'try-file', class: 'button' }, 'Choose a photo'),
    input,
    camButton,
  );
  setupDrop(drop, (files) => {
    const f = files.find(isImage);
    if (!f) return;
    stopTryWebcam();
    preview.src = URL.createObjectURL(f);
    preview.hidden = false;
    void classify(f);
  });
  body.replaceChildren(drop, h('div', { class: 'try-grid' }, h('div', { class: 'try-media' }, preview, video), result));
}

function showPrediction(el: HTMLElement, p: Prediction): void {
  el.replaceChildren(
    h('p', { class: 'try-label' }, h('strong', { id: 'try-top-label' }, p.label), ` ${pct(p.probability)}`),
    p.unknown
      ? h('p', { class: 'warning' }, 'This photo looks unlike all the training photos: the answer may be meaningless.')
      : '',
    h(
      'ul',
      { class: 'bars' },
      ...p.top.map((t) =>
        h(
          'li',
          {},
          h('span', { class: 'bar-label' }, t.label),
          h(
            'span',
            { class: 'bar', role: 'img', 'aria-label': `${t.label}: ${pct(t.probability)}` },
            h('span', { class: 'fill', style: `width:${(t.probability * 100).toFixed(1)}%` }),
          ),
          h('span', { class: 'bar-value' }, pct(t.probability)),
        ),
      ),
    ),
    h('p', { class: 'muted small' }, `${p.timing.totalMs.toFixed(0)} ms`),
  );
}

/** Try it's clean-up when its camera stops (camera.ts has stopped the tracks). */
function resetTryWebcam(): void {
  if (!webcam) return;
  clearTimeout(webcam.timer);
  webcam = null;
  const btn = document.getElementById('webcam-button');
  if (btn) btn.textContent = 'Use webcam';
  const video = document.getElementById('try-video') as HTMLVideoElement | null;
  if (video) {
    video.srcObject = null;
    video.hidden = true;
  }
}
