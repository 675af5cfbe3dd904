import {h} from '../dom.js';
import * as api from '../api.js';

export function loginView({message, onDone}) {
  const pw = h('input', {type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true, autofocus: true});
  const status = h('div', {class: 'form-status', role: 'alert', 'aria-live': 'assertive'}, message || '');
  const btn = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'login card', on: {submit: async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    status.textContent = '';
    status.className = 'form-status';
    try {
      await api.signIn(pw.value);
      onDone();
    } catch (e) {
      status.className = 'form-status error-text';
      if (e.status === 401) status.textContent = 'Wrong password. Check ADMIN_PASSWORD (madbase dev prints it) and try again.';
      else if (e.status === 429) status.textContent = `Too many wrong passwords from this address: wait ${e.body && e.body.retry_after ? e.body.retry_after + ' s' : 'a little'} and try again.`;
      else status.textContent = e.message;
      pw.select();
    } finally {
      btn.disabled = false;
    }
  }}},
  h('div', {class: 'login-brand'}, h('img', {src: 'favicon.svg', alt: '', width: 40, height: 40}), h('h1', {}, 'MadBase')),
  h('p', {class: 'muted'}, 'Sign in with the admin password.'),
  h('input', {type: 'text', name: 'username', autocomplete: 'username', value: 'admin', hidden: true, 'aria-hidden': 'true', tabindex: '-1'}),
  h('label', {for: 'password'}, 'Admin password'), pw, status, btn);
  setTimeout(() => pw.focus(), 0);
  return form;
}
