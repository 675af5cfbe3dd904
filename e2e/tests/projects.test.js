// Projects under supabase-js: two projects created through control's admin
// API (/admin/v1/projects) on `madbase dev --workers 2`, reached through the
// edge by their Host (<ref>.<PROJECT_DOMAIN>, e2e/run.sh sets localhost) and
// by their keys alone. Each project's users, rows, files, broadcasts and
// database changes stay in it; a key of one project is refused at the other
// project's Host; settings changes reach both workers without a restart, an
// invalid change is refused and changes nothing; rotated keys verify for
// their grace and are refused once it is over; a project's ALLOWED_ORIGINS
// answer CORS at its Host while the others keep the environment's.
//
// `<ref>.localhost` is not resolved by this machine's getaddrinfo, and
// Node's fetch does not let a caller set Host: the clients of a project's
// Host send their requests with node:http, which connects to the edge's
// address whatever the name (loopbackFetch, LoopbackWebSocket).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { url, anonKey, serviceKey, adminPassword, client, waitFor, subscribed } from './helpers.js';
import { domain, edge, hostURL, loopbackFetch, LoopbackWebSocket, adminCall } from './hosts.js';


const run = Date.now().toString(36);
const refA = `pa-${run}`;
const refB = `pb-${run}`;
const password = 'correct-horse-42';
let seq = 0;
const uniq = (p) => `${p}-${run}-${++seq}`;

const clients = [];

// projectClient is supabase-js for a project: at its Host, or by key alone
// (the platform's URL) with byKey.
function projectClient(ref, key, { byKey = false, headers } = {}) {
  const c = createClient(byKey ? url : hostURL(ref), key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: byKey ? WebSocket : LoopbackWebSocket },
    global: { ...(byKey ? {} : { fetch: loopbackFetch }), ...(headers ? { headers } : {}) },
  });
  clients.push(c);
  return c;
}

after(async () => {
  for (const c of clients) await c.removeAllChannels();
});

// ---- control's admin API ----

async function sql(ref, query) {
  const res = await adminCall('POST', `/projects/${ref}/sql`, { query });
  assert.equal(res.status, 200, `SQL on ${ref}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// Each project's tables: notes only their owner sees (RLS), items anyone
// reads, marked with the project's ref; both emit database changes.
const schema = (ref) => `
create table notes (id bigserial primary key, owner uuid not null default auth.uid(), body text not null);
alter table notes enable row level security;
create policy notes_own_select on notes for select to authenticated using (owner = auth.uid());
create policy notes_own_insert on notes for insert to authenticated with check (owner = auth.uid());
grant select, insert on notes to authenticated;
grant all on notes to service_role;
grant usage, select on sequence notes_id_seq to authenticated, service_role;
create table items (id int primary key, project text not null);
insert into items select i, '${ref}' from generate_series(1, 5) i;
grant select on items to anon, authenticated;
grant all on items to service_role;
alter publication supabase_realtime add table notes, items;`;

const projects = {};

// workerOf is the worker that answered res, as the edge names it.
const workerOf = (res) => res.headers.get('x-madbase-worker');

// onEveryWorker sends check's request until each of the two workers gave an
// answer check accepts, then four more that every worker must answer so
// (a worker that took a configuration never goes back). check(res, body)
// returns true when the answer is the expected one.
async function onEveryWorker(request, check, what, timeout = 20000) {
  const seen = new Set();
  const last = new Map();
  const end = Date.now() + timeout;
  while (seen.size < 2) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what} on both workers; seen on ${[...seen]}; last answers ${JSON.stringify([...last])}`);
    }
    const res = await request();
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    const w = workerOf(res);
    assert.ok(w, 'x-madbase-worker header missing');
    if (check(res, body)) seen.add(w);
    else await new Promise((r) => setTimeout(r, 25));
    last.set(w, { status: res.status, body });
  }
  for (let i = 0; i < 4; i++) {
    const res = await request();
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    assert.ok(check(res, body), `${what}: worker ${workerOf(res)} answered ${res.status} ${text}`);
  }
}

// items reads a project's items by key alone, with the anon key given.
const items = (key) => () => fetch(`${url}/rest/v1/items?select=id,project`, { headers: { apikey: key } });
const rowsOf = (ref, n) => (res, body) => res.status === 200 && Array.isArray(body) && body.length === n && body.every((r) => r.project === ref);

