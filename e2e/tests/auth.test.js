// supabase.auth and supabase.auth.admin from supabase-js 2.119, unchanged,
// against MadBase's /auth/v1 through the edge (madbase dev: autoconfirm on,
// mails in the dev outbox).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  url, anonKey, serviceKey, publishableKey, secretKey, adminPassword, client,
} from './helpers.js';

const run = Date.now().toString(36);
let seq = 0;
const email = (tag) => `${tag}-${run}-${++seq}@example.com`;
const password = 'correct-horse-42';

function decode(jwt) {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

// outbox polls the dev outbox until a mail of type reaches to.
async function outbox(to, type) {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${url}/admin/v1/outbox?to=${encodeURIComponent(to)}`, {
      headers: { Authorization: `Bearer ${adminPassword}` },
    });
    assert.equal(res.status, 200);
    const { messages } = await res.json();
    const m = messages.find((x) => !type || x.type === type);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${type} mail to ${to} in the dev outbox`);
}

// userAnswer is the server's own answer to GET /user with token, in the
// shape supabase-js asks for (2024-01-01: {code, message}).
async function userAnswer(token) {
  const res = await fetch(`${url}/auth/v1/user`, {
    headers: { apikey: anonKey, Authorization: `Bearer ${token}`, 'X-Supabase-Api-Version': '2024-01-01' },
  });
  return { status: res.status, body: await res.json() };
}

// assertSessionGone checks that the server refuses token because its
// session was signed out (docs/api/auth.md §5: the JWT verifies until exp, the session
// does not).
async function assertSessionGone(token, msg) {
  const { status, body } = await userAnswer(token);
  assert.equal(status, 403, `${msg}: ${JSON.stringify(body)}`);
  assert.equal(body.code, 'session_not_found', msg);
}

async function assertSessionLives(token, msg) {
  const { status, body } = await userAnswer(token);
  assert.equal(status, 200, `${msg}: ${JSON.stringify(body)}`);
  assert.equal(decode(token).sub, body.id, msg);
}

function admin() {
  return client(serviceKey).auth.admin;
}

test('signUp, signInWithPassword, getUser and the access token claims', async () => {
  const supabase = client();
  const addr = email('signup');
  const { data, error } = await supabase.auth.signUp({ email: addr, password, options: { data: { name: 'Ann' } } });
  assert.equal(error, null);
  assert.ok(data.session, 'autoconfirm in dev: sign-up returns a session');
  assert.equal(data.user.email, addr);
  assert.equal(data.user.user_metadata.name, 'Ann');
  assert.equal(data.user.identities.length, 1);

  const signIn = await supabase.auth.signInWithPassword({ email: addr, password });
  assert.equal(signIn.error, null);
  const { session } = signIn.data;
  assert.equal(session.token_type, 'bearer');
  assert.equal(session.expires_in, 3600);
  const claims = decode(session.access_token);
  assert.equal(claims.sub, data.user.id);
  assert.equal(claims.role, 'authenticated');
  assert.equal(claims.aud, 'authenticated');
  assert.equal(claims.aal, 'aal1');
  assert.equal(claims.amr[0].method, 'password');
  assert.match(claims.session_id, /^[0-9a-f-]{36}$/);
  assert.equal(claims.is_anonymous, false);
  assert.equal(claims.exp - claims.iat, 3600);

  const got = await supabase.auth.getUser();
  assert.equal(got.error, null);
  assert.equal(got.data.user.id, data.user.id);

  const { data: aal } = await supabase.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(aal.currentLevel, 'aal1');
});

test('sign-in and sign-up errors carry GoTrue codes', async () => {
  const supabase = client();
  const addr = email('errors');
  assert.equal((await supabase.auth.signUp({ email: addr, password })).error, null);

  const wrong = await supabase.auth.signInWithPassword({ email: addr, password: 'not-the-password' });
  assert.equal(wrong.error.code, 'invalid_credentials');
  assert.equal(wrong.error.status, 400);
  assert.equal(wrong.data.session, null);

  const nobody = await supabase.auth.signInWithPassword({ email: email('nobody'), password });
  assert.equal(nobody.error.code, 'invalid_credentials');

  const dup = await supabase.auth.signUp({ email: addr, password });
  assert.equal(dup.error.code, 'user_already_exists', 'autoconfirm on: a duplicate sign-up is refused');
  assert.equal(dup.error.status, 422);

  const weak = await supabase.auth.signUp({ email: email('weak'), password: '123' });
  assert.equal(weak.error.code, 'weak_password');
  assert.equal(weak.error.name, 'AuthWeakPasswordError');
  assert.deepEqual(weak.error.reasons, ['length']);
});

