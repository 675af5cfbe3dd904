// Small inline SVG charts, drawn with DOM calls (no library, no inline
// style: the lines are coloured by app.css classes, which the CSP allows).

const SVG = 'http://www.w3.org/2000/svg';
const W = 160;
const H = 36;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

// sparkline draws one or more series (arrays of numbers, oldest first, all
// on one scale from 0) as lines; series[i] gets the class classes[i].
// label names the chart for screen readers.
export function sparkline(series, {classes = [], label = '', slots = 0} = {}) {
  const n = Math.max(slots, ...series.map((s) => s.length), 2);
  const max = Math.max(0, ...series.flat().filter(Number.isFinite));
  const top = max > 0 ? max * 1.1 : 1;
  const el = svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'spark', role: 'img', 'aria-label': label, preserveAspectRatio: 'none'});
  el.append(svg('line', {x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'spark-base'}));
  series.forEach((s, i) => {
    if (!s.length) return;
    // The newest point sits at the right edge; a short history starts
    // part way, so charts of different lengths line up in time.
    const offset = n - s.length;
    const pts = s.map((v, j) => [((offset + j) / (n - 1)) * W, H - 1 - (Number.isFinite(v) ? v / top : 0) * (H - 3)]);
    if (pts.length === 1) pts.unshift([pts[0][0] - 3, pts[0][1]]); // one point: a short dash
    el.append(svg('polyline', {
      points: pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '),
      class: `spark-line ${classes[i] || ''}`.trim(),
    }));
  });
  const t = svg('title', {});
  t.textContent = label;
  el.prepend(t);
  return el;
}