async function createProject(ref) {
  const res = await adminCall('POST', '/projects', { ref, name: `E2E ${ref}`, settings: { AUTH_AUTOCONFIRM: true } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const p = res.body;
  assert.equal(p.ref, ref);
  assert.equal(p.revision, 1);
  assert.match(p.keys.anon, /^eyJ/);
  assert.match(p.keys.publishable, /^sb_publishable_/);
  assert.match(p.keys.secret, /^sb_secret_/);
  await sql(ref, schema(ref));
  projects[ref] = p;
  // Both workers took the project from the bucket.
  await onEveryWorker(items(p.keys.anon), rowsOf(ref, 5), `${ref} served`);
  return p;
}

before(async () => {
  await createProject(refA);
  await createProject(refB);
});

// ---- isolation ----

test('two projects are created through the admin API, each with its own database and keys', async () => {
  const list = await adminCall('GET', '/projects');
  assert.equal(list.status, 200);
  const refs = list.body.projects.map((p) => p.ref);
  assert.ok(refs.includes(refA) && refs.includes(refB), JSON.stringify(refs));
  for (const p of list.body.projects) assert.equal(p.keys, undefined, 'a list never shows keys');
  const a = projects[refA];
  const b = projects[refB];
  assert.notEqual(a.keys.anon, b.keys.anon);
  assert.notEqual(a.database.name, b.database.name);
  assert.notEqual(a.keys.anon, anonKey);
});

test('each project answers from its own database, by Host and by key, with every kind of key', async () => {
  for (const ref of [refA, refB]) {
    const { keys } = projects[ref];
    for (const key of [keys.anon, keys.publishable, keys.service_role, keys.secret]) {
      for (const byKey of [false, true]) {
        const { data, error } = await projectClient(ref, key, { byKey }).from('items').select('id,project').order('id');
        assert.equal(error, null, `${ref} ${byKey ? 'by key' : 'by Host'}: ${JSON.stringify(error)}`);
        assert.deepEqual(data.map((r) => r.project), [ref, ref, ref, ref, ref]);
      }
    }
  }
  // The default project is still the environment's: no items table there.
  const { error } = await client(anonKey).from('items').select('id');
  assert.equal(error.code, 'PGRST205');
});

test('a key of one project is refused at the other project\'s Host, on every API surface', async () => {
  const a = projects[refA].keys;
  const paths = ['/rest/v1/items?select=id', '/auth/v1/user', '/auth/v1/settings', '/storage/v1/bucket'];
  for (const key of [a.anon, a.service_role, a.publishable, a.secret, anonKey, serviceKey]) {
    for (const p of paths) {
      const res = await loopbackFetch(`${hostURL(refB)}${p}`, { headers: { apikey: key, Authorization: `Bearer ${key}` } });
      const body = await res.json();
      assert.equal(res.status, 401, `${p}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'the API key belongs to another project', p);
    }
    // The realtime socket is refused at its upgrade.
    const status = await new Promise((resolve, reject) => {
      const ws = new LoopbackWebSocket(`ws://${refB}.${domain}:${edge.port}/realtime/v1/websocket?apikey=${encodeURIComponent(key)}&vsn=1.0.0`);
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); res.resume(); ws.terminate(); });
      ws.on('open', () => { ws.close(); reject(new Error('a socket with another project\'s key opened')); });
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
  }
  // supabase-js sees the same at B's Host with A's key.
  const { error } = await projectClient(refB, a.anon).from('items').select('id');
  assert.deepEqual(error, { error: 'the API key belongs to another project', code: 401 });
});

test('users are per project: the same email twice, and neither sign-in nor token crosses', async () => {
  const email = `${uniq('same')}@example.com`;
  const ua = await projectClient(refA, projects[refA].keys.anon).auth.signUp({ email, password });
  assert.equal(ua.error, null, JSON.stringify(ua.error));
  assert.ok(ua.data.session, 'autoconfirmed sign-up gives a session');
  // Another password in B: B has no such user yet.
  const ub = await projectClient(refB, projects[refB].keys.anon, { byKey: true }).auth.signUp({ email, password: `${password}-b` });
  assert.equal(ub.error, null, JSON.stringify(ub.error));
  assert.notEqual(ub.data.user.id, ua.data.user.id);

  const wrong = await projectClient(refB, projects[refB].keys.anon).auth.signInWithPassword({ email, password });
  assert.equal(wrong.error?.code, 'invalid_credentials');
  const right = await projectClient(refA, projects[refA].keys.anon).auth.signInWithPassword({ email, password });
  assert.equal(right.error, null);

  // A's session token with B's key, by key and at B's Host: B does not know it.
  for (const byKey of [true, false]) {
    const { data, error } = await projectClient(refB, projects[refB].keys.anon, { byKey }).auth.getUser(ua.data.session.access_token);
    assert.equal(data.user, null);
    assert.ok(error, 'B refuses A\'s token');
  }
  // A's session token at B's Host: with B's key B refuses it as a token it
  // did not sign; alone, without an API key, it is refused.
  const withKey = await loopbackFetch(`${hostURL(refB)}/auth/v1/user`, { headers: { Authorization: `Bearer ${ua.data.session.access_token}`, apikey: projects[refB].keys.anon } });
  const withKeyBody = await withKey.json();
  assert.equal(withKey.status, 403, JSON.stringify(withKeyBody));
  assert.equal(withKeyBody.error_code, 'bad_jwt', JSON.stringify(withKeyBody));
  const alone = await loopbackFetch(`${hostURL(refB)}/auth/v1/user`, { headers: { Authorization: `Bearer ${ua.data.session.access_token}` } });
  const aloneBody = await alone.json();
  assert.equal(alone.status, 401, JSON.stringify(aloneBody));
  assert.equal(aloneBody.id, undefined);

  // A's admin sees A's user only.
  const adminA = projectClient(refA, projects[refA].keys.service_role).auth.admin;
  const { data: listA } = await adminA.listUsers();
  assert.ok(listA.users.some((u) => u.id === ua.data.user.id));
  assert.ok(!listA.users.some((u) => u.id === ub.data.user.id));

  // Rows: A's user writes a note; B's service role does not see it.
  const asA = projectClient(refA, projects[refA].keys.anon, { headers: { Authorization: `Bearer ${ua.data.session.access_token}` } });
  const ins = await asA.from('notes').insert({ body: 'secret of A' }).select().single();
  assert.equal(ins.error, null, JSON.stringify(ins.error));
  const mine = await asA.from('notes').select('body');
  assert.deepEqual(mine.data, [{ body: 'secret of A' }]);
  const inB = await projectClient(refB, projects[refB].keys.service_role).from('notes').select('body');
  assert.equal(inB.error, null);
  assert.ok(!inB.data.some((r) => r.body === 'secret of A'), JSON.stringify(inB.data));
  // With A's user token and B's key, B refuses the token.
  const cross = await projectClient(refB, projects[refB].keys.anon, { byKey: true, headers: { Authorization: `Bearer ${ua.data.session.access_token}` } }).from('notes').select('body');
  assert.equal(cross.data, null);
  assert.ok(cross.error);
});

test('files are per project', async () => {
  const bucket = uniq('docs');
  const sa = projectClient(refA, projects[refA].keys.service_role);
  const sb = projectClient(refB, projects[refB].keys.service_role);
  assert.equal((await sa.storage.createBucket(bucket, { public: false })).error, null);
  const up = await sa.storage.from(bucket).upload('a.txt', 'hello from A', { contentType: 'text/plain' });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const dl = await sa.storage.from(bucket).download('a.txt');
  assert.equal(dl.error, null);
  assert.equal(await dl.data.text(), 'hello from A');

  const buckets = await sb.storage.listBuckets();
  assert.equal(buckets.error, null);
  assert.ok(!buckets.data.some((b) => b.id === bucket));
  const none = await sb.storage.from(bucket).download('a.txt');
  assert.ok(none.error, 'B has no such file');
  // The same bucket and path in B hold B's own bytes.
  assert.equal((await sb.storage.createBucket(bucket, { public: false })).error, null);
  assert.equal((await sb.storage.from(bucket).upload('a.txt', 'hello from B', { contentType: 'text/plain' })).error, null);
  assert.equal(await (await sa.storage.from(bucket).download('a.txt')).data.text(), 'hello from A');
  assert.equal(await (await sb.storage.from(bucket).download('a.txt')).data.text(), 'hello from B');
  // A signed URL of A's file does not open in B.
  const signed = await sa.storage.from(bucket).createSignedUrl('a.txt', 60);
  assert.equal(signed.error, null);
  const viaA = await loopbackFetch(signed.data.signedUrl);
  assert.equal(await viaA.text(), 'hello from A');
  const path = new URL(signed.data.signedUrl);
  const viaB = await loopbackFetch(`${hostURL(refB)}${path.pathname}${path.search}`);
  assert.equal(viaB.status, 401);
  await viaB.arrayBuffer();
});

test('broadcasts stay in their project', async () => {
  const topic = uniq('room');
  const got = { [refA]: [], [refB]: [] };
  const channels = {};
  for (const ref of [refA, refB]) {
    // The listener by Host, the sender by key, so both ways are used.
    const listen = projectClient(ref, projects[ref].keys.anon).channel(topic)
      .on('broadcast', { event: 'msg' }, (m) => got[ref].push(m.payload.from));
    await subscribed(listen);
    channels[ref] = await subscribed(projectClient(ref, projects[ref].keys.anon, { byKey: true }).channel(topic, { config: { broadcast: { ack: true } } }));
  }
  assert.equal(await channels[refA].send({ type: 'broadcast', event: 'msg', payload: { from: refA } }), 'ok');
  await waitFor(() => got[refA].length === 1, 'A\'s broadcast in A');
  // B's own message comes after A's was delivered: B's listener gets it
  // alone.
  assert.equal(await channels[refB].send({ type: 'broadcast', event: 'msg', payload: { from: refB } }), 'ok');
  await waitFor(() => got[refB].length >= 1, 'B\'s broadcast in B');
  assert.deepEqual(got[refB], [refB]);
  assert.deepEqual(got[refA], [refA]);
});

test('database changes stay in their project', async () => {
  const got = { [refA]: [], [refB]: [] };
  for (const ref of [refA, refB]) {
    const systems = [];
    const ch = projectClient(ref, projects[ref].keys.anon, { byKey: ref === refB }).channel(uniq('changes'))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'items' }, (p) => got[ref].push(p.new))
      .on('system', {}, (p) => systems.push(p));
    await subscribed(ch);
    await waitFor(() => systems.some((s) => s.extension === 'postgres_changes'), `${ref}'s postgres_changes ready`);
    assert.equal(systems.find((s) => s.extension === 'postgres_changes').status, 'ok');
  }
  const ins = (ref, id) => projectClient(ref, projects[ref].keys.service_role).from('items').insert({ id, project: ref });
  assert.equal((await ins(refA, 100)).error, null);
  await waitFor(() => got[refA].length === 1, 'A\'s change in A');
  assert.equal((await ins(refB, 200)).error, null);
  await waitFor(() => got[refB].length >= 1, 'B\'s change in B');
  assert.deepEqual(got[refA], [{ id: 100, project: refA }]);
  assert.deepEqual(got[refB], [{ id: 200, project: refB }]);
  for (const ref of [refA, refB]) {
    assert.equal((await projectClient(ref, projects[ref].keys.service_role).from('items').delete().gte('id', 100)).error, null);
  }
});

