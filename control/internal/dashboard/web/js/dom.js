// Small DOM helpers. Text always goes in as text (never as HTML), so
// nothing a row, a log line or an error says can run as script.

// h builds an element: h('button', {class: 'primary', on: {click}}, 'Save').
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

// mount replaces el's children.
export function mount(el, ...kids) {
  el.replaceChildren();
  return append(el, kids);
}

// toast shows a short message at the bottom of the screen.
export function toast(msg, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', {id: 'toasts', role: 'status', 'aria-live': 'polite'});
    document.body.append(box);
  }
  const t = h('div', {class: `toast ${kind}`}, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 3500);
}

// errorBox renders an error the way a person reads it.
export function errorBox(err) {
  const body = err && err.body;
  const lines = body && Array.isArray(body.details) && body.details.length > 1 ? body.details : null;
  return h('div', {class: 'error', role: 'alert'},
    h('strong', {}, err && err.message ? err.message : String(err)),
    lines ? h('ul', {}, lines.map((l) => h('li', {}, l))) : null,
    body && body.hint ? h('div', {class: 'muted'}, 'Hint: ', body.hint) : null);
}

export function empty(title, text, ...actions) {
  return h('div', {class: 'empty'}, h('h3', {}, title), text ? h('p', {}, text) : null, actions);
}

// copyButton copies text to the clipboard.
export function copyButton(text, label = 'Copy') {
  const b = h('button', {type: 'button', class: 'small', on: {click: async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      const r = document.createRange();
      r.selectNodeContents(b.previousElementSibling || b);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      b.textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => { b.textContent = label; }, 2000);
  }}}, label);
  return b;
}

// modal opens a dialog; it answers a close function.
export function modal(title, ...body) {
  const d = h('dialog', {class: 'modal'},
    h('header', {}, h('h2', {}, title), h('button', {type: 'button', class: 'ghost', 'aria-label': 'Close', on: {click: () => close()}}, '✕')),
    h('div', {class: 'modal-body'}, body));
  const close = () => { d.close(); d.remove(); };
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return close;
}

export function fmtBytes(n) {
  if (n == null || n === '') return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  n = Number(n);
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function ago(t) {
  const s = (Date.now() - new Date(t).getTime()) / 1000;
  if (!isFinite(s)) return '';
  if (s < 0) return 'just now';
  if (s < 60) return `${s.toFixed(1)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// quoteIdent quotes a PostgreSQL identifier.
export function quoteIdent(s) {
  return '"' + String(s).replaceAll('"', '""') + '"';
}

export function quoteLiteral(s) {
  return "'" + String(s).replaceAll("'", "''") + "'";
}

// cell renders a value for a grid.
export function cellText(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
