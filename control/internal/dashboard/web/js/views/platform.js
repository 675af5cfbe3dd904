// Platform: the live workers and edges (polled), the traffic per API as
// small charts (control's history of the workers' counters), and the log tail (the admin API's
// server-sent event stream, filtered by tier, level and request id).
import {h, mount, empty, errorBox, ago} from '../dom.js';
import * as api from '../api.js';
import {sparkline} from '../chart.js';

const POLL_MS = 1500;
const MAX_LINES = 500;
const CONFIG_POLL_MS = 3000;
const CONFIG_PROJECTS = 20;
const TRAFFIC_POLL_MS = 5000;

export async function platformView(el) {
  const workersBox = h('div', {class: 'table-wrap'});
  const edgesBox = h('div', {class: 'table-wrap'});
  const trafficBox = h('div', {class: 'table-wrap', id: 'traffic'});
  const summary = h('div', {class: 'stats'});
  const configBox = h('div', {class: 'table-wrap', id: 'config-revisions'});
  const logs = logTail();
  mount(el,
    h('header', {class: 'page-head'}, h('h1', {}, 'Platform'), h('span', {class: 'live-dot', title: 'updated every 1.5 s'}, 'live')),
    summary,
    h('section', {class: 'card'}, h('h2', {}, 'Workers'), workersBox),
    h('section', {class: 'card'}, h('h2', {}, 'Edges'), edgesBox),
    h('section', {class: 'card'}, h('h2', {}, 'Traffic per API'), trafficBox),
    h('section', {class: 'card'}, h('h2', {}, 'Configuration each worker runs'), configBox),
    h('section', {class: 'card'}, h('h2', {}, 'Logs'), logs.el));

  let timer = null;
  let stopped = false;
  const poll = async () => {
    try {
      const [{workers}, {edges}] = await Promise.all([api.admin.get('/workers'), api.admin.get('/edges')]);
      renderWorkers(workersBox, summary, workers, edges);
      renderEdges(edgesBox, edges);
    } catch (e) {
      if (e.status !== 401) mount(workersBox, errorBox(e));
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };
  // The revisions come from each project's own answer, so they are
  // polled less often and for the first CONFIG_PROJECTS projects only.
  let configTimer = null;
  const pollConfig = async () => {
    try {
      renderConfig(configBox, await projectRevisions());
    } catch (e) {
      if (e.status !== 401) mount(configBox, errorBox(e));
    }
    if (!stopped) configTimer = setTimeout(pollConfig, CONFIG_POLL_MS);
  };
  let trafficTimer = null;
  const pollTraffic = async () => {
    try {
      renderTraffic(trafficBox, await api.admin.get('/metrics/summary'));
    } catch (e) {
      if (e.status !== 401) mount(trafficBox, errorBox(e));
    }
    if (!stopped) trafficTimer = setTimeout(pollTraffic, TRAFFIC_POLL_MS);
  };
  await poll();
  pollConfig();
  pollTraffic();
  return () => { stopped = true; clearTimeout(timer); clearTimeout(configTimer); clearTimeout(trafficTimer); logs.stop(); };
}

function renderWorkers(box, summary, workers, edges) {
  const inflight = workers.reduce((n, w) => n + (w.in_flight || 0), 0);
  const draining = workers.filter((w) => w.draining).length;
  mount(summary,
    stat('Workers', workers.length), stat('Edges', edges.length), stat('In flight', inflight), stat('Draining', draining),
    stat('Versions', [...new Set(workers.map((w) => w.version))].join(', ') || '—'));
  if (!workers.length) {
    mount(box, empty('No worker is beating', 'Workers announce themselves on NATS every second. Start one (madbase worker) or check that it reaches NATS.'));
    return;
  }
  workers.sort((a, b) => a.id.localeCompare(b.id));
  mount(box, h('table', {class: 'grid', id: 'workers'},
    h('thead', {}, h('tr', {}, ['ID', 'Address', 'Version', 'In flight', 'State', 'Last beat', 'Up since'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, workers.map((w) => h('tr', {dataset: {worker: w.id, beat: w.last_beat}},
      h('td', {}, h('code', {}, w.id)),
      h('td', {}, w.url),
      h('td', {}, w.version),
      h('td', {class: 'num'}, w.in_flight),
      h('td', {}, w.draining ? h('span', {class: 'badge warn'}, 'draining') : h('span', {class: 'badge ok'}, 'serving')),
      h('td', {}, ago(w.last_beat)),
      h('td', {}, new Date(w.started_at).toLocaleString()))))));
}

function renderEdges(box, edges) {
  if (!edges.length) {
    mount(box, empty('No edge is beating', 'Edges announce themselves on NATS every 2 seconds. Start one (madbase edge) or check that it reaches NATS.'));
    return;
  }
  edges.sort((a, b) => a.id.localeCompare(b.id));
  mount(box, h('table', {class: 'grid', id: 'edges'},
    h('thead', {}, h('tr', {}, ['ID', 'Address', 'Version', 'Connections', 'Workers routed to', 'State', 'Last beat', 'Up since'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, edges.map((e) => h('tr', {dataset: {edge: e.id, beat: e.last_beat}},
      h('td', {}, h('code', {}, e.id)),
      h('td', {}, e.url),
      h('td', {}, e.version),
      h('td', {class: 'num'}, e.connections),
      h('td', {class: 'num', title: `${e.workers_healthy} healthy of ${e.workers_known} known`}, `${e.workers_healthy} / ${e.workers_known}`),
      h('td', {}, e.draining ? h('span', {class: 'badge warn'}, 'draining') : h('span', {class: 'badge ok'}, 'serving')),
      h('td', {}, ago(e.last_beat)),
      h('td', {}, new Date(e.started_at).toLocaleString()))))));
}

// renderTraffic draws, per API, the request rate, the 5xx rate and the
// latency (p50, and p95 in the warning colour) over the history control
// keeps, with the newest figures written beside.
function renderTraffic(box, {interval_seconds: step, apis, points}) {
  if (!points.length) {
    mount(box, h('p', {class: 'muted'}, `Control computes the traffic from the workers' beats every ${step} s; the first figures come after two of them.`));
    return;
  }
  const minutes = Math.round((points.length * step) / 60);
  const slots = Math.round(300 / step);
  const fmt = (v, unit) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ${unit}`;
  mount(box, h('table', {class: 'traffic'},
    h('caption', {class: 'muted small-text'}, `last ${minutes || '<1'} min, one point every ${step} s, all workers`),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'API'), h('th', {scope: 'col'}, 'Requests / s'), h('th', {scope: 'col'}, 'Errors (5xx) / s'),
      h('th', {scope: 'col'}, 'Latency p50, ', h('span', {class: 'legend-p95'}, 'p95')))),
    h('tbody', {}, apis.map((a) => {
      const f = points.map((p) => p.apis[a] || {rate: 0, error_rate: 0, p50_ms: 0, p95_ms: 0});
      const last = f[f.length - 1];
      const cell = (metric, value, text, chart) => h('td', {dataset: {metric, last: String(value)}}, chart, h('span', {class: 'spark-value'}, text));
      return h('tr', {dataset: {api: a}},
        h('th', {scope: 'row'}, a),
        cell('rate', last.rate, fmt(last.rate, '/s'), sparkline([f.map((x) => x.rate)], {slots, label: `${a} requests per second`})),
        cell('errors', last.error_rate, fmt(last.error_rate, '/s'), sparkline([f.map((x) => x.error_rate)], {slots, classes: ['error'], label: `${a} 5xx answers per second`})),
        cell('latency', last.p50_ms, `${fmt(last.p50_ms, '')}/ ${fmt(last.p95_ms, 'ms')}`, sparkline([f.map((x) => x.p50_ms), f.map((x) => x.p95_ms)], {slots, classes: ['', 'p95'], label: `${a} latency p50 and p95 in milliseconds`})));
    }))));
}

async function projectRevisions() {
  let list;
  try {
    list = (await api.admin.get('/projects')).projects;
  } catch (e) {
    if (e.status === 503) return {unavailable: e.message};
    throw e;
  }
  const shown = list.slice(0, CONFIG_PROJECTS);
  const details = await Promise.all(shown.map((p) => api.admin.get(`/projects/${encodeURIComponent(p.ref)}`).catch(() => null)));
  return {projects: details.filter(Boolean), more: list.length - shown.length};
}

function renderConfig(box, {unavailable, projects, more}) {
  if (unavailable) {
    mount(box, h('p', {class: 'muted'}, unavailable));
    return;
  }
  if (!projects.length) {
    mount(box, h('p', {class: 'muted'}, 'Only the default project, configured by the environment. Projects you create are configured live and show here, with the revision each worker runs.'));
    return;
  }
  const workers = [...new Set(projects.flatMap((p) => p.workers.map((w) => w.id)))].sort();
  mount(box, h('table', {class: 'grid'},
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Project'), h('th', {scope: 'col', class: 'num'}, 'Revision'), workers.map((id) => h('th', {scope: 'col'}, id)))),
    h('tbody', {}, projects.map((p) => h('tr', {dataset: {ref: p.ref}},
      h('td', {}, h('a', {href: `#/p/${encodeURIComponent(p.ref)}/settings`}, h('code', {}, p.ref))),
      h('td', {class: 'num'}, p.revision),
      workers.map((id) => {
        const w = p.workers.find((x) => x.id === id);
        if (!w) return h('td', {class: 'muted'}, '—');
        return h('td', {title: w.reason || ''}, h('span', {class: `badge ${w.status === 'current' ? 'ok' : w.status === 'refused' ? 'bad' : 'warn'}`}, `${w.revision} ${w.status}`));
      }))))),
  more > 0 ? h('p', {class: 'help'}, `and ${more} more projects: see each one's settings.`) : null);
}