// ---- live configuration ----

const signup = (key) => () => fetch(`${url}/auth/v1/signup`, {
  method: 'POST',
  headers: { apikey: key, 'Content-Type': 'application/json' },
  body: JSON.stringify({ email: `${uniq('signup')}@example.com`, password }),
});

test('a settings change reaches both workers without a restart; an invalid one is refused and changes nothing', async () => {
  const a = projects[refA].keys.anon;
  const b = projects[refB].keys.anon;
  await onEveryWorker(signup(a), (res) => res.status === 200, 'sign-up open in A');

  const patched = await adminCall('PATCH', `/projects/${refA}/config`, { AUTH_DISABLE_SIGNUP: true, DB_MAX_ROWS: 2 });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual(patched.body.settings, { AUTH_AUTOCONFIRM: 'true', AUTH_DISABLE_SIGNUP: 'true', DB_MAX_ROWS: '2' });
  const revision = patched.body.revision;
  assert.equal(revision, 2);

  await onEveryWorker(items(a), (res, body) => res.status === 200 && body.length === 2, 'DB_MAX_ROWS 2 in A');
  await onEveryWorker(signup(a), (res, body) => res.status === 422 && body.error_code === 'signup_disabled', 'sign-up refused in A');
  // B keeps its own settings.
  await onEveryWorker(items(b), rowsOf(refB, 5), 'B unchanged');
  await onEveryWorker(signup(b), (res) => res.status === 200, 'sign-up open in B');

  // Invalid: nothing is applied, not even the valid part.
  for (const change of [{ DB_MAX_ROWS: -1, AUTH_DISABLE_SIGNUP: false }, { DB_MAX_ROWS: 'lots' }, { NATS_URL: 'nats://elsewhere:4222' }, { NO_SUCH_SETTING: 1 }]) {
    const bad = await adminCall('PATCH', `/projects/${refA}/config`, change);
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.code, 400);
    assert.match(bad.body.error, new RegExp(Object.keys(change)[0]), JSON.stringify(bad.body));
  }
  const now = await adminCall('GET', `/projects/${refA}`);
  assert.equal(now.body.revision, revision);
  assert.deepEqual(now.body.settings, patched.body.settings);
  await onEveryWorker(items(a), (res, body) => res.status === 200 && body.length === 2, 'DB_MAX_ROWS still 2 in A');
  await onEveryWorker(signup(a), (res, body) => res.status === 422 && body.error_code === 'signup_disabled', 'sign-up still refused in A');

  // null removes a setting: the environment's value applies again.
  const back = await adminCall('PATCH', `/projects/${refA}/config`, { AUTH_DISABLE_SIGNUP: null, DB_MAX_ROWS: null });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.deepEqual(back.body.settings, { AUTH_AUTOCONFIRM: 'true' });
  await onEveryWorker(items(a), rowsOf(refA, 5), 'DB_MAX_ROWS removed in A');
  await onEveryWorker(signup(a), (res) => res.status === 200, 'sign-up open again in A');
});

