// Social and OIDC sign-in under supabase-js: a fake provider run by this
// test (node:http, speaking GitHub's OAuth protocol and an OpenID Connect
// issuer's discovery and keys) is configured on a project created through
// control's admin API, by a PATCH of its live configuration. The browser's
// redirect chain is followed with fetch: signInWithOAuth's URL → the
// provider → /callback → redirect_to, then exchangeCodeForSession (PKCE) or
// the fragment (implicit); linkIdentity, getUserIdentities and
// unlinkIdentity; signInWithIdToken with an ID token the fake signed; and
// GoTrue's answers for the features MadBase has off.
//
// The project is reached at its Host <ref>.<PROJECT_DOMAIN> (browser
// navigations carry no key): as in projects.test.js, those requests go over
// node:http to the edge's address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { url, adminPassword } from './helpers.js';
import { domain, edge, loopbackFetch, adminCall } from './hosts.js';

const run = Date.now().toString(36);
const ref = `oa-${run}`;
const hostURL = `${edge.protocol}//${ref}.${domain}:${edge.port}`;
const appURL = 'http://app.test/done';
const password = 'correct-horse-42';

// ---- the fake provider ----

const b64url = (b) => Buffer.from(b).toString('base64url');
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = `fake-${run}`;
const githubClient = { id: 'gh-client', secret: 'gh-secret' };
const googleClient = 'google-client';
const fake = { user: null, codes: new Map(), tokens: new Map(), server: null, base: '' };

function signJWT(claims) {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.sign('RSA-SHA256', Buffer.from(`${head}.${body}`), privateKey);
  return `${head}.${body}.${b64url(sig)}`;
}

// idToken is an ID token of the fake's issuer for the Google provider.
function idToken(user, { nonce, aud = googleClient } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJWT({
    iss: `${fake.base}/google`, sub: user.id, aud, iat: now, exp: now + 600,
    email: user.email, email_verified: true, name: user.name, ...(nonce ? { nonce } : {}),
  });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readForm(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function serveFake(req, res) {
  const u = new URL(req.url, fake.base);
  const bearer = (req.headers.authorization || '').replace(/^Bearer /i, '');
  switch (`${req.method} ${u.pathname}`) {
    case 'GET /gh/login/oauth/authorize': {
      const back = new URL(u.searchParams.get('redirect_uri'));
      if (u.searchParams.get('client_id') !== githubClient.id) return json(res, 400, { error: 'bad client' });
      const code = crypto.randomBytes(16).toString('hex');
      fake.codes.set(code, { user: fake.user, redirect: back.toString() });
      back.searchParams.set('code', code);
      back.searchParams.set('state', u.searchParams.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    case 'POST /gh/login/oauth/access_token': {
      const form = await readForm(req);
      let [id, secret] = [form.get('client_id'), form.get('client_secret')];
      if (req.headers.authorization?.startsWith('Basic ')) {
        [id, secret] = Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent);
      }
      const grant = fake.codes.get(form.get('code'));
      fake.codes.delete(form.get('code'));
      if (id !== githubClient.id || secret !== githubClient.secret) return json(res, 401, { error: 'invalid_client' });
      if (!grant || grant.redirect.split('?')[0] !== form.get('redirect_uri')) return json(res, 400, { error: 'invalid_grant' });
      const token = crypto.randomBytes(16).toString('hex');
      fake.tokens.set(token, grant.user);
      return json(res, 200, { access_token: token, token_type: 'bearer', scope: 'user:email' });
    }
    case 'GET /gh/api/v3/user': {
      const user = fake.tokens.get(bearer);
      if (!user) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, { id: Number(user.id), login: user.login, name: user.name, avatar_url: `${fake.base}/a.png` });
    }
    case 'GET /gh/api/v3/user/emails': {
      const user = fake.tokens.get(bearer);
      if (!user) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, [{ email: user.email, primary: true, verified: true, visibility: 'public' }]);
    }
    case 'GET /google/.well-known/openid-configuration':
      return json(res, 200, {
        issuer: `${fake.base}/google`, authorization_endpoint: `${fake.base}/google/authorize`,
        token_endpoint: `${fake.base}/google/token`, jwks_uri: `${fake.base}/google/jwks`,
        response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
      });
    case 'GET /google/jwks':
      return json(res, 200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
  }
  json(res, 404, { error: 'not found' });
}

// ---- the project ----

const clients = [];

// authClient is supabase-js at the project's Host, with flowType.
function authClient(anon, flowType) {
  const c = createClient(hostURL, anon, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false, flowType },
    realtime: { transport: WebSocket },
    global: { fetch: loopbackFetch },
  });
  clients.push(c);
  return c;
}

