// Settings of one project: a form over PATCH /admin/v1/projects/<ref>/config
// (problems shown at their field), the revision each worker runs (live), the
// keys and their rotation. The default project is the environment's: it only
// takes a pasted service_role key so the data tools can reach it.
import {h, mount, errorBox, toast} from '../dom.js';
import * as api from '../api.js';
import {showKeys} from './projects.js';

// fields are the settings the form offers; any other variable of the
// configuration table can be set under "Other setting".
const fields = [
  {section: 'Auth', name: 'AUTH_DISABLE_SIGNUP', type: 'bool', help: 'Refuse new users on the public API (admins can still create and invite them).'},
  {section: 'Auth', name: 'AUTH_AUTOCONFIRM', type: 'bool', help: 'Sign up email users as confirmed without a confirmation mail.'},
  {section: 'Auth', name: 'AUTH_PASSWORD_MIN_LENGTH', type: 'number', help: 'Shortest password accepted (environment default 6).'},
  {section: 'Auth', name: 'SITE_URL', type: 'text', help: 'The app\'s URL: where email links lead unless redirect_to is allowed.'},
  {section: 'Auth', name: 'JWT_EXP', type: 'text', help: 'Access token lifetime in seconds (at least 120).'},
  {section: 'REST', name: 'DB_MAX_ROWS', type: 'number', help: 'Most rows one REST read returns; 0 means no limit (environment default 1000).'},
  {section: 'REST', name: 'DB_SCHEMAS', type: 'text', help: 'Schemas the REST API exposes, comma-separated; the first is the default.'},
  {section: 'HTTP', name: 'ALLOWED_ORIGINS', type: 'text', help: 'CORS origins allowed by browsers, comma-separated; * allows any.'},
  {section: 'Realtime', name: 'REALTIME_MAX_CHANNELS_PER_SOCKET', type: 'number', help: 'Most channels one realtime WebSocket may join.'},
  {section: 'Realtime', name: 'REALTIME_MAX_EVENTS_PER_SECOND', type: 'number', help: 'Most broadcast and presence messages per second one WebSocket may send.'},
];