test('a bad apikey is refused with 401 by the key check', async () => {
  const res = await fetch(`${url}/auth/v1/token?grant_type=password`, {
    method: 'POST',
    headers: { apikey: 'nope', 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'x@example.com', password }),
  });
  assert.equal(res.status, 401);
  assert.equal(typeof (await res.json()).message, 'string');

  const none = await fetch(`${url}/auth/v1/user`);
  assert.equal(none.status, 401);

  const bad = client('sb_publishable_not-a-real-key');
  const { error } = await bad.auth.signInWithPassword({ email: 'x@example.com', password });
  assert.equal(error.status, 401);
});

test('the opaque publishable and secret keys work as apikeys', async () => {
  const supabase = client(publishableKey);
  const addr = email('opaque');
  const { data, error } = await supabase.auth.signUp({ email: addr, password });
  assert.equal(error, null);
  const { data: got } = await supabase.auth.getUser();
  assert.equal(got.user.id, data.user.id);

  const viaSecret = await client(secretKey).auth.admin.getUserById(data.user.id);
  assert.equal(viaSecret.error, null);
  assert.equal(viaSecret.data.user.email, addr);

  const notAdmin = await client(publishableKey).auth.admin.listUsers();
  assert.equal(notAdmin.error.code, 'not_admin');
});

test('updateUser changes metadata and password; the other sessions end', async () => {
  const a = client();
  const addr = email('update');
  await a.auth.signUp({ email: addr, password });
  const b = client();
  assert.equal((await b.auth.signInWithPassword({ email: addr, password })).error, null);

  const events = [];
  a.auth.onAuthStateChange((event) => events.push(event));
  // getUser again and again, as apps do: each read shows the latest change.
  for (let i = 0; i < 2; i++) assert.equal((await a.auth.getUser()).data.user.user_metadata.plan, undefined);
  const meta = await a.auth.updateUser({ data: { plan: 'pro', name: 'Bo' } });
  assert.equal(meta.error, null);
  assert.equal(meta.data.user.user_metadata.plan, 'pro');
  assert.equal((await a.auth.getUser()).data.user.user_metadata.name, 'Bo');
  const merged = await a.auth.updateUser({ data: { name: null } });
  assert.equal(merged.data.user.user_metadata.plan, 'pro');
  assert.equal(merged.data.user.user_metadata.name, undefined);
  const read = (await a.auth.getUser()).data.user.user_metadata;
  assert.deepEqual([read.plan, read.name], ['pro', undefined]);
  assert.equal((await b.auth.getUser()).error, null, 'the other session, before the password change');

  const same = await a.auth.updateUser({ password });
  assert.equal(same.error.code, 'same_password');

  const newPassword = 'battery-staple-77';
  const pw = await a.auth.updateUser({ password: newPassword });
  assert.equal(pw.error, null);
  assert.ok(events.includes('USER_UPDATED'));

  // b's session was signed out by the password change.
  const gone = await b.auth.getUser();
  assert.ok(gone.error);
  assert.equal((await a.auth.getUser()).error, null, 'the changing session stays');

  assert.equal((await client().auth.signInWithPassword({ email: addr, password })).error.code, 'invalid_credentials');
  assert.equal((await client().auth.signInWithPassword({ email: addr, password: newPassword })).error, null);
});

