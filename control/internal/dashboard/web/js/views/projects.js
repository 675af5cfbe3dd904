// Projects: the list (the default project first), create (keys shown once,
// with copy buttons) and delete with confirmation.
import {h, mount, empty, errorBox, toast, modal, copyButton} from '../dom.js';
import * as api from '../api.js';

export async function projectsView(el) {
  const list = h('div', {class: 'table-wrap'});
  const createBtn = h('button', {type: 'button', class: 'primary', id: 'new-project', on: {click: () => createDialog(load)}}, 'New project');
  mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Projects'), h('div', {class: 'grow'}), createBtn), h('section', {class: 'card'}, list));

  async function load() {
    let projects = [];
    let unavailable = null;
    try {
      projects = (await api.admin.get('/projects')).projects;
    } catch (e) {
      if (e.status === 401) return;
      unavailable = e;
    }
    const def = api.defaultProject();
    mount(list,
      unavailable ? errorBox(unavailable) : null,
      h('table', {class: 'grid', id: 'projects'},
        h('thead', {}, h('tr', {}, ['Ref', 'Name', 'Database', 'Revision', 'Created', ''].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', {},
          h('tr', {dataset: {ref: def}},
            h('td', {}, h('a', {href: `#/p/${encodeURIComponent(def)}/settings`}, h('code', {}, def))),
            h('td', {}, 'Default project ', h('span', {class: 'badge'}, 'environment')),
            h('td', {}, 'DATABASE_URL'), h('td', {}, '—'), h('td', {}, '—'), h('td', {})),
          projects.map((p) => h('tr', {dataset: {ref: p.ref}},
            h('td', {}, h('a', {href: `#/p/${encodeURIComponent(p.ref)}/tables`}, h('code', {}, p.ref))),
            h('td', {}, p.name),
            h('td', {}, p.database.name, ' ', h('span', {class: 'badge'}, p.database.mode)),
            h('td', {class: 'num'}, p.revision),
            h('td', {}, new Date(p.created_at).toLocaleDateString()),
            h('td', {class: 'actions'},
              h('a', {class: 'button small', href: `#/p/${encodeURIComponent(p.ref)}/settings`}, 'Settings'),
              h('button', {type: 'button', class: 'small danger', on: {click: () => deleteDialog(p, load)}}, 'Delete')))))),
      !projects.length && !unavailable ? empty('No project created yet', 'The default project serves the environment. Create a project to give another app its own database, keys and settings.', createBtn.cloneNode(true)) : null);
    const again = list.querySelector('.empty button');
    if (again) again.addEventListener('click', () => createDialog(load));
  }
  await load();
}

function createDialog(reload) {
  const ref = h('input', {id: 'new-ref', name: 'ref', required: true, pattern: '[a-z0-9][a-z0-9\\-]{2,39}', autocomplete: 'off', placeholder: 'shop'});
  const name = h('input', {id: 'new-name', name: 'name', placeholder: 'Shop (optional)'});
  const dburl = h('input', {id: 'new-dburl', name: 'database_url', placeholder: 'postgres://… (optional: control creates one)'});
  const status = h('div', {role: 'alert'});
  const btn = h('button', {type: 'submit', class: 'primary'}, 'Create project');
  const form = h('form', {class: 'stack', on: {submit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    btn.textContent = 'Creating… (a new database is made and migrated)';
    mount(status);
    try {
      const body = {ref: ref.value.trim()};
      if (name.value.trim()) body.name = name.value.trim();
      if (dburl.value.trim()) body.database_url = dburl.value.trim();
      const p = await api.admin.post('/projects', body);
      close();
      reload();
      showKeys(p, 'Project created');
    } catch (e) {
      mount(status, errorBox(e));
    } finally {
      btn.disabled = false;
      btn.textContent = 'Create project';
    }
  }}},
  h('label', {for: 'new-ref'}, 'Ref', h('span', {class: 'muted'}, ' — lowercase letters, digits and -, 3 to 40; the subdomain and key claim')), ref,
  h('label', {for: 'new-name'}, 'Name'), name,
  h('label', {for: 'new-dburl'}, 'Existing database URL'), dburl,
  status, btn);
  const close = modal('New project', form);
  ref.focus();
}

// showKeys shows a project's keys with copy buttons.
export function showKeys(p, title) {
  const rows = [['anon', 'anon key'], ['service_role', 'service_role key'], ['publishable', 'publishable key'], ['secret', 'secret key']];
  modal(title,
    h('p', {}, 'Copy the keys now: the service_role and secret keys bypass row-level security, keep them on servers only.'),
    h('dl', {class: 'keys', id: 'project-keys'}, rows.filter(([k]) => p.keys && p.keys[k]).map(([k, label]) => [
      h('dt', {}, label),
      h('dd', {}, h('code', {class: 'key', dataset: {key: k}}, p.keys[k]), copyButton(p.keys[k]))])),
    h('p', {class: 'muted'}, 'supabase-js: ', h('code', {}, `createClient('${location.origin}', '<anon key>')`)));
}

function deleteDialog(p, reload) {
  const confirm = h('input', {id: 'confirm-ref', autocomplete: 'off', 'aria-describedby': 'confirm-help'});
  const drop = h('input', {type: 'checkbox', id: 'drop-db', disabled: p.database.mode !== 'created'});
  const status = h('div', {role: 'alert'});
  const btn = h('button', {type: 'submit', class: 'danger', disabled: true}, 'Delete project');
  confirm.addEventListener('input', () => { btn.disabled = confirm.value !== p.ref; });
  const form = h('form', {class: 'stack', on: {submit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    try {
      await api.admin.del(`/projects/${encodeURIComponent(p.ref)}${drop.checked ? '?drop_database=true' : ''}`);
      close();
      toast(`Project ${p.ref} deleted`);
      reload();
    } catch (e) {
      mount(status, errorBox(e));
      btn.disabled = false;
    }
  }}},
  h('p', {id: 'confirm-help'}, 'Its keys stop working at once. Type ', h('code', {}, p.ref), ' to confirm.'),
  confirm,
  h('label', {class: 'check'}, drop, ` Also drop its database ${p.database.name} (cannot be undone)`),
  status, btn);
  const close = modal(`Delete ${p.ref}?`, form);
  confirm.focus();
}
