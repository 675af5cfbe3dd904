// The dashboard's shell: sign-in, the navigation and a hash router
// (#/platform, #/projects, #/p/<ref>/<tool>), so a reload keeps the screen.
import {h, mount, errorBox} from './dom.js';
import * as api from './api.js';
import {loginView} from './views/login.js';
import {platformView} from './views/platform.js';
import {projectsView} from './views/projects.js';
import {settingsView} from './views/settings.js';
import {sqlView} from './views/sql.js';
import {tablesView} from './views/tables.js';
import {usersView} from './views/users.js';
import {storageView} from './views/storage.js';
import {realtimeView} from './views/realtime.js';

const root = document.getElementById('app');
let cleanup = null; // the current screen's stop function (polls, streams)

const tools = [
  ['tables', 'Table editor', tablesView],
  ['sql', 'SQL editor', sqlView],
  ['users', 'Users', usersView],
  ['storage', 'Storage', storageView],
  ['realtime', 'Realtime', realtimeView],
  ['settings', 'Settings', settingsView],
];

function stop() {
  if (cleanup) {
    try { cleanup(); } catch { /* a screen going away */ }
    cleanup = null;
  }
}

function showLogin(message) {
  stop();
  document.title = 'Sign in · MadBase';
  mount(root, loginView({message, onDone: () => route()}));
  root.className = 'login-page';
}

api.setSignedOutHandler(() => showLogin('Your session has ended: sign in again.'));

function navLink(href, label, active) {
  return h('a', {href, class: active ? 'active' : null, 'aria-current': active ? 'page' : null}, label);
}

function shell(path, content, ref) {
  const top = path[0] || 'platform';
  const nav = h('nav', {class: 'side', 'aria-label': 'Main'},
    h('a', {href: '#/platform', class: 'brand'}, h('img', {src: 'favicon.svg', alt: '', width: 22, height: 22}), 'MadBase'),
    navLink('#/platform', 'Platform', top === 'platform'),
    navLink('#/projects', 'Projects', top === 'projects' || top === 'p'),
    ref ? h('div', {class: 'side-project'},
      h('div', {class: 'side-label'}, 'Project ', h('code', {}, ref)),
      tools.map(([id, label]) => navLink(`#/p/${encodeURIComponent(ref)}/${id}`, label, path[2] === id))) : null,
    h('div', {class: 'grow'}),
    h('button', {type: 'button', class: 'ghost signout', on: {click: async () => {
      try { await api.signOut(); } finally { showLogin('Signed out.'); }
    }}}, 'Sign out'));
  const main = h('main', {id: 'main', tabindex: '-1'}, content);
  root.className = 'app';
  mount(root, h('a', {href: '#main', class: 'skip'}, 'Skip to content'), nav, main);
  return main;
}

async function route() {
  stop();
  const path = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const screen = h('div', {class: 'screen'});
  let ref = null;
  try {
    if (path[0] === 'p' && path[1]) {
      ref = path[1];
      const tool = tools.find(([id]) => id === path[2]) || tools[0];
      document.title = `${tool[1]} · ${ref} · MadBase`;
      shell(['p', ref, tool[0]], screen, ref);
      cleanup = await tool[2](screen, ref);
    } else if (path[0] === 'projects') {
      document.title = 'Projects · MadBase';
      shell(path, screen);
      cleanup = await projectsView(screen);
    } else {
      document.title = 'Platform · MadBase';
      shell(['platform'], screen);
      cleanup = await platformView(screen);
    }
  } catch (e) {
    if (e.status === 401) return;
    mount(screen, errorBox(e));
  }
}

window.addEventListener('hashchange', route);

async function start() {
  try {
    if (await api.restoreSession()) route();
    else showLogin();
  } catch (e) {
    mount(root, errorBox(e));
  }
}
start();