test('refreshSession rotates the refresh token and keeps the session id', async () => {
  const supabase = client();
  const events = [];
  supabase.auth.onAuthStateChange((event) => events.push(event));
  const addr = email('refresh');
  const { data } = await supabase.auth.signUp({ email: addr, password });
  const first = data.session;
  const { data: r, error } = await supabase.auth.refreshSession();
  assert.equal(error, null);
  assert.ok(events.includes('SIGNED_IN'), events.join());
  assert.ok(events.includes('TOKEN_REFRESHED'), events.join());
  assert.notEqual(r.session.refresh_token, first.refresh_token);
  assert.equal(decode(r.session.access_token).session_id, decode(first.access_token).session_id);

  // Two clients refreshing the same token at once (two tabs): neither is signed out.
  const tabs = [client(), client()];
  await Promise.all(tabs.map((t) => t.auth.setSession({ access_token: r.session.access_token, refresh_token: r.session.refresh_token })));
  const both = await Promise.all(tabs.map((t) => t.auth.refreshSession()));
  for (const res of both) {
    assert.equal(res.error, null);
    assert.ok(res.data.session);
  }
  assert.equal(both[0].data.session.refresh_token, both[1].data.session.refresh_token,
    'the second refresh gets the token the first one made');

  // The first token, two rotations old, used again past the reuse
  // interval (0 in e2e/run.sh): refused, and the session ended with it at
  // once, so the token the tabs hold is gone and their access token no
  // longer reaches the user.
  await assertSessionLives(both[0].data.session.access_token, 'before the reuse');
  const reused = await client().auth.refreshSession({ refresh_token: first.refresh_token });
  assert.equal(reused.error?.code, 'refresh_token_already_used', JSON.stringify(reused.error));
  assert.equal(reused.error.status, 400);
  const family = await client().auth.refreshSession({ refresh_token: both[0].data.session.refresh_token });
  assert.equal(family.error?.code, 'refresh_token_not_found', JSON.stringify(family.error));
  assert.equal(family.error.status, 400);
  await assertSessionGone(both[0].data.session.access_token, 'after the reuse');

  // A token the server never issued.
  const unknown = await client().auth.refreshSession({ refresh_token: 'not-a-token' });
  assert.equal(unknown.error.code, 'refresh_token_not_found');
  assert.equal(unknown.error.status, 400);
});

test('signOut scopes: local, others, global', async () => {
  const addr = email('signout');
  const a = client();
  await a.auth.signUp({ email: addr, password });
  const b = client();
  const c = client();
  await b.auth.signInWithPassword({ email: addr, password });
  await c.auth.signInWithPassword({ email: addr, password });

  const token = async (x) => (await x.auth.getSession()).data.session.access_token;
  const [aToken, bToken, cToken] = [await token(a), await token(b), await token(c)];
  await assertSessionLives(bToken, 'b before signing out');

  const events = [];
  b.auth.onAuthStateChange((event) => events.push(event));
  assert.equal((await b.auth.signOut({ scope: 'local' })).error, null);
  assert.ok(events.includes('SIGNED_OUT'));
  await assertSessionGone(bToken, 'local ends b on the server');
  await assertSessionLives(aToken, 'local leaves a');
  await assertSessionLives(cToken, 'local leaves c');

  assert.equal((await a.auth.signOut({ scope: 'others' })).error, null);
  await assertSessionGone(cToken, 'others ends c');
  await assertSessionLives(aToken, 'others keeps a');

  const d = client();
  await d.auth.signInWithPassword({ email: addr, password });
  const dToken = await token(d);
  await assertSessionLives(dToken, 'd signed in');
  assert.equal((await a.auth.signOut()).error, null);
  await assertSessionGone(dToken, 'global ends d');
  await assertSessionGone(aToken, 'global ends a');
});

test('signInAnonymously', async () => {
  const supabase = client();
  const { data, error } = await supabase.auth.signInAnonymously({ options: { data: { theme: 'dark' } } });
  assert.equal(error, null);
  assert.equal(data.user.is_anonymous, true);
  assert.deepEqual(data.user.identities, []);
  const claims = decode(data.session.access_token);
  assert.equal(claims.is_anonymous, true);
  assert.equal(claims.amr[0].method, 'anonymous');
  assert.equal(claims.role, 'authenticated');
});