test('rotated keys work for their grace; a rotation with grace 0s refuses the old keys at once', async () => {
  const k1 = projects[refB].keys;
  const rotated = await adminCall('POST', `/projects/${refB}/keys/rotate`, {});
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  const k2 = rotated.body.keys;
  assert.notEqual(k2.anon, k1.anon);
  assert.notEqual(k2.publishable, k1.publishable);
  assert.deepEqual(rotated.body.retiring_keys, k1);
  assert.ok(Date.parse(rotated.body.keys_retiring_until) > Date.now() + 23 * 3600 * 1000, rotated.body.keys_retiring_until);

  const works = (ref) => (res, body) => rowsOf(ref, 5)(res, body);
  await onEveryWorker(items(k2.anon), works(refB), 'new anon key in B');
  await onEveryWorker(items(k2.publishable), works(refB), 'new publishable key in B');
  // The old keys still verify, on both workers.
  await onEveryWorker(items(k1.anon), works(refB), 'old anon key in B during the grace');
  await onEveryWorker(items(k1.publishable), works(refB), 'old publishable key in B during the grace');
  const old = await projectClient(refB, k1.anon).from('items').select('id');
  assert.equal(old.error, null);

  const retired = await adminCall('POST', `/projects/${refB}/keys/rotate`, { grace: '0s' });
  assert.equal(retired.status, 200, JSON.stringify(retired.body));
  const k3 = retired.body.keys;
  assert.equal(retired.body.retiring_keys, undefined);
  await onEveryWorker(items(k3.anon), works(refB), 'newest anon key in B');
  const refused = (res) => res.status === 401;
  for (const [name, key] of [['k2 anon', k2.anon], ['k2 publishable', k2.publishable], ['k2 secret', k2.secret], ['k1 anon', k1.anon], ['k1 publishable', k1.publishable]]) {
    await onEveryWorker(items(key), refused, `${name} refused after the grace-0s rotation`);
  }
  // At B's Host too.
  const { error } = await projectClient(refB, k2.service_role).from('items').select('id');
  assert.ok(error, 'a retired service_role key is refused');
  const fresh = await projectClient(refB, k3.service_role).from('items').select('id');
  assert.equal(fresh.error, null);
  assert.equal(fresh.data.length, 5);
});

