// Table editor: tables from the catalog (through the SQL endpoint), rows
// through /rest/v1 with the service_role key (paging, sort, filter, insert,
// edit, delete), row-level security and policies per table.
import {h, mount, errorBox, empty, toast, modal, cellText, quoteIdent, quoteLiteral} from '../dom.js';
import * as api from '../api.js';

const PAGE = 50;

const tablesSQL = `select n.nspname as schema, c.relname as name, c.relrowsecurity as rls,
  greatest(c.reltuples, 0)::bigint as estimate
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', 'auth', 'storage', 'realtime', 'extensions', 'madbase', 'control', 'madbase_migrations')
  and n.nspname not like 'pg\\_%'
order by 1, 2`;

export async function tablesView(el, ref) {
  const side = h('nav', {class: 'card table-list', 'aria-label': 'Tables'});
  const body = h('div', {class: 'table-main'});
  mount(el, h('header', {class: 'page-head'}, h('h1', {}, 'Table editor')), h('div', {class: 'tables-layout'}, side, body));
  let tables;
  try {
    tables = (await api.sql(ref, tablesSQL)).rows;
  } catch (e) {
    mount(body, errorBox(e.status === 404 && ref === api.defaultProject()
      ? new Error('The default project has no SQL endpoint in the admin API: create a project to use the table editor.') : e));
    return;
  }
  if (!tables.length) {
    mount(body, empty('No table yet', 'Create one in the SQL editor, e.g. create table notes (id bigint generated always as identity primary key, body text);',
      h('a', {class: 'button primary', href: `#/p/${encodeURIComponent(ref)}/sql`}, 'Open the SQL editor')));
    return;
  }
  const want = new URLSearchParams(location.hash.split('?')[1] || '').get('table');
  const open = (t) => {
    side.querySelectorAll('a').forEach((a) => a.classList.toggle('active', a.dataset.table === `${t.schema}.${t.name}`));
    tableScreen(body, ref, t);
  };
  mount(side, h('ul', {}, tables.map((t) => h('li', {},
    h('a', {href: '#', dataset: {table: `${t.schema}.${t.name}`}, on: {click: (ev) => { ev.preventDefault(); open(t); }}},
      h('span', {class: 'name'}, t.schema === 'public' ? '' : h('span', {class: 'muted'}, t.schema + '.'), t.name),
      t.rls ? h('span', {class: 'badge ok', title: 'row-level security on'}, 'RLS') : h('span', {class: 'badge warn', title: 'row-level security off'}, 'no RLS'))))));
  open(tables.find((t) => `${t.schema}.${t.name}` === want || t.name === want) || tables[0]);
}

async function columnsOf(ref, t) {
  const q = `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, not a.attnotnull as nullable,
  a.attidentity <> '' or a.attgenerated <> '' or pg_get_expr(d.adbin, d.adrelid) is not null as has_default,
  coalesce(a.attnum = any(i.indkey), false) as pk
from pg_attribute a
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_index i on i.indrelid = a.attrelid and i.indisprimary
where a.attrelid = ${quoteLiteral(quoteIdent(t.schema) + '.' + quoteIdent(t.name))}::regclass and a.attnum > 0 and not a.attisdropped
order by a.attnum`;
  return (await api.sql(ref, q)).rows;
}