test('admin: createUser, listUsers, getUserById, updateUserById, deleteUser', async () => {
  const api = admin();
  const addr = email('admin');
  const created = await api.createUser({ email: addr, password, email_confirm: true, user_metadata: { a: 1 }, app_metadata: { plan: 'gold' } });
  assert.equal(created.error, null);
  const id = created.data.user.id;
  assert.equal(created.data.user.app_metadata.plan, 'gold');
  assert.equal(created.data.user.app_metadata.provider, 'email');
  assert.ok(created.data.user.email_confirmed_at);

  const dup = await api.createUser({ email: addr, password });
  assert.equal(dup.error.code, 'email_exists');
  const none = await api.createUser({ password });
  assert.equal(none.error.code, 'validation_failed');

  const unconfirmed = email('admin-unconfirmed');
  await api.createUser({ email: unconfirmed, password });
  const blocked = await client().auth.signInWithPassword({ email: unconfirmed, password });
  assert.equal(blocked.error.code, 'email_not_confirmed');

  const list = await api.listUsers({ page: 1, perPage: 2 });
  assert.equal(list.error, null);
  assert.equal(list.data.users.length, 2);
  assert.equal(list.data.aud, 'authenticated');
  assert.ok(list.data.total >= 2);
  assert.ok(list.data.lastPage >= 1);
  assert.equal(list.data.nextPage, 2);
  const all = await api.listUsers();
  assert.ok(all.data.users.some((u) => u.id === id));

  const got = await api.getUserById(id);
  assert.equal(got.data.user.email, addr);
  const missing = await api.getUserById('00000000-0000-4000-8000-000000000000');
  assert.equal(missing.error.code, 'user_not_found');
  assert.equal(missing.error.status, 404);

  const upd = await api.updateUserById(id, { user_metadata: { b: 2 }, app_metadata: { plan: 'platinum' } });
  assert.equal(upd.error, null);
  assert.deepEqual([upd.data.user.user_metadata.a, upd.data.user.user_metadata.b], [1, 2]);
  assert.equal(upd.data.user.app_metadata.plan, 'platinum');

  const banned = await api.updateUserById(id, { ban_duration: '24h' });
  assert.ok(banned.data.user.banned_until);
  assert.equal((await client().auth.signInWithPassword({ email: addr, password })).error.code, 'user_banned');
  await api.updateUserById(id, { ban_duration: 'none' });
  assert.equal((await client().auth.signInWithPassword({ email: addr, password })).error, null);

  const del = await api.deleteUser(id);
  assert.equal(del.error, null);
  assert.equal((await api.getUserById(id)).error.code, 'user_not_found');
});

test('admin: generateLink and inviteUserByEmail', async () => {
  const api = admin();
  const addr = email('magic');
  const link = await api.generateLink({ type: 'magiclink', email: addr });
  assert.equal(link.error, null);
  assert.equal(link.data.user.email, addr);
  const props = link.data.properties;
  assert.match(props.action_link, /\/auth\/v1\/verify\?/);
  assert.equal(props.verification_type, 'magiclink');
  assert.match(props.email_otp, /^\d{6}$/);
  const verified = await client().auth.verifyOtp({ token_hash: props.hashed_token, type: 'magiclink' });
  assert.equal(verified.error, null);
  assert.equal(verified.data.user.email, addr);
  assert.ok(verified.data.user.email_confirmed_at);

  const recovery = await api.generateLink({ type: 'recovery', email: email('nobody') });
  assert.equal(recovery.error.code, 'user_not_found');

  const invited = email('invite');
  const inv = await api.inviteUserByEmail(invited, { data: { team: 'x' } });
  assert.equal(inv.error, null);
  assert.ok(inv.data.user.invited_at);
  const mail = await outbox(invited, 'invite');
  assert.match(mail.link, /type=invite/);
  const accepted = await client().auth.verifyOtp({ email: invited, token: mail.otp, type: 'invite' });
  assert.equal(accepted.error, null);
  assert.equal(accepted.data.user.email, invited);
  const again = await api.inviteUserByEmail(invited);
  assert.equal(again.error.code, 'email_exists');
});