function stat(label, value) {
  return h('div', {class: 'stat'}, h('div', {class: 'stat-value'}, String(value)), h('div', {class: 'stat-label'}, label));
}

// logTail follows /admin/v1/logs/stream with the filters of its form.
function logTail() {
  const tier = h('select', {id: 'log-tier', 'aria-label': 'Tier'}, ['', 'edge', 'worker', 'control'].map((t) => h('option', {value: t}, t || 'every tier')));
  const level = h('select', {id: 'log-level', 'aria-label': 'Minimum level'}, ['debug', 'info', 'warn', 'error'].map((l) => h('option', {value: l, selected: l === 'info'}, l + ' and up')));
  const rid = h('input', {id: 'log-rid', type: 'search', placeholder: 'request id', 'aria-label': 'Request id', size: 24});
  const pause = h('button', {type: 'button', class: 'small'}, 'Pause');
  const clear = h('button', {type: 'button', class: 'small ghost'}, 'Clear');
  const state = h('span', {class: 'muted small-text'}, '');
  const lines = h('div', {class: 'logs', id: 'log-lines', role: 'log', 'aria-live': 'off', tabindex: '0'});
  let es = null;
  let paused = false;
  const held = [];

  const add = (rec) => {
    if (paused) { held.push(rec); return; }
    const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 8;
    lines.append(logLine(rec));
    while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  };
  const query = () => {
    const q = new URLSearchParams();
    if (tier.value) q.set('tier', tier.value);
    q.set('level', level.value);
    if (rid.value.trim()) q.set('request_id', rid.value.trim());
    return q;
  };
  // gen counts opens: an open overtaken by a newer one (or by stop) while
  // it waited for the recent records must not start its stream, or the
  // stream would outlive the screen and hold one of the browser's few
  // connections to the host.
  let gen = 0;
  const open = async () => {
    const mine = ++gen;
    if (es) es.close();
    es = null;
    lines.replaceChildren();
    const q = query();
    try {
      q.set('limit', '100');
      const {logs} = await api.admin.get('/logs?' + q);
      if (mine !== gen) return;
      logs.forEach(add);
      if (!logs.length) lines.append(h('div', {class: 'muted log-empty'}, 'No record matches yet; new ones appear here as they come.'));
    } catch (e) {
      if (mine !== gen) return;
      lines.append(errorBox(e));
    }
    q.delete('limit');
    es = new EventSource('/admin/v1/logs/stream?' + q);
    es.onopen = () => { state.textContent = 'following'; };
    es.onerror = () => { state.textContent = 'reconnecting…'; };
    es.onmessage = (ev) => {
      const e = lines.querySelector('.log-empty');
      if (e) e.remove();
      try { add(JSON.parse(ev.data)); } catch { /* not a record */ }
    };
  };
  let debounce = null;
  const reopen = () => { clearTimeout(debounce); debounce = setTimeout(open, 300); };
  tier.addEventListener('change', open);
  level.addEventListener('change', open);
  rid.addEventListener('input', reopen);
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? `Resume` : 'Pause';
    if (!paused) held.splice(0).forEach(add);
  });
  clear.addEventListener('click', () => lines.replaceChildren());
  lines.addEventListener('click', (ev) => {
    const r = ev.target.closest('[data-rid]');
    if (r) { rid.value = r.dataset.rid; open(); }
  });
  open();
  return {
    el: h('div', {}, h('div', {class: 'toolbar'}, tier, level, rid, pause, clear, state), lines),
    stop: () => { gen++; clearTimeout(debounce); if (es) es.close(); es = null; },
  };
}

const known = new Set(['time', 'level', 'msg', 'tier', 'instance', 'request_id', 'component']);

function logLine(r) {
  const t = r.time ? new Date(r.time) : null;
  const lvl = String(r.level || '').toLowerCase();
  const extra = Object.entries(r).filter(([k]) => !known.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
  return h('div', {class: `log-line lvl-${lvl}`},
    h('span', {class: 'log-time'}, t ? t.toLocaleTimeString([], {hour12: false}) + '.' + String(t.getMilliseconds()).padStart(3, '0') : ''),
    h('span', {class: `log-level`}, lvl || '?'),
    h('span', {class: 'log-src'}, [r.tier, r.instance].filter(Boolean).join('/')),
    h('span', {class: 'log-msg'}, r.component ? `[${r.component}] ` : '', r.msg || ''),
    r.request_id ? h('button', {type: 'button', class: 'log-rid link', dataset: {rid: r.request_id}, title: 'Show only this request'}, r.request_id) : null,
    extra ? h('span', {class: 'log-extra'}, extra) : null);
}
