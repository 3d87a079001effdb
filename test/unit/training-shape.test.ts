// Issue 23: one rung harness. What every rung does around its training step (extract both splits, report the images
// used, evaluate, calibrate the unknown flag, build the classifier, emit 'done') is written once, in
// src/training/harness.ts; a rung is its training step and its recipe, and rungs 2-3's entry point stays short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

const TRAINING = join(ROOT, 'src/training');

/** Lines of the body of `export async function NAME` in a source file (from its signature to its closing brace). */
function functionLines(source: string, name: string): number {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`export async function ${name}(`));
  assert.ok(start >= 0, `${name} not found`);
  const end = lines.findIndex((l, i) => i > start && l === '}');
  assert.ok(end > start, `${name} has no closing brace at column 0`);
  return end - start + 1;
}

test('finetuneClassifier (rungs 2-3) is well under 100 lines', async () => {
  const source = await readFile(join(TRAINING, 'finetune.ts'), 'utf8');
  const n = functionLines(source, 'finetuneClassifier');
  assert.ok(n < 100, `finetuneClassifier is ${n} lines`);
});

test("the harness's steps are written once: only harness.ts extracts the splits, evaluates and builds", async () => {
  const files = (await readdir(TRAINING)).filter((f) => f.endsWith('.ts'));
  const steps: [string, RegExp][] = [
    ['extract the val split', /\bdataset\.val\b/],
    ['report the images used', /\.reportUsed\(/],
    ['evaluate', /\bevaluate\(/],
    ['calibrate the unknown flag', /fitUnknownOnTrain\(/],
    ['record the splits', /\bsplitsUsed\(/],
    ['build the classifier', /Classifier\.fromParts\(/],
    ["emit 'done'", /type: 'done', metrics/],
  ];
  for (const [step, pattern] of steps) {
    const where: string[] = [];
    for (const f of files) if (pattern.test(await readFile(join(TRAINING, f), 'utf8'))) where.push(f);
    assert.deepEqual(where, ['harness.ts'], `${step}: ${where.join(', ')}`);
  }
});