let anon;

before(async () => {
  fake.server = http.createServer((req, res) => {
    serveFake(req, res).catch((e) => json(res, 500, { error: String(e) }));
  });
  await new Promise((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.base = `http://127.0.0.1:${fake.server.address().port}`;

  const created = await adminCall('POST', '/projects', { ref, name: `E2E ${ref}`, settings: { AUTH_AUTOCONFIRM: true } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  anon = created.body.keys.anon;
  // The providers come with a change of the live configuration.
  const patched = await adminCall('PATCH', `/projects/${ref}/config`, {
    SITE_URL: 'http://app.test',
    AUTH_EXTERNAL_GITHUB_ENABLED: true,
    AUTH_EXTERNAL_GITHUB_CLIENT_ID: githubClient.id,
    AUTH_EXTERNAL_GITHUB_SECRET: githubClient.secret,
    AUTH_EXTERNAL_GITHUB_URL: `${fake.base}/gh`,
    AUTH_EXTERNAL_GOOGLE_ENABLED: true,
    AUTH_EXTERNAL_GOOGLE_CLIENT_ID: googleClient,
    AUTH_EXTERNAL_GOOGLE_URL: `${fake.base}/google`,
    AUTH_MANUAL_LINKING_ENABLED: true,
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.equal(patched.body.settings.AUTH_EXTERNAL_GITHUB_SECRET, undefined, 'a secret setting is never shown');
  // Every worker took the change: the settings say so on several answers in a row.
  let inRow = 0;
  for (let i = 0; i < 300 && inRow < 6; i++) {
    const res = await loopbackFetch(`${hostURL}/auth/v1/settings`);
    const body = res.status === 200 ? await res.json() : {};
    inRow = body.external?.github === true && body.external?.google === true ? inRow + 1 : 0;
    if (inRow === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(inRow, 6, 'the workers did not take the providers');
});

after(async () => {
  for (const c of clients) await c.removeAllChannels();
  await new Promise((resolve) => fake.server.close(resolve));
});

// browse follows a browser's redirects from start (MadBase's /authorize or
// a linking URL) through the provider and the callback, and returns the
// URL the browser lands on at the app.
async function browse(start) {
  let at = start;
  for (let hops = 0; hops < 5; hops++) {
    const u = new URL(at);
    if (u.origin === new URL(appURL).origin) return u;
    const res = u.hostname.endsWith(domain) ? await loopbackFetch(at) : await fetch(at, { redirect: 'manual' });
    assert.ok([302, 303].includes(res.status), `${at} answered ${res.status} ${await res.text()}`);
    at = new URL(res.headers.get('location'), at).toString();
  }
  throw new Error(`too many redirects from ${start}`);
}

const fragmentOf = (u) => new URLSearchParams(u.hash.slice(1));

test('oauth: signInWithOAuth with PKCE through the provider, then exchangeCodeForSession, getSession and getUser', async () => {
  fake.user = { id: '9001', login: 'ada', name: 'Ada Lovelace', email: `ada-${run}@example.com` };
  const supabase = authClient(anon, 'pkce');
  const { data, error } = await supabase.auth.signInWithOAuth({
    provider: 'github', options: { redirectTo: appURL, skipBrowserRedirect: true, scopes: 'read:org' },
  });
  assert.equal(error, null);
  assert.match(data.url, /code_challenge=/);
  const landed = await browse(data.url);
  assert.equal(landed.pathname, '/done');
  const code = landed.searchParams.get('code');
  assert.ok(code, `no code in ${landed}`);

  const ex = await supabase.auth.exchangeCodeForSession(code);
  assert.equal(ex.error, null, JSON.stringify(ex.error));
  assert.ok(ex.data.session.access_token);
  assert.ok(ex.data.session.provider_token, 'the provider token comes with the session');
  const { data: s } = await supabase.auth.getSession();
  assert.equal(s.session.user.email, fake.user.email);
  const { data: u, error: uerr } = await supabase.auth.getUser();
  assert.equal(uerr, null);
  assert.equal(u.user.app_metadata.provider, 'github');
  assert.equal(u.user.identities.length, 1);
  assert.equal(u.user.identities[0].id, '9001');
  assert.equal(u.user.user_metadata.user_name, 'ada');
  assert.ok(u.user.email_confirmed_at, 'the provider verified the address');
});

test('oauth: the implicit flow puts the session in the fragment, and the same GitHub account finds the same user', async () => {
  const supabase = authClient(anon, 'implicit');
  const { data } = await supabase.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: appURL, skipBrowserRedirect: true } });
  assert.doesNotMatch(data.url, /code_challenge=/);
  const frag = fragmentOf(await browse(data.url));
  assert.ok(frag.get('access_token') && frag.get('refresh_token'), `no session in the fragment: ${frag}`);
  const set = await supabase.auth.setSession({ access_token: frag.get('access_token'), refresh_token: frag.get('refresh_token') });
  assert.equal(set.error, null);
  assert.equal(set.data.user.email, fake.user.email);
  assert.equal(set.data.user.identities[0].provider, 'github');
});

test('oauth: linkIdentity, getUserIdentities and unlinkIdentity', async () => {
  const supabase = authClient(anon, 'pkce');
  const email = `link-${run}@example.com`;
  const { error: signUpError } = await supabase.auth.signUp({ email, password });
  assert.equal(signUpError, null);
  fake.user = { id: '9002', login: 'grace', name: 'Grace Hopper', email: `grace-${run}@example.com` };

  const { data, error } = await supabase.auth.linkIdentity({ provider: 'github', options: { redirectTo: appURL, skipBrowserRedirect: true } });
  assert.equal(error, null, JSON.stringify(error));
  const landed = await browse(data.url);
  const ex = await supabase.auth.exchangeCodeForSession(landed.searchParams.get('code'));
  assert.equal(ex.error, null, JSON.stringify(ex.error));
  assert.equal(ex.data.user.email, email, 'the user keeps its address');

  const ids = await supabase.auth.getUserIdentities();
  assert.equal(ids.error, null);
  assert.deepEqual(ids.data.identities.map((i) => i.provider).sort(), ['email', 'github']);

  const github = ids.data.identities.find((i) => i.provider === 'github');
  const un = await supabase.auth.unlinkIdentity(github);
  assert.equal(un.error, null, JSON.stringify(un.error));
  const after = await supabase.auth.getUserIdentities();
  assert.deepEqual(after.data.identities.map((i) => i.provider), ['email']);

  const last = await supabase.auth.unlinkIdentity(after.data.identities[0]);
  assert.equal(last.error?.code, 'single_identity_not_deletable');
});

test('oauth: signInWithIdToken with a Google ID token', async () => {
  const supabase = authClient(anon, 'implicit');
  const user = { id: 'g-42', name: 'Katherine Johnson', email: `katherine-${run}@example.com` };
  const nonce = crypto.randomBytes(8).toString('hex');
  const hashed = crypto.createHash('sha256').update(nonce).digest('hex');
  const { data, error } = await supabase.auth.signInWithIdToken({ provider: 'google', token: idToken(user, { nonce: hashed }), nonce });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.user.email, user.email);
  assert.equal(data.user.app_metadata.provider, 'google');
  assert.equal(data.session.user.identities[0].id, 'g-42');

  const wrong = await supabase.auth.signInWithIdToken({ provider: 'google', token: idToken(user, { aud: 'another-app' }) });
  assert.match(wrong.error?.message ?? '', /Unacceptable audience/);
});

test('oauth: unknown and disabled providers, SAML and Web3 answer as GoTrue', async () => {
  const unknown = await loopbackFetch(`${hostURL}/auth/v1/authorize?provider=myspace`);
  assert.equal(unknown.status, 400);
  assert.match((await unknown.json()).msg, /Unsupported provider: Provider myspace could not be found/);
  const off = await loopbackFetch(`${hostURL}/auth/v1/authorize?provider=gitlab`);
  assert.equal(off.status, 400);
  assert.equal((await off.json()).msg, 'Unsupported provider: provider is not enabled');

  const supabase = authClient(anon, 'implicit');
  const sso = await supabase.auth.signInWithSSO({ domain: 'example.com' });
  assert.equal(sso.error?.code, 'saml_provider_disabled');
  assert.equal(sso.error?.message, 'SAML 2.0 is disabled');
  const web3 = await loopbackFetch(`${hostURL}/auth/v1/token?grant_type=web3`, {
    method: 'POST', headers: { apikey: anon, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
    body: JSON.stringify({ chain: 'ethereum', message: 'm', signature: '0x' }),
  });
  assert.equal(web3.status, 422);
  assert.deepEqual(await web3.json(), { code: 'web3_provider_disabled', message: 'Web3 provider is disabled' });
});
