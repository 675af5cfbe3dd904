// Auth users through /auth/v1/admin with the service_role key: list,
// search, create, invite, delete, and sign a user out everywhere (their
// sessions deleted through the SQL endpoint: auth has no admin route for it).
import {h, mount, errorBox, empty, toast, modal, ago, quoteLiteral} from '../dom.js';
import * as api from '../api.js';

const PER_PAGE = 50;

export async function usersView(el, ref) {
  const search = h('input', {type: 'search', id: 'user-search', placeholder: 'Search by email, phone or id', 'aria-label': 'Search users'});
  const box = h('div', {class: 'table-wrap', id: 'users'});
  const pager = h('div', {class: 'toolbar pager'});
  let page = 1;
  let users = [];
  mount(el,
    h('header', {class: 'page-head'}, h('h1', {}, 'Users'), h('div', {class: 'grow'}),
      h('button', {type: 'button', class: 'primary', id: 'create-user', on: {click: () => createDialog(false)}}, 'Create user'),
      h('button', {type: 'button', id: 'invite-user', on: {click: () => createDialog(true)}}, 'Invite')),
    h('section', {class: 'card'}, h('div', {class: 'toolbar'}, search), box, pager));

  async function load() {
    try {
      const {data, res} = await api.pub(ref, 'GET', `/auth/v1/admin/users?page=${page}&per_page=${PER_PAGE}`);
      users = data.users || [];
      const total = Number(res.headers.get('X-Total-Count'));
      render();
      mount(pager,
        h('span', {class: 'muted'}, isFinite(total) && total ? `page ${page} · ${total} users` : `page ${page}`),
        h('button', {type: 'button', class: 'small', disabled: page === 1, on: {click: () => { page--; load(); }}}, '← Previous'),
        h('button', {type: 'button', class: 'small', disabled: users.length < PER_PAGE, on: {click: () => { page++; load(); }}}, 'Next →'));
    } catch (e) {
      mount(box, errorBox(e));
    }
  }

  function render() {
    const q = search.value.trim().toLowerCase();
    const shown = q ? users.filter((u) => [u.email, u.phone, u.id].some((v) => v && v.toLowerCase().includes(q))) : users;
    if (!shown.length) {
      mount(box, q ? empty('No user matches', `Nothing on this page matches “${search.value}”.`) : empty('No user yet', 'Users appear here when they sign up, or when you create or invite one.'));
      return;
    }
    mount(box, h('table', {class: 'grid'},
      h('thead', {}, h('tr', {}, ['Email / phone', 'Id', 'Provider', 'Confirmed', 'Last sign-in', 'Created', ''].map((c) => h('th', {scope: 'col'}, c)))),
      h('tbody', {}, shown.map((u) => h('tr', {dataset: {email: u.email || ''}},
        h('td', {}, u.email || u.phone || h('span', {class: 'muted'}, 'anonymous')),
        h('td', {}, h('code', {class: 'small-text'}, u.id)),
        h('td', {}, (u.app_metadata && u.app_metadata.provider) || ''),
        h('td', {}, u.email_confirmed_at || u.phone_confirmed_at ? h('span', {class: 'badge ok'}, 'yes') : h('span', {class: 'badge warn'}, 'no')),
        h('td', {}, u.last_sign_in_at ? ago(u.last_sign_in_at) : 'never'),
        h('td', {}, new Date(u.created_at).toLocaleDateString()),
        h('td', {class: 'actions'},
          h('button', {type: 'button', class: 'small', on: {click: () => signOutEverywhere(u)}}, 'Sign out everywhere'),
          h('button', {type: 'button', class: 'small danger', on: {click: () => remove(u)}}, 'Delete')))))));
  }

  async function signOutEverywhere(u) {
    if (!window.confirm(`End every session of ${u.email || u.id}? Their refresh tokens stop working; access tokens run out on their own.`)) return;
    try {
      await api.sql(ref, `delete from auth.sessions where user_id = ${quoteLiteral(u.id)}::uuid`);
      toast('Signed out everywhere');
    } catch (e) { toast(e.message, 'error'); }
  }

  async function remove(u) {
    if (!window.confirm(`Delete ${u.email || u.id}? This cannot be undone.`)) return;
    try {
      await api.pub(ref, 'DELETE', `/auth/v1/admin/users/${encodeURIComponent(u.id)}`);
      toast('User deleted');
      load();
    } catch (e) { toast(e.message, 'error'); }
  }

  function createDialog(invite) {
    const email = h('input', {id: 'user-email', type: 'email', required: true, autocomplete: 'off'});
    const password = h('input', {id: 'user-password', type: 'password', autocomplete: 'new-password'});
    const confirm = h('input', {type: 'checkbox', id: 'user-confirm', checked: true});
    const status = h('div', {role: 'alert'});
    const form = h('form', {class: 'stack', id: 'user-form', on: {submit: async (ev) => {
      ev.preventDefault();
      try {
        if (invite) await api.pub(ref, 'POST', '/auth/v1/invite', {body: {email: email.value.trim()}});
        else {
          const body = {email: email.value.trim(), email_confirm: confirm.checked};
          if (password.value) body.password = password.value;
          await api.pub(ref, 'POST', '/auth/v1/admin/users', {body});
        }
        close();
        toast(invite ? `Invitation sent to ${email.value}` : `User ${email.value} created`);
        load();
      } catch (e) {
        mount(status, errorBox(e));
      }
    }}},
    h('label', {for: 'user-email'}, 'Email'), email,
    invite ? h('p', {class: 'help'}, 'They get a mail with a link to set their password (madbase dev: see the outbox).') : [
      h('label', {for: 'user-password'}, 'Password'), password,
      h('label', {class: 'check'}, confirm, ' Email confirmed (no confirmation mail)')],
    status, h('button', {type: 'submit', class: 'primary'}, invite ? 'Send invitation' : 'Create user'));
    const close = modal(invite ? 'Invite a user' : 'Create a user', form);
    email.focus();
  }

  search.addEventListener('input', render);
  await load();
}