test('resetPasswordForEmail and verifyOtp through the dev outbox', async () => {
  const addr = email('reset');
  await client().auth.signUp({ email: addr, password });
  const supabase = client();
  const events = [];
  supabase.auth.onAuthStateChange((event) => events.push(event));
  const { error } = await supabase.auth.resetPasswordForEmail(addr, { redirectTo: 'http://localhost:3000/reset' });
  assert.equal(error, null);
  const mail = await outbox(addr, 'recovery');
  assert.match(mail.link, /type=recovery/);
  assert.equal(mail.redirect_to, 'http://localhost:3000/reset');

  const { data, error: verr } = await supabase.auth.verifyOtp({ email: addr, token: mail.otp, type: 'recovery' });
  assert.equal(verr, null);
  assert.ok(data.session);
  assert.ok(events.includes('PASSWORD_RECOVERY'));
  const newPassword = 'recovered-pass-9';
  assert.equal((await supabase.auth.updateUser({ password: newPassword })).error, null);
  assert.equal((await client().auth.signInWithPassword({ email: addr, password: newPassword })).error, null);

  // The code is single-use.
  const reused = await client().auth.verifyOtp({ email: addr, token: mail.otp, type: 'recovery' });
  assert.equal(reused.error.code, 'otp_expired');
  assert.equal(reused.error.status, 403);

  // A second request within a minute is rate limited for this address.
  const soon = await supabase.auth.resetPasswordForEmail(addr);
  assert.equal(soon.error.code, 'over_email_send_rate_limit');
  assert.equal(soon.error.status, 429);

  // Unknown addresses look the same as known ones.
  assert.equal((await client().auth.resetPasswordForEmail(email('unknown'))).error, null);
});

