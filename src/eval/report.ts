/**
 * Human-readable views of training results: plain-text tables for the terminal, and one self-contained HTML report
 * (inline CSS and SVG only, no scripts or external assets, so it opens anywhere and can be mailed as one file).
 */
import type { Metrics } from './metrics.js';

export interface CurvePoint {
  /** L-BFGS iteration or epoch. */
  step: number;
  trainLoss: number;
  trainAcc: number;
  /** On the reported validation split (a display: no decision reads it). */
  valLoss?: number;
  valAcc?: number;
  /** On the inner validation split carved from train, where the best epoch / early stopping is decided. */
  innerValLoss?: number;
  innerValAcc?: number;
}

export interface CvCurvePoint {
  l2: number;
  cvAccuracy: number;
  cvLoss: number;
}

// ---------- terminal ----------

function truncate(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(1, width - 1)) + '…';
}

function table(rows: string[][], alignRight: (col: number) => boolean): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (alignRight(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Rows are true classes, columns predicted; long labels are cut to `labelWidth` characters. */
export function formatConfusionMatrix(metrics: Metrics, labelWidth = 12): string {
  const labels = metrics.perClass.map((c) => truncate(c.label, labelWidth));
  const header = ['true \\ pred', ...labels];
  const rows = metrics.confusion.map((row, t) => [labels[t], ...row.map(String)]);
  return table([header, ...rows], (c) => c > 0);
}

export function formatPerClass(metrics: Metrics, labelWidth = 24): string {
  const f = (v: number) => v.toFixed(3);
  const rows = metrics.perClass.map((c) => [
    truncate(c.label, labelWidth),
    f(c.precision),
    f(c.recall),
    f(c.f1),
    String(c.support),
  ]);
  const macro = (key: 'precision' | 'recall') =>
    metrics.perClass.reduce((a, c) => a + c[key], 0) / Math.max(1, metrics.perClass.length);
  rows.push(['macro avg', f(macro('precision')), f(macro('recall')), f(metrics.macroF1), String(metrics.count)]);
  return table([['class', 'precision', 'recall', 'f1', 'support'], ...rows], (c) => c > 0);
}

/** Evenly spaced points of a long history, always keeping the first and the last. */
function subsample<T>(points: readonly T[], maxRows: number): T[] {
  if (points.length <= maxRows) return [...points];
  const picked = new Set<number>();
  for (let r = 0; r < maxRows; r++) picked.add(Math.round((r * (points.length - 1)) / (maxRows - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => points[i]);
}

export function formatCurve(history: readonly CurvePoint[], maxRows = 10): string {
  if (history.length === 0) return '(no training curve recorded)';
  const hasVal = history.some((p) => p.valLoss !== undefined || p.valAcc !== undefined);
  const hasInner = history.some((p) => p.innerValLoss !== undefined || p.innerValAcc !== undefined);
  const num = (v: number | undefined, digits: number) => (v === undefined ? '-' : v.toFixed(digits));
  const header = [
    'step',
    'train loss',
    'train acc',
    ...(hasInner ? ['inner val loss', 'inner val acc'] : []),
    ...(hasVal ? ['val loss', 'val acc'] : []),
  ];
  const rows = subsample(history, maxRows).map((p) => [
    String(p.step),
    num(p.trainLoss, 4),
    num(p.trainAcc, 4),
    ...(hasInner ? [num(p.innerValLoss, 4), num(p.innerValAcc, 4)] : []),
    ...(hasVal ? [num(p.valLoss, 4), num(p.valAcc, 4)] : []),
  ]);
  return table([header, ...rows], () => true);
}

// ---------- HTML ----------

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Okabe-Ito colours: distinguishable with the common colour-vision deficiencies; validation lines are also dashed. */
const TRAIN_COLOUR = '#0072B2';
const VAL_COLOUR = '#D55E00';
const INNER_COLOUR = '#009E73';

interface Series {
  name: string;
  colour: string;
  dashed?: boolean;
  points: [number, number][];
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** An SVG line chart with axes, ticks, axis labels and a legend; `logX` plots log10 of x (for l2 grids). */
export function svgLinePlot(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  width?: number;
  height?: number;
}): string {
  const width = opts.width ?? 520;
  const height = opts.height ?? 300;
  const margin = { left: 60, right: 130, top: 30, bottom: 45 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const tx = (x: number) => (opts.logX ? Math.log10(x) : x);
  const all = opts.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
  const desc = `${opts.title}: ${opts.series.map((s) => s.name).join(', ')} against ${opts.xLabel}.`;
  let body = '';
  if (all.length === 0) {
    body = `<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text>`;
  } else {
    let xMin = Math.min(...all.map((p) => tx(p[0])));
    let xMax = Math.max(...all.map((p) => tx(p[0])));
    let yMin = Math.min(...all.map((p) => p[1]));
    let yMax = Math.max(...all.map((p) => p[1]));
    if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
    if (yMax === yMin) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
    const px = (x: number) => margin.left + ((tx(x) - xMin) / (xMax - xMin)) * plotW;
    const py = (y: number) => margin.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
    const axisY = margin.top + plotH;
    body += `<line x1="${margin.left}" y1="${axisY}" x2="${margin.left + plotW}" y2="${axisY}" stroke="#333"/>`;
    body += `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${axisY}" stroke="#333"/>`;
    for (const t of niceTicks(xMin, xMax)) {
      const x = margin.left + ((t - xMin) / (xMax - xMin)) * plotW;
      const label = opts.logX ? formatTick(10 ** t) : formatTick(t);
      body += `<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 5}" stroke="#333"/><text x="${x}" y="${axisY + 18}" text-anchor="middle" font-size="11">${escapeHtml(label)}</text>`;
    }
    for (const t of niceTicks(yMin, yMax)) {
      const y = margin.top + plotH - ((t - yMin) / (yMax - yMin)) * plotH;
      body += `<line x1="${margin.left - 5}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#ddd"/><text x="${margin.left - 8}" y="${y + 4}" text-anchor="end" font-size="11">${escapeHtml(formatTick(t))}</text>`;
    }
    body += `<text x="${margin.left + plotW / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeHtml(opts.xLabel)}</text>`;
    body += `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeHtml(opts.yLabel)}</text>`;
    opts.series.forEach((s, i) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(tx(x)) && Number.isFinite(y));
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      if (pts.length > 1)
        body += `<polyline fill="none" stroke="${s.colour}" stroke-width="2"${dash} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`;
      else if (pts.length === 1)
        body += `<circle cx="${px(pts[0][0])}" cy="${py(pts[0][1])}" r="3" fill="${s.colour}"/>`;
      const ly = margin.top + 10 + i * 18;
      const lx = margin.left + plotW + 12;
      body += `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${s.colour}" stroke-width="2"${dash}/><text x="${lx + 30}" y="${ly + 4}" font-size="12">${escapeHtml(s.name)}</text>`;
    });
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(opts.title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">` +
    `<title>${escapeHtml(opts.title)}</title><desc>${escapeHtml(desc)}</desc>` +
    `<text x="${margin.left}" y="18" font-size="14" font-weight="600">${escapeHtml(opts.title)}</text>${body}</svg>`
  );
}

/**
 * The reliability diagram: each confidence bin's accuracy against its mean top probability, beside the diagonal that
 * perfectly calibrated probabilities would follow (the ECE is the rows-weighted gap).
 */
function reliabilityPlot(metrics: Metrics): string {
  if (!metrics.reliability?.length) return '';
  return `<h2>Calibration</h2>\n${svgLinePlot({
    title: `Reliability: accuracy by confidence (ECE ${metrics.ece.toFixed(3)})`,
    xLabel: 'mean top probability of the bin',
    yLabel: 'accuracy in the bin',
    series: [
      {
        name: 'perfectly calibrated',
        colour: TRAIN_COLOUR,
        dashed: true,
        points: [
          [0, 0],
          [1, 1],
        ],
      },
      {
        name: 'this classifier',
        colour: VAL_COLOUR,
        points: metrics.reliability.map((b) => [b.meanConfidence, b.accuracy]),
      },
    ],
  })}`;
}

function confusionHeatmap(metrics: Metrics): string {
  const labels = metrics.perClass.map((c) => c.label);
  const head = labels
    .map((l) => `<th scope="col" title="${escapeHtml(l)}">${escapeHtml(truncate(l, 16))}</th>`)
    .join('');
  const rows = metrics.confusion
    .map((row, t) => {
      const total = row.reduce((a, b) => a + b, 0);
      const cells = row
        .map((count, p) => {
          // Shade by the share of the true class's images (row-normalized), so small classes are as visible as big ones.
          const share = total > 0 ? count / total : 0;
          const hue = p === t ? 210 : 20; // blue on the diagonal, orange off it
          const lightness = 97 - share * 62;
          const ink = lightness < 55 ? '#fff' : '#111';
          const tip = `${labels[t]} predicted as ${labels[p]}: ${count} (${(share * 100).toFixed(1)}%)`;
          return `<td style="background:hsl(${hue} 70% ${lightness.toFixed(0)}%);color:${ink}" title="${escapeHtml(tip)}">${count}</td>`;
        })
        .join('');
      return `<tr><th scope="row" title="${escapeHtml(labels[t])}">${escapeHtml(truncate(labels[t], 24))}</th>${cells}</tr>`;
    })
    .join('\n');
  return `<table class="confusion"><caption>Confusion matrix: rows are true classes, columns predicted classes; colour shows the share of each true class.</caption><thead><tr><th scope="col">true \\ predicted</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function perClassTable(metrics: Metrics): string {
  const f = (v: number) => v.toFixed(3);
  const rows = metrics.perClass
    .map(
      (c) =>
        `<tr><th scope="row">${escapeHtml(c.label)}</th><td>${f(c.precision)}</td><td>${f(c.recall)}</td><td>${f(c.f1)}</td><td>${c.support}</td></tr>`,
    )
    .join('\n');
  return `<table><caption>Per-class precision, recall and F1</caption><thead><tr><th scope="col">class</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">F1</th><th scope="col">support</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function mistakesTable(metrics: Metrics): string {
  if (metrics.mostConfidentlyWrong.length === 0) return '<p>No misclassified images.</p>';
  const rows = metrics.mostConfidentlyWrong
    .map((m) => {
      const probs = Object.entries(m.probabilities)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([label, p]) => `${escapeHtml(label)}: ${(p * 100).toFixed(1)}%`)
        .join('<br>');
      const file = m.path !== undefined ? `<code>${escapeHtml(m.path)}</code>` : `#${m.index}`;
      return `<tr><td>${file}</td><td>${escapeHtml(m.trueLabel)}</td><td>${escapeHtml(m.predictedLabel)}</td><td>${(m.probability * 100).toFixed(1)}%</td><td>${probs}</td></tr>`;
    })
    .join('\n');
  return `<table><caption>Most confidently wrong predictions</caption><thead><tr><th scope="col">file</th><th scope="col">true</th><th scope="col">predicted</th><th scope="col">confidence</th><th scope="col">top probabilities</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function configTable(config: Record<string, unknown>): string {
  const rows = Object.entries(config)
    .map(
      ([k, v]) =>
        `<tr><th scope="row">${escapeHtml(k)}</th><td><code>${escapeHtml(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)))}</code></td></tr>`,
    )
    .join('\n');
  return `<table><caption>Configuration</caption><tbody>${rows}</tbody></table>`;
}

/** The part of a run's `config.splits` the report states (the shape classifier/config.ts's SplitsUsed records). */
interface SplitsShown {
  reported: { split: string; images: number; accuracy: number };
  decisions: { split: string; decided: string[]; images: number; accuracy?: number };
  unknown?: { calibratedOn: string; targetFlagRate: number; flagRateOnVal?: number };
}

/** One paragraph: which split the accuracy above is on, what was decided where, and the unknown flag's rate on val. */
function splitsParagraph(splits: unknown): string {
  if (!splits || typeof splits !== 'object' || !('reported' in splits) || !('decisions' in splits)) return '';
  const s = splits as SplitsShown;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const parts = [
    `The accuracy above is on the <strong>${escapeHtml(s.reported.split)}</strong> split (${s.reported.images} images), read once after training.`,
  ];
  const d = s.decisions;
  if (d.decided.length) {
    const where =
      d.split === 'inner-val'
        ? 'an inner validation split held out of the training images'
        : 'cross-validation on the training images';
    parts.push(
      `${escapeHtml(d.decided.join(', '))}: decided on ${where} (${d.images} images${d.accuracy !== undefined ? `, accuracy there ${pct(d.accuracy)}` : ''}).`,
    );
  }
  if (s.unknown)
    parts.push(
      `Unknown flag: threshold from ${escapeHtml(s.unknown.calibratedOn)}; it flags ${s.unknown.flagRateOnVal === undefined ? '-' : pct(s.unknown.flagRateOnVal)} of the val images (target ${pct(s.unknown.targetFlagRate)}).`,
    );
  return `<p class="splits">${parts.join(' ')}</p>`;
}

export interface HtmlReportInput {
  title: string;
  metrics: Metrics;
  history: readonly CurvePoint[];
  config: Record<string, unknown>;
  cvCurve?: readonly CvCurvePoint[];
}

export function renderHtmlReport(input: HtmlReportInput): string {
  const { metrics, history } = input;
  const hasVal = history.some((p) => p.valLoss !== undefined);
  const hasInner = history.some((p) => p.innerValLoss !== undefined);
  const curve = (
    key: 'trainLoss' | 'trainAcc' | 'valLoss' | 'valAcc' | 'innerValLoss' | 'innerValAcc',
  ): [number, number][] => history.filter((p) => p[key] !== undefined).map((p) => [p.step, p[key] as number]);
  const held = (loss: boolean): Series[] => [
    ...(hasInner
      ? [
          {
            name: 'inner val (decides)',
            colour: INNER_COLOUR,
            dashed: true,
            points: curve(loss ? 'innerValLoss' : 'innerValAcc'),
          },
        ]
      : []),
    ...(hasVal
      ? [{ name: 'validation', colour: VAL_COLOUR, dashed: true, points: curve(loss ? 'valLoss' : 'valAcc') }]
      : []),
  ];
  const plots: string[] = [];
  if (history.length > 0) {
    plots.push(
      svgLinePlot({
        title: 'Loss',
        xLabel: 'step',
        yLabel: 'cross-entropy',
        series: [{ name: 'train', colour: TRAIN_COLOUR, points: curve('trainLoss') }, ...held(true)],
      }),
      svgLinePlot({
        title: 'Accuracy',
        xLabel: 'step',
        yLabel: 'accuracy',
        series: [{ name: 'train', colour: TRAIN_COLOUR, points: curve('trainAcc') }, ...held(false)],
      }),
    );
  }
  if (input.cvCurve && input.cvCurve.length > 0) {
    plots.push(
      svgLinePlot({
        title: 'Cross-validation over the L2 strength',
        xLabel: 'l2 (log scale)',
        yLabel: 'CV accuracy',
        logX: true,
        series: [{ name: 'CV accuracy', colour: TRAIN_COLOUR, points: input.cvCurve.map((p) => [p.l2, p.cvAccuracy]) }],
      }),
      svgLinePlot({
        title: 'Cross-validation log-loss',
        xLabel: 'l2 (log scale)',
        yLabel: 'CV log-loss',
        logX: true,
        series: [
          { name: 'CV log-loss', colour: VAL_COLOUR, dashed: true, points: input.cvCurve.map((p) => [p.l2, p.cvLoss]) },
        ],
      }),
    );
  }
  const title = escapeHtml(input.title);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #111; background: #fff; max-width: 1100px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.5rem; text-align: right; }
th[scope="row"], td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
.summary span { display: inline-block; margin-right: 2rem; font-size: 1.1rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
table.confusion td { min-width: 2.5rem; text-align: center; }
code { word-break: break-all; }
</style>
</head>
<body>
<h1>${title}</h1>
<p class="summary"><span>accuracy <strong>${(metrics.accuracy * 100).toFixed(2)}%</strong> (${Math.round(metrics.accuracy * metrics.count)}/${metrics.count})</span><span>macro F1 <strong>${metrics.macroF1.toFixed(3)}</strong></span><span>log-loss <strong>${metrics.logLoss.toFixed(4)}</strong></span>${metrics.ece !== undefined ? `<span>calibration error (ECE) <strong>${metrics.ece.toFixed(3)}</strong></span>` : ''}</p>
${splitsParagraph(input.config.splits)}
<h2>Training curves</h2>
<div class="plots">${plots.length ? plots.join('\n') : '<p>No training curve recorded.</p>'}</div>
<h2>Confusion matrix</h2>
${confusionHeatmap(metrics)}
${reliabilityPlot(metrics)}
<h2>Per class</h2>
${perClassTable(metrics)}
<h2>Most confidently wrong</h2>
${mistakesTable(metrics)}
<h2>Configuration</h2>
${configTable(input.config)}
</body>
</html>
`;
}