export async function settingsView(el, ref) {
  if (ref === api.defaultProject()) return defaultSettings(el, ref);
  let p;
  try {
    p = await api.admin.get(`/projects/${encodeURIComponent(ref)}`);
  } catch (e) {
    mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Settings')), errorBox(e.status === 404 ? new Error(`No project ${ref}: it may have been deleted.`) : e));
    return;
  }
  const workers = h('div', {class: 'table-wrap', id: 'revisions'});
  const form = settingsForm(ref, p, (np) => { p = np; head.replaceWith(head = header(p)); poll(); });
  let head = header(p);
  mount(el, head,
    h('div', {class: 'columns'},
      h('section', {class: 'card'}, h('h2', {}, 'Settings'), form),
      h('div', {},
        h('section', {class: 'card'}, h('h2', {}, 'Configuration on the workers'), workers),
        keysCard(ref, p))));

  let timer = null;
  let stopped = false;
  async function poll() {
    clearTimeout(timer);
    try {
      const cur = await api.admin.get(`/projects/${encodeURIComponent(ref)}`);
      renderWorkers(workers, cur);
    } catch (e) {
      if (e.status !== 401) mount(workers, errorBox(e));
    }
    if (!stopped) timer = setTimeout(poll, 2000);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}

function header(p) {
  return h('header', {class: 'page-head'}, h('h1', {}, p.name || p.ref), h('code', {class: 'muted'}, p.ref),
    h('span', {class: 'badge', id: 'revision'}, `revision ${p.revision}`));
}

function renderWorkers(box, p) {
  if (!p.workers.length) {
    mount(box, h('p', {class: 'muted'}, 'No live worker.'));
    return;
  }
  mount(box, h('table', {class: 'grid'},
    h('thead', {}, h('tr', {}, ['Worker', 'Revision', 'Status'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, p.workers.map((w) => h('tr', {dataset: {worker: w.id, status: w.status}},
      h('td', {}, h('code', {}, w.id)),
      h('td', {class: 'num'}, w.revision, ' / ', p.revision),
      h('td', {}, h('span', {class: `badge ${w.status === 'current' ? 'ok' : w.status === 'refused' ? 'bad' : 'warn'}`}, w.status),
        w.reason ? h('div', {class: 'error-text small-text'}, w.reason) : null))))));
}

function settingsForm(ref, p, onSaved) {
  const inputs = new Map();
  const errors = new Map();
  const row = (f) => {
    const id = `set-${f.name}`;
    const cur = p.settings[f.name] ?? '';
    let input;
    if (f.type === 'bool') {
      input = h('select', {id, name: f.name}, [['', 'default (environment)'], ['true', 'true'], ['false', 'false']].map(([v, l]) => h('option', {value: v, selected: v === cur}, l)));
    } else {
      input = h('input', {id, name: f.name, type: f.type === 'number' ? 'text' : 'text', inputmode: f.type === 'number' ? 'numeric' : null, value: cur, placeholder: 'default (environment)'});
    }
    const err = h('div', {class: 'field-error', id: `${id}-error`, role: 'alert'});
    input.setAttribute('aria-describedby', `${id}-help ${id}-error`);
    inputs.set(f.name, input);
    errors.set(f.name, err);
    return h('div', {class: 'field'}, h('label', {for: id}, h('code', {}, f.name)), input, h('div', {class: 'help', id: `${id}-help`}, f.help), err);
  };
  const extraName = h('input', {id: 'set-extra-name', placeholder: 'VARIABLE_NAME', 'aria-label': 'Other setting name', autocapitalize: 'characters'});
  const extraValue = h('input', {id: 'set-extra-value', placeholder: 'value (empty removes it)', 'aria-label': 'Other setting value'});
  const extraErr = h('div', {class: 'field-error', role: 'alert'});
  const general = h('div', {role: 'alert'});
  const others = Object.keys(p.settings).filter((k) => !fields.some((f) => f.name === k));
  const secret = p.secret_settings || [];
  const btn = h('button', {type: 'submit', class: 'primary', id: 'save-settings'}, 'Save settings');

  const sections = [...new Set(fields.map((f) => f.section))];
  return h('form', {class: 'stack', id: 'settings-form', novalidate: true, on: {submit: async (ev) => {
    ev.preventDefault();
    for (const e of errors.values()) e.textContent = '';
    extraErr.textContent = '';
    mount(general);
    const change = {};
    for (const f of fields) {
      const v = inputs.get(f.name).value.trim();
      if (v !== (p.settings[f.name] ?? '')) change[f.name] = v === '' ? null : v;
    }
    const xn = extraName.value.trim().toUpperCase();
    if (xn) change[xn] = extraValue.value === '' ? null : extraValue.value;
    if (!Object.keys(change).length) { toast('Nothing changed'); return; }
    btn.disabled = true;
    try {
      const np = await api.admin.patch(`/projects/${encodeURIComponent(ref)}/config`, change);
      toast(`Saved: revision ${np.revision}; the workers apply it within a second`);
      extraName.value = '';
      extraValue.value = '';
      onSaved(np);
    } catch (e) {
      // A 400 names every problem, "NAME: what is wrong", joined by "; ".
      const problems = e.status !== 400 ? [] : (e.body && Array.isArray(e.body.details) ? e.body.details : String(e.message).split('; '));
      const rest = [];
      for (const pr of problems) {
        const name = String(pr).split(':')[0].trim();
        if (errors.has(name)) errors.get(name).textContent = pr.slice(name.length + 1).trim();
        else if (name === xn) extraErr.textContent = pr;
        else rest.push(pr);
      }
      if (!problems.length || rest.length) mount(general, errorBox(rest.length ? {message: rest.join('; ')} : e));
      const first = [...errors.entries()].find(([, v]) => v.textContent);
      if (first) inputs.get(first[0]).focus();
    } finally {
      btn.disabled = false;
    }
  }}},
  sections.map((s) => h('fieldset', {}, h('legend', {}, s), fields.filter((f) => f.section === s).map(row))),
  h('fieldset', {}, h('legend', {}, 'Other setting'),
    h('p', {class: 'help'}, 'Any project-level variable of the configuration table (docs/configuration.md).'),
    others.length ? h('p', {class: 'help'}, 'Also set: ', others.map((k) => h('code', {}, `${k}=${p.settings[k]} `))) : null,
    secret.length ? h('p', {class: 'help'}, 'Secret settings (write-only): ', secret.map((k) => h('code', {}, k + ' '))) : null,
    h('div', {class: 'inline'}, extraName, extraValue), extraErr),
  general, btn);
}

function keysCard(ref, p) {
  const grace = h('select', {id: 'rotate-grace', 'aria-label': 'Old keys keep working for'},
    [['24h', '24 hours'], ['1h', '1 hour'], ['0s', 'no time: retire at once']].map(([v, l]) => h('option', {value: v}, l)));
  const status = h('div', {role: 'alert'});
  const show = h('button', {type: 'button', class: 'small', on: {click: async () => {
    showKeys(await api.admin.get(`/projects/${encodeURIComponent(ref)}`), `Keys of ${ref}`);
  }}}, 'Show keys');
  const rotate = h('button', {type: 'button', class: 'small danger', on: {click: async () => {
    if (!window.confirm(`Rotate the keys of ${ref}? Apps must switch to the new keys before the grace period ends.`)) return;
    try {
      const np = await api.admin.post(`/projects/${encodeURIComponent(ref)}/keys/rotate`, {grace: grace.value});
      api.forgetKeys(ref);
      showKeys(np, 'New keys');
    } catch (e) {
      mount(status, errorBox(e));
    }
  }}}, 'Rotate keys');
  return h('section', {class: 'card'}, h('h2', {}, 'API keys'),
    p.keys_retiring_until ? h('p', {class: 'help'}, 'Old keys keep working until ', new Date(p.keys_retiring_until).toLocaleString(), '.') : null,
    h('div', {class: 'inline'}, show, h('label', {for: 'rotate-grace'}, 'Old keys work for'), grace, rotate), status);
}

function defaultSettings(el, ref) {
  const key = h('input', {id: 'default-key', type: 'password', autocomplete: 'off', placeholder: 'eyJ… or sb_secret_…'});
  mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Default project'), h('code', {class: 'muted'}, ref)),
    h('section', {class: 'card'},
      h('p', {}, 'The default project is the environment itself: its settings are the environment variables of the workers (DATABASE_URL, JWT_SECRET, …), changed by restarting them. Create a project to change settings live.'),
      h('p', {}, 'The admin API holds no key for it. To browse its tables, users and files here, paste its service_role key (', h('code', {}, 'madbase keys'), ' prints it). It stays in this tab only.'),
      h('form', {class: 'inline', on: {submit: (ev) => {
        ev.preventDefault();
        api.setPastedKey(ref, key.value.trim());
        toast('Key kept for this tab');
        location.hash = `#/p/${encodeURIComponent(ref)}/users`;
      }}}, h('label', {for: 'default-key'}, 'service_role key'), key, h('button', {type: 'submit', class: 'primary'}, 'Use key'))));
}