test('signInWithOtp: magic link for a new address, then the code signs in', async () => {
  const addr = email('otp');
  const supabase = client();
  const { error } = await supabase.auth.signInWithOtp({ email: addr, options: { data: { via: 'otp' } } });
  assert.equal(error, null);
  const mail = await outbox(addr);
  const { data, error: verr } = await supabase.auth.verifyOtp({ email: addr, token: mail.otp, type: 'email' });
  assert.equal(verr, null);
  assert.equal(data.user.email, addr);
  assert.equal(data.user.user_metadata.via, 'otp');
  assert.equal(decode(data.session.access_token).amr[0].method, 'otp');

  const noCreate = await client().auth.signInWithOtp({ email: email('otp-none'), options: { shouldCreateUser: false } });
  assert.equal(noCreate.error.code, 'otp_disabled');

  // The link itself: GET /verify redirects with the session in the fragment.
  const other = email('otp-link');
  await client().auth.signInWithOtp({ email: other });
  const m = await outbox(other);
  const res = await fetch(m.link, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  const frag = new URLSearchParams(loc.hash.slice(1));
  assert.ok(frag.get('access_token'));
  assert.ok(frag.get('refresh_token'));
  assert.equal(frag.get('token_type'), 'bearer');
  const again = await fetch(m.link, { redirect: 'manual' });
  const err = new URLSearchParams(new URL(again.headers.get('location')).hash.slice(1));
  assert.equal(err.get('error_code'), 'otp_expired');
});

test('errors use the 2024-01-01 shape and echo the API version', async () => {
  const res = await fetch(`${url}/auth/v1/token?grant_type=password`, {
    method: 'POST',
    headers: { apikey: anonKey, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' },
    body: JSON.stringify({ email: 'nobody@example.com', password }),
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-supabase-api-version'), '2024-01-01');
  assert.deepEqual(await res.json(), { code: 'invalid_credentials', message: 'Invalid login credentials' });

  const legacy = await fetch(`${url}/auth/v1/token?grant_type=password`, {
    method: 'POST',
    headers: { apikey: anonKey, 'Content-Type': 'application/json' },
    body: '{"email":',
  });
  assert.equal(legacy.status, 400);
  const body = await legacy.json();
  assert.equal(body.code, 400);
  assert.equal(body.error_code, 'bad_json');

  const settings = await fetch(`${url}/auth/v1/settings`, { headers: { apikey: anonKey } });
  const s = await settings.json();
  assert.equal(s.external.email, true);
  assert.equal(s.mailer_autoconfirm, true);
  const health = await (await fetch(`${url}/auth/v1/health`, { headers: { apikey: anonKey } })).json();
  assert.equal(health.name, 'GoTrue');
});

test('PKCE (as @supabase/ssr uses it): magic link, ?code=, exchangeCodeForSession', async () => {
  const addr = email('pkce');
  await client().auth.signUp({ email: addr, password });
  // A storage of our own, to read the code_verifier the client keeps.
  const stored = new Map();
  const storage = {
    getItem: (k) => stored.get(k) ?? null,
    setItem: (k, v) => { stored.set(k, v); },
    removeItem: (k) => { stored.delete(k); },
  };
  const supabase = client(anonKey, { auth: { flowType: 'pkce', storage, persistSession: true, autoRefreshToken: false } });
  const { error } = await supabase.auth.signInWithOtp({ email: addr, options: { emailRedirectTo: 'http://localhost:3000/auth/callback' } });
  assert.equal(error, null);
  const verifierKey = [...stored.keys()].find((k) => k.endsWith('-code-verifier'));
  assert.ok(verifierKey, [...stored.keys()].join());
  const verifier = JSON.parse(stored.get(verifierKey));
  assert.match(verifier, /^[A-Za-z0-9._~-]{43,128}$/);
  const mail = await outbox(addr, 'magiclink');
  assert.match(mail.link, /token=pkce_/);
  const res = await fetch(mail.link, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, 'http://localhost:3000/auth/callback');
  const code = loc.searchParams.get('code');
  assert.ok(code);
  const { data, error: xerr } = await supabase.auth.exchangeCodeForSession(code);
  assert.equal(xerr, null);
  assert.equal(data.user.email, addr);
  assert.equal(decode(data.session.access_token).amr[0].method, 'magiclink');
  // The code is single-use: the same code with its right verifier, sent
  // again to the token endpoint, finds no flow.
  const again = await fetch(`${url}/auth/v1/token?grant_type=pkce`, {
    method: 'POST',
    headers: { apikey: anonKey, 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' },
    body: JSON.stringify({ auth_code: code, code_verifier: verifier }),
  });
  const body = await again.json();
  assert.equal(again.status, 404, JSON.stringify(body));
  assert.equal(body.code, 'flow_state_not_found');
  assert.equal(typeof body.message, 'string');
  assert.equal(body.access_token, undefined);
});

// totpCode is what an authenticator app shows for a base32 secret at time
// at (RFC 6238: HMAC-SHA-1, 30 s steps, 6 digits), with node's crypto.
async function totpCode(secret, at = Date.now()) {
  const { createHmac } = await import('node:crypto');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    assert.ok(v >= 0, `not base32: ${secret}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return n.toString().padStart(6, '0');
}

test('MFA: TOTP enroll, challenge, verify to aal2, listFactors, unenroll', async () => {
  const addr = email('mfa');
  const supabase = client();
  const { error: suErr } = await supabase.auth.signUp({ email: addr, password });
  assert.equal(suErr, null);
  let { data: level } = await supabase.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(level.currentLevel, 'aal1');
  assert.equal(level.nextLevel, 'aal1');

  const { data: enrolled, error: enErr } = await supabase.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'e2e app' });
  assert.equal(enErr, null);
  assert.equal(enrolled.type, 'totp');
  assert.equal(enrolled.friendly_name, 'e2e app');
  assert.match(enrolled.totp.qr_code, /^data:image\/svg\+xml;utf-8,<svg /);
  assert.match(enrolled.totp.uri, /^otpauth:\/\/totp\//);
  let { data: factors } = await supabase.auth.mfa.listFactors();
  assert.equal(factors.all.length, 1);
  assert.equal(factors.all[0].status, 'unverified');
  assert.equal(factors.totp.length, 0, 'listFactors lists verified factors by type');

  const { data: challenge, error: chErr } = await supabase.auth.mfa.challenge({ factorId: enrolled.id });
  assert.equal(chErr, null);
  assert.equal(challenge.type, 'totp');
  assert.ok(challenge.expires_at > Date.now() / 1000);
  const code = await totpCode(enrolled.totp.secret);
  const wrong = (Number(code[0]) + 5) % 10 + code.slice(1);
  const bad = await supabase.auth.mfa.verify({ factorId: enrolled.id, challengeId: challenge.id, code: wrong });
  assert.equal(bad.error?.code, 'mfa_verification_failed');

  const { data: verified, error: vErr } = await supabase.auth.mfa.verify({ factorId: enrolled.id, challengeId: challenge.id, code });
  assert.equal(vErr, null);
  assert.equal(decode(verified.access_token).aal, 'aal2');
  ({ data: level } = await supabase.auth.mfa.getAuthenticatorAssuranceLevel());
  assert.equal(level.currentLevel, 'aal2');
  assert.equal(level.nextLevel, 'aal2');
  assert.deepEqual(level.currentAuthenticationMethods.map((m) => m.method), ['password', 'totp']);
  ({ data: factors } = await supabase.auth.mfa.listFactors());
  assert.equal(factors.totp.length, 1);
  assert.equal(factors.totp[0].id, enrolled.id);

  // A refresh keeps the session's level.
  const { data: refreshed, error: rErr } = await supabase.auth.refreshSession();
  assert.equal(rErr, null);
  assert.equal(decode(refreshed.session.access_token).aal, 'aal2');

  // The admin API sees the factor.
  const { data: listed, error: lErr } = await admin().mfa.listFactors({ userId: verified.user.id });
  assert.equal(lErr, null);
  assert.deepEqual(listed.factors.map((f) => f.id), [enrolled.id]);

  const { error: unErr } = await supabase.auth.mfa.unenroll({ factorId: enrolled.id });
  assert.equal(unErr, null);
  ({ data: factors } = await supabase.auth.mfa.listFactors());
  assert.equal(factors.all.length, 0);

  const res = await fetch(`${url}/auth/v1/factors`, {
    headers: { apikey: anonKey, 'X-Supabase-Api-Version': '2024-01-01' },
  });
  const body = await res.json();
  assert.equal(res.status, 401, JSON.stringify(body));
  assert.equal(body.code, 'no_authorization');
  assert.match(body.message, /Bearer token/);
});

// getClaims verifies the access token as supabase-js does for the signing
// key in use: an HS256 token (JWT_SECRET, the e2e dev's) through GET /user,
// an RS256/ES256 one (JWT_KEYS) locally against /.well-known/jwks.json,
// which publishes public keys only, the token's kid among them.
test('getClaims: verified claims, the JWKS publishes no secret, a tampered token is refused', async () => {
  const jwksRes = await fetch(`${url}/auth/v1/.well-known/jwks.json`);
  assert.equal(jwksRes.status, 200);
  const jwks = await jwksRes.json();
  assert.ok(Array.isArray(jwks.keys));
  for (const k of jwks.keys) {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[member], undefined, `${k.kid}: ${member}`);
    assert.ok(['RS256', 'ES256'].includes(k.alg), k.alg);
    assert.ok(k.kid);
  }

  const supabase = client();
  const addr = email('claims');
  const { data: signed, error } = await supabase.auth.signUp({ email: addr, password });
  assert.equal(error, null);
  const token = signed.session.access_token;
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8'));
  // e2e/run.sh starts the dev with JWT_SECRET alone; JWT_KEYS set in its
  // environment (a key of madbase keys --new-signing-key) reaches the dev.
  assert.equal(header.alg === 'HS256', !process.env.JWT_KEYS, `alg ${header.alg}`);
  if (header.alg === 'HS256') {
    assert.equal(jwks.keys.length, 0, 'an HS256 signer publishes no key');
  } else {
    assert.ok(jwks.keys.some((k) => k.kid === header.kid && k.alg === header.alg), 'the signing key is published');
  }

  const { data, error: cErr } = await supabase.auth.getClaims();
  assert.equal(cErr, null);
  assert.equal(data.claims.email, addr);
  assert.equal(data.claims.sub, signed.user.id);
  assert.equal(data.claims.role, 'authenticated');
  assert.equal(data.header.alg, header.alg);

  // The same token with its payload changed (role service_role) keeps its
  // signature: refused, whichever way getClaims verifies.
  const [h, p, s] = token.split('.');
  const forged = { ...decode(token), role: 'service_role' };
  const tampered = `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`;
  const bad = await supabase.auth.getClaims(tampered);
  assert.equal(bad.data, null);
  assert.ok(bad.error, 'a tampered token is refused');
});