function tableScreen(el, ref, t) {
  const state = {offset: 0, order: null, asc: true, filters: []};
  const gridBox = h('div', {class: 'table-wrap', id: 'rows'});
  const pager = h('div', {class: 'toolbar pager'});
  const rlsBox = h('section', {class: 'card', id: 'rls'});
  const fcol = h('select', {'aria-label': 'Filter column', id: 'filter-col'});
  const fop = h('select', {'aria-label': 'Operator', id: 'filter-op'}, ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'is'].map((o) => h('option', {value: o}, o)));
  const fval = h('input', {'aria-label': 'Value', id: 'filter-val', placeholder: 'value (like: use *)'});
  const filterForm = h('form', {class: 'toolbar', on: {submit: (ev) => {
    ev.preventDefault();
    state.filters = fval.value === '' ? [] : [[fcol.value, fop.value, fval.value]];
    state.offset = 0;
    load();
  }}}, h('span', {class: 'muted'}, 'Filter'), fcol, fop, fval, h('button', {type: 'submit', class: 'small'}, 'Apply'),
  h('button', {type: 'button', class: 'small ghost', on: {click: () => { fval.value = ''; state.filters = []; load(); }}}, 'Clear'));
  let cols = [];
  const profile = t.schema === 'public' ? {} : {'Accept-Profile': t.schema, 'Content-Profile': t.schema};
  const path = `/rest/v1/${encodeURIComponent(t.name)}`;

  mount(el,
    h('section', {class: 'card'},
      h('div', {class: 'page-head'}, h('h2', {}, t.schema === 'public' ? t.name : `${t.schema}.${t.name}`), h('div', {class: 'grow'}),
        h('button', {type: 'button', class: 'primary', id: 'insert-row', on: {click: () => rowDialog(null)}}, 'Insert row')),
      filterForm, gridBox, pager),
    rlsBox);

  const pkCols = () => cols.filter((c) => c.pk).map((c) => c.name);
  const match = (row) => {
    const pk = pkCols();
    const keys = pk.length ? pk : cols.map((c) => c.name);
    const q = new URLSearchParams();
    for (const k of keys) q.append(k, row[k] === null ? 'is.null' : `eq.${row[k]}`);
    return q;
  };

  async function load() {
    const q = new URLSearchParams({select: '*', limit: String(PAGE), offset: String(state.offset)});
    if (state.order) q.set('order', `${state.order}.${state.asc ? 'asc' : 'desc'}`);
    for (const [c, op, v] of state.filters) q.append(c, `${op}.${v}`);
    try {
      const {data, res} = await api.pub(ref, 'GET', `${path}?${q}`, {headers: {...profile, Prefer: 'count=exact'}});
      const range = res.headers.get('Content-Range') || '';
      const total = Number(range.split('/')[1]);
      renderRows(data, isFinite(total) ? total : null);
    } catch (e) {
      mount(gridBox, errorBox(e.status === 404
        ? new Error(`REST does not see ${t.name} yet (${e.message}). If you just created it, its schema cache reloads in a moment; is its schema in DB_SCHEMAS?`) : e));
      mount(pager);
    }
  }

  function renderRows(rows, total) {
    if (!rows.length) {
      mount(gridBox, empty(state.filters.length ? 'No row matches the filter' : 'This table is empty', state.filters.length ? null : 'Insert a row to start.'));
    } else {
      mount(gridBox, h('table', {class: 'grid rows'},
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', {scope: 'col', 'aria-sort': state.order === c.name ? (state.asc ? 'ascending' : 'descending') : null},
          h('button', {type: 'button', class: 'sort', on: {click: () => {
            state.asc = state.order === c.name ? !state.asc : true;
            state.order = c.name;
            load();
          }}}, c.name, c.pk ? h('span', {class: 'badge pk', title: 'primary key'}, 'PK') : '', state.order === c.name ? (state.asc ? ' ▲' : ' ▼') : '', h('div', {class: 'coltype'}, c.type)))), h('th', {}, ''))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          cols.map((c) => h('td', {class: r[c.name] === null ? 'null' : null}, cellText(r[c.name]))),
          h('td', {class: 'actions'},
            h('button', {type: 'button', class: 'small', on: {click: () => rowDialog(r)}}, 'Edit'),
            h('button', {type: 'button', class: 'small danger', on: {click: () => deleteRow(r)}}, 'Delete')))))));
    }
    const to = state.offset + rows.length;
    mount(pager,
      h('span', {class: 'muted'}, total == null ? `${state.offset + 1}–${to}` : `${rows.length ? state.offset + 1 : 0}–${to} of ${total}`),
      h('button', {type: 'button', class: 'small', disabled: state.offset === 0, on: {click: () => { state.offset = Math.max(0, state.offset - PAGE); load(); }}}, '← Previous'),
      h('button', {type: 'button', class: 'small', disabled: total != null ? to >= total : rows.length < PAGE, on: {click: () => { state.offset += PAGE; load(); }}}, 'Next →'));
  }

  function rowDialog(row) {
    const inputs = cols.map((c) => {
      const v = row ? row[c.name] : undefined;
      const input = h('input', {id: `col-${c.name}`, name: c.name, value: v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v),
        placeholder: !row && c.has_default ? 'default' : c.nullable ? 'NULL when empty' : '', disabled: row && c.pk});
      return [c, input];
    });
    const status = h('div', {role: 'alert'});
    const form = h('form', {class: 'stack', id: 'row-form', on: {submit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [c, input] of inputs) {
        if (input.disabled) continue;
        let v = input.value;
        if (v === '') {
          if (!row && c.has_default) continue;
          if (c.nullable) { body[c.name] = null; continue; }
        }
        if (/json/.test(c.type) && v !== '') { try { v = JSON.parse(v); } catch { /* sent as text */ } }
        body[c.name] = v;
      }
      try {
        if (row) await api.pub(ref, 'PATCH', `${path}?${match(row)}`, {body, headers: {...profile, Prefer: 'return=minimal'}});
        else await api.pub(ref, 'POST', path, {body, headers: {...profile, Prefer: 'return=minimal'}});
        close();
        toast(row ? 'Row saved' : 'Row inserted');
        load();
      } catch (e) {
        mount(status, errorBox(e));
      }
    }}},
    inputs.map(([c, input]) => h('div', {class: 'field'}, h('label', {for: input.id}, h('code', {}, c.name), ' ', h('span', {class: 'muted'}, c.type, c.pk ? ' · primary key' : '')), input)),
    status, h('button', {type: 'submit', class: 'primary'}, row ? 'Save row' : 'Insert row'));
    const close = modal(row ? 'Edit row' : `Insert into ${t.name}`, form);
    const first = inputs.find(([, i]) => !i.disabled && !i.placeholder.startsWith('default'));
    if (first) first[1].focus();
  }

  async function deleteRow(row) {
    if (!window.confirm('Delete this row?')) return;
    try {
      await api.pub(ref, 'DELETE', `${path}?${match(row)}`, {headers: profile});
      toast('Row deleted');
      load();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  async function loadRLS() {
    const qualified = quoteIdent(t.schema) + '.' + quoteIdent(t.name);
    try {
      const [{rows: [info]}, {rows: policies}] = await Promise.all([
        api.sql(ref, `select relrowsecurity as rls from pg_class where oid = ${quoteLiteral(qualified)}::regclass`),
        api.sql(ref, `select policyname, cmd, roles::text as roles, permissive, qual, with_check from pg_policies where schemaname = ${quoteLiteral(t.schema)} and tablename = ${quoteLiteral(t.name)} order by policyname`)]);
      const toggle = h('button', {type: 'button', class: info.rls ? 'small' : 'small primary', id: 'rls-toggle', on: {click: async () => {
        try {
          await api.sql(ref, `alter table ${qualified} ${info.rls ? 'disable' : 'enable'} row level security`);
          toast(`Row-level security ${info.rls ? 'off' : 'on'} for ${t.name}`);
          loadRLS();
        } catch (e) { toast(e.message, 'error'); }
      }}}, info.rls ? 'Disable RLS' : 'Enable RLS');
      mount(rlsBox, h('div', {class: 'page-head'}, h('h2', {}, 'Row-level security'),
        info.rls ? h('span', {class: 'badge ok'}, 'on') : h('span', {class: 'badge warn'}, 'off'), h('div', {class: 'grow'}), toggle),
      info.rls ? null : h('p', {class: 'help'}, 'With RLS off, anyone holding the anon key can read and change every row through the REST API.'),
      policies.length ? h('table', {class: 'grid'},
        h('thead', {}, h('tr', {}, ['Policy', 'Command', 'Roles', 'Using', 'With check'].map((c) => h('th', {scope: 'col'}, c)))),
        h('tbody', {}, policies.map((p) => h('tr', {}, h('td', {}, p.policyname, p.permissive === 'RESTRICTIVE' ? ' (restrictive)' : ''), h('td', {}, p.cmd), h('td', {}, p.roles),
          h('td', {}, h('code', {}, p.qual || '')), h('td', {}, h('code', {}, p.with_check || ''))))))
        : h('p', {class: 'muted'}, info.rls ? 'No policy: with RLS on and no policy, only the service role sees rows. Add one in the SQL editor (create policy …).' : 'No policy.'));
    } catch (e) {
      mount(rlsBox, errorBox(e));
    }
  }

  (async () => {
    try {
      cols = await columnsOf(ref, t);
    } catch (e) {
      mount(gridBox, errorBox(e));
      return;
    }
    mount(fcol, cols.map((c) => h('option', {value: c.name}, c.name)));
    load();
    loadRLS();
  })();
}
