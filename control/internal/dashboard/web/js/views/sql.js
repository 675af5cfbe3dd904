// SQL editor: runs through POST /admin/v1/projects/<ref>/sql as the
// database owner; results in a grid, errors with their position, a history
// kept in this browser.
import {h, mount, errorBox, empty, cellText} from '../dom.js';
import * as api from '../api.js';

const HISTORY = 50;
const histKey = (ref) => `madbase.sql.history.${ref}`;

function history(ref) {
  try { return JSON.parse(localStorage.getItem(histKey(ref))) || []; } catch { return []; }
}

function remember(ref, query) {
  const list = history(ref).filter((q) => q !== query);
  list.unshift(query);
  localStorage.setItem(histKey(ref), JSON.stringify(list.slice(0, HISTORY)));
}

// isDDL tells whether a query may change the schema, after which the
// workers' schema caches are told to reload.
const isDDL = (q) => /\b(create|alter|drop|comment|grant|revoke|rename)\b/i.test(q);

export async function sqlView(el, ref) {
  const editor = h('textarea', {id: 'sql-input', class: 'code', spellcheck: 'false', rows: 10, 'aria-label': 'SQL',
    placeholder: 'select * from pg_tables where schemaname = \'public\';'});
  editor.value = sessionStorage.getItem(`madbase.sql.draft.${ref}`) || '';
  const out = h('div', {id: 'sql-result', class: 'result', 'aria-live': 'polite'});
  const hist = h('ol', {class: 'history', id: 'sql-history'});
  const run = h('button', {type: 'button', class: 'primary', id: 'sql-run'}, 'Run ', h('kbd', {}, 'Ctrl ↵'));
  const meta = h('span', {class: 'muted small-text'});

  const renderHistory = () => mount(hist, history(ref).map((q) =>
    h('li', {}, h('button', {type: 'button', class: 'link', title: q, on: {click: () => { editor.value = q; editor.focus(); }}}, q.replace(/\s+/g, ' ').slice(0, 120)))));

  async function exec() {
    const q = editor.value;
    if (!q.trim()) { editor.focus(); return; }
    run.disabled = true;
    meta.textContent = 'running…';
    const t0 = performance.now();
    try {
      const res = await api.sql(ref, q);
      meta.textContent = `${res.command || 'OK'} · ${res.rows ? res.rows.length : 0} row(s)${res.truncated ? ' (truncated)' : ''} · ${Math.round(performance.now() - t0)} ms`;
      mount(out, grid(res));
      remember(ref, q);
      renderHistory();
      if (isDDL(q)) api.sql(ref, "notify pgrst, 'reload schema'").catch(() => {});
    } catch (e) {
      meta.textContent = '';
      mount(out, sqlError(e, q, editor));
    } finally {
      run.disabled = false;
    }
  }
  run.addEventListener('click', exec);
  editor.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 'Enter') { ev.preventDefault(); exec(); }
  });
  editor.addEventListener('input', () => sessionStorage.setItem(`madbase.sql.draft.${ref}`, editor.value));
  renderHistory();
  mount(el,
    h('header', {class: 'page-head'}, h('h1', {}, 'SQL editor'), h('span', {class: 'muted'}, 'runs as the database owner')),
    h('div', {class: 'sql-layout'},
      h('section', {class: 'card'}, editor, h('div', {class: 'toolbar'}, run, meta), out),
      h('aside', {class: 'card'}, h('h2', {}, 'History'), hist)));
  editor.focus();
}

function grid(res) {
  if (!res.columns || !res.columns.length) return h('div', {class: 'ok-text'}, `${res.command || 'Done'}: no rows returned.`);
  if (!res.rows.length) return empty('No rows', `The query answered the columns ${res.columns.join(', ')} and no row.`);
  return h('div', {class: 'table-wrap'}, h('table', {class: 'grid'},
    h('thead', {}, h('tr', {}, res.columns.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, res.rows.map((r) => h('tr', {}, res.columns.map((c) => {
      const v = r[c];
      return h('td', {class: v === null ? 'null' : typeof v === 'number' ? 'num' : null}, cellText(v));
    }))))));
}

// sqlError shows PostgreSQL's error with the line and a caret under the
// character its position names.
function sqlError(e, q, editor) {
  const b = e.body || {};
  if (!b.sqlstate) return errorBox(e);
  let where = null;
  if (b.position) {
    const before = q.slice(0, b.position - 1);
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    const text = q.split('\n')[line - 1];
    where = h('div', {},
      h('div', {class: 'muted'}, `at line ${line}, column ${col}`),
      h('pre', {class: 'caret'}, text + '\n' + ' '.repeat(Math.max(0, col - 1)) + '^'));
    editor.focus();
    editor.setSelectionRange(b.position - 1, b.position);
  }
  return h('div', {class: 'error', role: 'alert', id: 'sql-error'},
    h('strong', {}, b.error), h('span', {class: 'muted'}, `  SQLSTATE ${b.sqlstate}`),
    where,
    b.detail ? h('div', {}, 'Detail: ', b.detail) : null,
    b.hint ? h('div', {}, 'Hint: ', b.hint) : null);
}
