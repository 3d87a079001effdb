// The loss and accuracy curves of a training run (live while training, and in the results).
import type { HistoryPoint } from './api';
import { lineChart } from './chart';
import { pct } from './dom';

export function curveCharts(history: readonly HistoryPoint[]): SVGElement[] {
  const s = (key: keyof HistoryPoint) => history.map((p) => [p.step, p[key] ?? NaN] as [number, number]);
  const hasVal = history.some((p) => p.valAcc !== undefined && p.valAcc !== null);
  return [
    lineChart(
      'Loss',
      [
        { name: 'train', points: s('trainLoss'), className: 's-train' },
        ...(hasVal ? [{ name: 'validation', points: s('valLoss'), className: 's-val' }] : []),
      ],
      { yMin: 0 },
    ),
    lineChart(
      'Accuracy',
      [
        { name: 'train', points: s('trainAcc'), className: 's-train' },
        ...(hasVal ? [{ name: 'validation', points: s('valAcc'), className: 's-val' }] : []),
      ],
      {
        yMin: 0,
        yMax: 1,
        yFormat: (v) => pct(v, 0),
      },
    ),
  ];
}