// ---- per-project CORS ----

// preflight asks the edge, at base's Host, whether origin may GET items.
const preflight = (base, origin) => loopbackFetch(`${base}/rest/v1/items`, {
  method: 'OPTIONS',
  headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'apikey' },
});

// until polls check(): the edge takes a project's settings from the bucket
// a moment after control wrote them.
async function until(check, what, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last === true) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const allowedFor = async (base, origin, expected) => {
  const res = await preflight(base, origin);
  const got = res.headers.get('access-control-allow-origin');
  return (res.status === 204 && got === expected) || { status: res.status, allowOrigin: got };
};
const refusedFor = async (base, origin) => {
  const res = await preflight(base, origin);
  return res.status === 403 || { status: res.status, allowOrigin: res.headers.get('access-control-allow-origin') };
};

test('a project\'s ALLOWED_ORIGINS apply at its Host; the default project and the others keep the environment\'s', async () => {
  const a = hostURL(refA);
  // The environment allows any origin (ALLOWED_ORIGINS=*).
  await until(() => allowedFor(a, 'https://b.example', '*'), 'any origin allowed in A before the change');

  const patched = await adminCall('PATCH', `/projects/${refA}/config`, { ALLOWED_ORIGINS: 'https://a.example' });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.settings.ALLOWED_ORIGINS, 'https://a.example');

  await until(() => refusedFor(a, 'https://b.example'), 'https://b.example refused in A');
  await until(() => allowedFor(a, 'https://a.example', 'https://a.example'), 'https://a.example allowed in A');
  const pre = await preflight(a, 'https://a.example');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  const refused = await preflight(a, 'https://b.example');
  assert.equal(refused.status, 403);
  assert.deepEqual(await refused.json(), { error: 'origin not allowed', code: 403 });

  // An actual request: CORS headers for the allowed origin only.
  const key = projects[refA].keys.anon;
  const ok = await loopbackFetch(`${a}/rest/v1/items?select=id`, { headers: { apikey: key, Origin: 'https://a.example' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://a.example');
  const other = await loopbackFetch(`${a}/rest/v1/items?select=id`, { headers: { apikey: key, Origin: 'https://b.example' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers.get('access-control-allow-origin'), null);

  // The default project (the platform's own Host) and B follow the environment.
  assert.equal(await allowedFor(url, 'https://b.example', '*'), true, 'the default project allows any origin');
  assert.equal(await allowedFor(hostURL(refB), 'https://b.example', '*'), true, 'B allows any origin');

  // Removing the setting gives A the environment's origins again.
  const back = await adminCall('PATCH', `/projects/${refA}/config`, { ALLOWED_ORIGINS: null });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.equal(back.body.settings.ALLOWED_ORIGINS, undefined);
  await until(() => allowedFor(a, 'https://b.example', '*'), 'any origin allowed in A again');
});

// ---- per-project signing keys ----

test('a project\'s JWT_KEYS sign its sessions and are published at its JWKS (getClaims verifies them); removed, their tokens are refused', async () => {
  const { generateKeyPairSync, randomUUID } = await import('node:crypto');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomUUID();
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig', key_ops: ['sign', 'verify'] };
  const a = projects[refA].keys.anon;
  const b = projects[refB].keys.anon;
  const jwks = (key) => () => fetch(`${url}/auth/v1/.well-known/jwks.json`, { headers: { apikey: key } });
  const hasKid = (res, body) => res.status === 200 && body.keys.some((k) => k.kid === kid);

  const patched = await adminCall('PATCH', `/projects/${refA}/config`, { JWT_KEYS: JSON.stringify([jwk]) });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.settings.JWT_KEYS, undefined, 'a secret setting is never shown');
  assert.ok(patched.body.secret_settings.includes('JWT_KEYS'), JSON.stringify(patched.body.secret_settings));
  const shown = JSON.stringify(await adminCall('GET', `/projects/${refA}`));
  assert.ok(!shown.includes(jwk.d), 'the private key is never shown');
  await onEveryWorker(jwks(a), hasKid, 'A publishes its key');
  for (const k of (await (await jwks(a)()).json()).keys) assert.equal(k.d, undefined, 'public parts only');
  await onEveryWorker(jwks(b), (res, body) => res.status === 200 && !hasKid(res, body), 'B does not publish A\'s key');

  const supabase = projectClient(refA, a);
  const { data: signed, error } = await supabase.auth.signUp({ email: `${uniq('keys')}@example.com`, password });
  assert.equal(error, null);
  const token = signed.session.access_token;
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
  assert.equal(header.alg, 'ES256');
  assert.equal(header.kid, kid);
  const { data: claims, error: cErr } = await supabase.auth.getClaims();
  assert.equal(cErr, null);
  assert.equal(claims.claims.sub, signed.user.id);
  assert.equal(claims.header.kid, kid);
  // B does not take A's token.
  const inB = await projectClient(refB, b).auth.getUser(token);
  assert.ok(inB.error, 'A\'s token is refused in B');

  // The key removed: A signs with its secret again; the key's tokens are refused.
  const back = await adminCall('PATCH', `/projects/${refA}/config`, { JWT_KEYS: null });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  await onEveryWorker(jwks(a), (res, body) => res.status === 200 && body.keys.length === 0, 'A publishes no key');
  const user = () => fetch(`${url}/auth/v1/user`, { headers: { apikey: a, Authorization: `Bearer ${token}` } });
  await onEveryWorker(user, (res, body) => res.status === 403 && body.error_code === 'bad_jwt', 'the removed key\'s token refused in A');
});
