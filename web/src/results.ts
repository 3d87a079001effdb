// The results of the latest training: accuracy, per-class table, confusion matrix, misclassified photos, curves.
import { h, pct } from './dom';
import { curveCharts } from './curves';
import { plural, state } from './state';
import { exportSection } from './exports';
import type { Results } from './api';

const RUNG_NAMES = {
  head: 'rung 1: a new last layer on the frozen network',
  partial: 'rung 2: the last blocks fine-tuned',
  full: 'rung 3: the whole network fine-tuned',
} as const;

/** Which backbone and rung made it, how long it took, and which split each number is on. */
function provenance(r: Results): HTMLElement {
  const s = r.splits;
  const t = r.timings;
  const decided =
    s && s.decisions.split !== 'none'
      ? `${s.decisions.decided.join(' and ')} chosen on ${s.decisions.split === 'inner-val' ? `${plural(s.decisions.images, 'training photo')} held out of the training split` : `cross-validation over the training split (${plural(s.decisions.images, 'photo')})`}`
      : '';
  return h(
    'ul',
    { class: 'provenance', 'data-testid': 'provenance' },
    h(
      'li',
      {},
      'Backbone ',
      h('strong', { 'data-testid': 'result-backbone' }, r.backbone),
      `, ${RUNG_NAMES[r.rung] ?? r.rung}`,
      h('span', { hidden: true, 'data-testid': 'result-rung' }, r.rung),
      r.plan ? ` (auto: ${r.plan.reason})` : '',
    ),
    t
      ? h(
          'li',
          {},
          `Trained in ${t.totalSeconds.toFixed(1)} s (describing photos ${t.extractSeconds.toFixed(1)} s, training ${t.trainSeconds.toFixed(1)} s).`,
        )
      : '',
    h(
      'li',
      {},
      `Accuracy, per-class numbers and the confusion matrix: on ${r.evaluatedOn === 'val' ? `the ${plural(r.valImages ?? r.count, 'held-out photo')} of the validation split, never used in training` : 'the training photos (no held-out photos: add more)'}; trained on ${plural(r.trainImages ?? 0, 'photo')}.`,
    ),
    decided ? h('li', {}, `${decided[0].toUpperCase()}${decided.slice(1)}.`) : '',
    s ? h('li', {}, `The unknown flag's threshold: calibrated on ${s.unknown.calibratedOn}.`) : '',
  );
}

export function renderResults(): void {
  const body = document.getElementById('results-body');
  if (!body || !state.current) return;
  renderStale();
  const r = state.current.results;
  if (!r) {
    body.replaceChildren(
      h('p', { class: 'muted' }, 'Train to see how well the classifier does on photos it did not learn from.'),
    );
    return;
  }
  const on =
    r.evaluatedOn === 'val'
      ? `${plural(r.count, 'held-out photo')}`
      : `${plural(r.count, 'training photo')} (no held-out photos: add more)`;
  const confusion = h(
    'table',
    { class: 'confusion' },
    h('caption', {}, 'Confusion matrix: rows are the true class, columns the predicted one'),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'true \\ predicted'), ...r.labels.map((l) => h('th', { scope: 'col' }, l))),
    ),
    h(
      'tbody',
      {},
      ...r.confusion.map((row, t) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, r.labels[t]),
          ...row.map((n, p) => h('td', { class: n === 0 ? 'zero' : p === t ? 'hit' : 'miss' }, String(n))),
        ),
      ),
    ),
  );
  const perClass = h(
    'table',
    { class: 'per-class' },
    h('caption', {}, 'Per class'),
    h(
      'thead',
      {},
      h('tr', {}, ...['class', 'accuracy', 'precision', 'F1', 'photos'].map((t) => h('th', { scope: 'col' }, t))),
    ),
    h(
      'tbody',
      {},
      ...r.perClass.map((c) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, c.label),
          h('td', {}, pct(c.accuracy)),
          h('td', {}, pct(c.precision)),
          h('td', {}, c.f1.toFixed(3)),
          h('td', {}, String(c.support)),
        ),
      ),
    ),
  );
  const mistakes = r.misclassified.length
    ? h(
        'ul',
        { class: 'mistakes' },
        ...r.misclassified.map((m) =>
          h(
            'li',
            {},
            m.thumbnailUrl
              ? h('img', {
                  src: m.thumbnailUrl,
                  alt: `A ${m.trueLabel} photo taken for ${m.predictedLabel}`,
                  width: 96,
                  height: 96,
                  loading: 'lazy',
                })
              : h('div', { class: 'missing' }, '(removed)'),
            h(
              'p',
              {},
              h('strong', {}, m.predictedLabel),
              ` ${pct(m.probability, 0)}`,
              h('br', {}),
              h('span', { class: 'muted' }, `really ${m.trueLabel}`),
            ),
            h(
              'p',
              { class: 'probs' },
              Object.entries(m.probabilities)
                .sort((a, b) => b[1] - a[1])
                .map(([l, v]) => `${l} ${pct(v, 0)}`)
                .join(' · '),
            ),
          ),
        ),
      )
    : h('p', { class: 'muted' }, 'No held-out photo was misclassified.');
  body.replaceChildren(
    h(
      'div',
      { class: 'headline' },
      h('span', { id: 'accuracy', class: 'big', 'data-value': String(r.accuracy) }, pct(r.accuracy)),
      h('span', {}, ` accuracy on ${on}`),
    ),
    provenance(r),
    h(
      'div',
      { class: 'row wrap' },
      h(
        'a',
        { class: 'button primary', href: r.downloadUrl, download: '', id: 'download-link' },
        'Download the classifier (.tar)',
      ),
      h('a', { class: 'button subtle', href: r.reportUrl, target: '_blank', rel: 'noopener' }, 'Full report'),
    ),
    h(
      'div',
      { class: 'tables' },
      h('div', { class: 'scroll-x' }, perClass),
      h('div', { class: 'scroll-x' }, confusion),
    ),
    exportSection(r),
    h('h3', {}, `Misclassified photos (${r.misclassified.length})`),
    mistakes,
    r.history.length
      ? h(
          'details',
          { class: 'curves' },
          h('summary', {}, 'Training curves'),
          h('div', { class: 'charts' }, ...curveCharts(r.history)),
        )
      : '',
  );
}

/**
 * "Retrain needed: …" by the results and by Try it, when the project's classes or photos changed after the model was
 * trained (the server compares them with what the model was trained on). Predictions still answer, from that model.
 */
export function renderStale(): void {
  const model = state.current?.project.model;
  const stale = !!model?.stale;
  const notices: [string, string][] = [
    ['results-stale', 'The results below are of the model trained before these changes.'],
    ['try-stale', 'Answers here come from the model trained before these changes.'],
  ];
  for (const [id, tail] of notices) {
    const el = document.getElementById(id);
    if (!el) continue;
    el.hidden = !stale;
    el.replaceChildren(
      ...(stale ? [h('strong', {}, 'Retrain needed: '), `${model!.summary}. ${tail} Press Train to update it.`] : []),
    );
  }
}
