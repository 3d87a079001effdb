import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../../src/eval/metrics.js';
import {
  escapeHtml,
  formatConfusionMatrix,
  formatCurve,
  formatPerClass,
  renderHtmlReport,
} from '../../src/eval/report.js';

const labels = ['cat', 'dog', 'bird'];
const yTrue = Int32Array.of(0, 0, 0, 1, 1, 2);
const probs = [
  [0.8, 0.1, 0.1], // cat -> cat
  [0.6, 0.3, 0.1], // cat -> cat
  [0.2, 0.7, 0.1], // cat -> dog (wrong, 0.7)
  [0.1, 0.6, 0.3], // dog -> dog
  [0.1, 0.05, 0.85], // dog -> bird (wrong, 0.85)
  [0.3, 0.2, 0.5], // bird -> bird
].map((r) => Float32Array.from(r));
const paths = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg', 'f.jpg'];

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} vs ${expected}`);

test('metrics on a hand-computed example', () => {
  const m = evaluate(yTrue, probs, labels, paths);
  assert.equal(m.count, 6);
  close(m.accuracy, 4 / 6, 'accuracy');
  assert.deepEqual(m.confusion, [
    [2, 1, 0],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  const expected = [
    { label: 'cat', precision: 1, recall: 2 / 3, f1: 0.8, support: 3 },
    { label: 'dog', precision: 0.5, recall: 0.5, f1: 0.5, support: 2 },
    { label: 'bird', precision: 0.5, recall: 1, f1: 2 / 3, support: 1 },
  ];
  m.perClass.forEach((c, k) => {
    assert.equal(c.label, expected[k].label);
    assert.equal(c.support, expected[k].support);
    close(c.precision, expected[k].precision, `${c.label} precision`);
    close(c.recall, expected[k].recall, `${c.label} recall`);
    close(c.f1, expected[k].f1, `${c.label} f1`);
  });
  close(m.macroF1, (0.8 + 0.5 + 2 / 3) / 3, 'macro F1');
  close(
    m.logLoss,
    -(Math.log(0.8) + Math.log(0.6) + Math.log(0.2) + Math.log(0.6) + Math.log(0.05) + Math.log(0.5)) / 6,
    'log-loss',
  );
  assert.deepEqual(
    m.mostConfidentlyWrong.map((w) => [w.index, w.path, w.trueLabel, w.predictedLabel]),
    [
      [4, 'e.jpg', 'dog', 'bird'],
      [2, 'c.jpg', 'cat', 'dog'],
    ],
  );
  close(m.mostConfidentlyWrong[0].probability, 0.85, 'top mistake probability');
  close(m.mostConfidentlyWrong[0].probabilities.dog, 0.05, 'probabilities by label');
});

test('a class that is never predicted has precision 0, and mistakes are capped at 10', () => {
  const y = new Int32Array(30).fill(1);
  const p = Array.from({ length: 30 }, (_, i) => Float32Array.of(0.5 + i / 100, 0.5 - i / 100));
  const m = evaluate(y, p, ['a', 'b']);
  assert.equal(m.perClass[1].precision, 0);
  assert.equal(m.perClass[1].f1, 0);
  assert.equal(m.mostConfidentlyWrong.length, 10);
  assert.equal(m.mostConfidentlyWrong[0].index, 29);
  assert.equal(m.mostConfidentlyWrong[0].path, undefined);
  assert.throws(() => evaluate(Int32Array.of(0), [], ['a']));
});

test('terminal tables are aligned and truncate long labels', () => {
  const m = evaluate(yTrue, probs, ['cat', 'a-very-long-dog-breed-name', 'bird'], paths);
  const cm = formatConfusionMatrix(m, 8);
  const lines = cm.split('\n');
  assert.equal(lines.length, 4);
  assert.ok(cm.includes('a-very-…') && !cm.includes('a-very-long'));
  // Right-aligned count columns: every row ends at the same column.
  assert.equal(new Set(lines.map((l) => l.length)).size, 1);
  const pc = formatPerClass(m);
  assert.match(pc, /cat\s+1\.000\s+0\.667\s+0\.800\s+3/);
  assert.match(pc, /macro avg/);
  const history = Array.from({ length: 57 }, (_, i) => ({ step: i + 1, trainLoss: 1 / (i + 1), trainAcc: i / 57 }));
  const curve = formatCurve(history).split('\n');
  assert.equal(curve.length, 11); // header + 10 rows
  assert.match(curve[1], /^\s*1\s/);
  assert.match(curve[10], /^\s*57\s/);
  assert.ok(!curve[0].includes('val'));
});

test('the HTML report is self-contained, has the SVG plots, and escapes labels', () => {
  const evil = '<script>alert(1)</script>';
  const m = evaluate(
    yTrue,
    probs,
    ['cat', evil, 'bird & co'],
    ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'x/<b>.jpg', 'f.jpg'],
  );
  const html = renderHtmlReport({
    title: 'report "1"',
    metrics: m,
    history: [
      { step: 1, trainLoss: 0.9, trainAcc: 0.5, valLoss: 1, valAcc: 0.4 },
      { step: 2, trainLoss: 0.5, trainAcc: 0.8, valLoss: 0.7, valAcc: 0.7 },
    ],
    config: { model: 'mobilenet-v2', note: '<i>' },
    cvCurve: [
      { l2: 10, cvAccuracy: 0.8, cvLoss: 0.5 },
      { l2: 1, cvAccuracy: 0.9, cvLoss: 0.3 },
    ],
  });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(!html.includes('<script'), 'no script tag, not even from a label');
  assert.ok(html.includes(escapeHtml(evil)));
  assert.ok(html.includes('bird &amp; co'));
  assert.ok(html.includes('x/&lt;b&gt;.jpg'));
  assert.ok(!html.includes('<i>'));
  assert.equal((html.match(/<svg /g) ?? []).length, 5); // loss, accuracy, CV accuracy, CV loss, reliability
  assert.match(html, /aria-label="Reliability: accuracy by confidence \(ECE \d\.\d{3}\)"/);
  assert.ok(html.includes('<polyline'));
  assert.match(html, /<svg[^>]*role="img"[^>]*aria-label="Loss"/);
  assert.ok(html.includes('<title>Accuracy</title>'));
  assert.ok(html.includes('validation')); // legend entry for the val curve
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external assets');
  assert.match(html, /<td style="background:hsl\([^"]+\)[^>]*>2<\/td>/); // coloured confusion cell
});
