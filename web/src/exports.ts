// The Results panel's export section: make an ONNX or TF.js export of the bundle (what `tl export` makes), show its
// agreement check (the export run beside the classifier on the held-out photos), a copy-paste snippet that runs it
// (browser page or Node) and the .tar download.
import { api, type ExportView, type Results } from './api';
import { h, pct } from './dom';
import { guard } from './state';

const FORMATS = [
  { format: 'onnx', title: 'ONNX', runs: 'onnxruntime-web in a page, onnxruntime-node in Node' },
  { format: 'tfjs', title: 'TF.js', runs: 'TensorFlow.js in a page or in Node' },
] as const;

function checkLine(e: ExportView): string {
  const c = e.check;
  if ('reason' in c) return `Not checked: ${c.reason}.`;
  return `Checked on ${c.images} held-out photos: same top class as the classifier on ${pct(c.top1Agreement)}, probabilities within ${c.maxProbDiff.toExponential(1)}; accuracy ${pct(c.exportAccuracy)} (classifier ${pct(c.bundleAccuracy)}).`;
}

function exportCard(e: ExportView): HTMLElement {
  const kb = Math.round(e.files.reduce((s, f) => s + f.bytes, 0) / 1024);
  const snippet = (which: 'browser' | 'node', label: string) =>
    h(
      'details',
      { class: 'snippet' },
      h('summary', {}, label),
      h(
        'button',
        {
          type: 'button',
          class: 'subtle',
          onclick: () => void navigator.clipboard?.writeText(e.snippets[which]).catch(() => {}),
        },
        'Copy',
      ),
      h('pre', { 'data-testid': `snippet-${e.format}-${which}` }, h('code', {}, e.snippets[which])),
    );
  return h(
    'div',
    { class: 'export', 'data-format': e.format },
    h(
      'p',
      {},
      h(
        'a',
        { class: 'button', href: e.downloadUrl, download: '', 'data-testid': `export-download-${e.format}` },
        `Download ${e.format === 'onnx' ? 'ONNX' : 'TF.js'} (.tar, ${kb} KB)`,
      ),
    ),
    h('p', { 'data-testid': `export-check-${e.format}` }, checkLine(e)),
    snippet('browser', 'Run it in a web page'),
    snippet('node', 'Run it in Node'),
  );
}

/** The section, filled with the exports made so far; its buttons make the others. */
export function exportSection(r: Results): HTMLElement {
  const list = h('div', { class: 'exports' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const shown = new Map<string, HTMLElement>();
  const show = (e: ExportView) => {
    const card = exportCard(e);
    const old = shown.get(e.format);
    if (old) old.replaceWith(card);
    else list.appendChild(card);
    shown.set(e.format, card);
  };
  void api
    .exports(r.exportsUrl)
    .then((all) => all.forEach(show))
    .catch(() => {});
  const buttons = FORMATS.map((f) =>
    h(
      'button',
      {
        type: 'button',
        id: `export-${f.format}`,
        title: f.runs,
        onclick: (ev: Event) => {
          const btn = ev.currentTarget as HTMLButtonElement;
          btn.disabled = true;
          status.textContent = `Exporting as ${f.title} and checking it on the held-out photos…`;
          void guard(async () => {
            try {
              show(await api.makeExport(r.exportsUrl, f.format));
              status.textContent = '';
            } catch (err) {
              // Said next to the buttons that caused it.
              status.textContent = `Export failed: ${(err as Error).message}`;
            } finally {
              btn.disabled = false;
            }
          });
        },
      },
      `Export ${f.title}`,
    ),
  );
  return h(
    'section',
    { class: 'export-section', 'aria-label': 'Export' },
    h('h3', {}, 'Use it elsewhere'),
    h(
      'p',
      { class: 'muted' },
      'One model file with the backbone and the trained layers, to run without tl: ONNX (onnxruntime-web or -node) or TF.js.',
    ),
    h('div', { class: 'row wrap' }, ...buttons),
    status,
    list,
  );
}
