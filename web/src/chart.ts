// Loss and accuracy curves as inline SVG (no chart library).
import { svg } from './dom';

export interface Series {
  name: string;
  points: [number, number][];
  className: string;
}

export function lineChart(
  title: string,
  series: Series[],
  opts: { yMin?: number; yMax?: number; yFormat?: (v: number) => string } = {},
): SVGElement {
  const W = 320;
  const H = 180;
  const pad = { l: 44, r: 10, t: 22, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const xMin = Math.min(xMax - 1, ...all.map(([x]) => x));
  let yMin = opts.yMin ?? Math.min(...all.map(([, y]) => y));
  let yMax = opts.yMax ?? Math.max(...all.map(([, y]) => y));
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const fx = (x: number) => pad.l + ((x - xMin) / (xMax - xMin || 1)) * (W - pad.l - pad.r);
  const fy = (y: number) => H - pad.b - ((y - yMin) / (yMax - yMin)) * (H - pad.t - pad.b);
  const fmt = opts.yFormat ?? ((v: number) => v.toFixed(2));
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart' });
  root.appendChild(svg('title', {}, title));
  root.appendChild(svg('text', { x: pad.l, y: 14, class: 'chart-title' }, title));
  for (const t of [0, 0.5, 1]) {
    const v = yMin + t * (yMax - yMin);
    root.appendChild(svg('line', { x1: pad.l, x2: W - pad.r, y1: fy(v), y2: fy(v), class: 'grid' }));
    root.appendChild(svg('text', { x: pad.l - 4, y: fy(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(v)));
  }
  root.appendChild(
    svg(
      'text',
      { x: W - pad.r, y: H - pad.b + 13, 'text-anchor': 'end', class: 'tick' },
      `iteration ${Math.round(xMax)}`,
    ),
  );
  let lx = pad.l + 4;
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length)
      root.appendChild(
        svg('polyline', {
          points: pts.map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(' '),
          class: `line ${s.className}`,
        }),
      );
    root.appendChild(svg('rect', { x: lx, y: H - 9, width: 10, height: 3, class: `swatch ${s.className}` }));
    root.appendChild(svg('text', { x: lx + 14, y: H - 5, class: 'tick' }, s.name));
    lx += 14 + s.name.length * 6 + 12;
  }
  return root;
}
