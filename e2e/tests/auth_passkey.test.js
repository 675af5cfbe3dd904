// Passkeys (docs/api/auth-passkeys.md) with supabase-js 2.119, unchanged,
// through the edge: registerPasskey and signInWithPasskey drive the WebAuthn
// ceremony through navigator.credentials, which Node lacks, so a software
// authenticator (ES256, attestation "none") stands in for the browser and
// the platform authenticator while those calls run. madbase dev has passkeys
// on and, with no relying party set, takes it from the page's Origin, else
// SITE_URL (http://localhost:3000, relying party "localhost").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { anonKey, serviceKey, client } from './helpers.js';

const run = Date.now().toString(36);
let seq = 0;
const email = (tag) => `${tag}-${run}-${++seq}@example.com`;
const password = 'correct-horse-42';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const toBuf = (v) => Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v);

function decode(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// A minimal CBOR encoder: unsigned and negative integers, byte and text
// strings, maps (keys in canonical order).
function cborHead(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  const b = Buffer.alloc(3);
  b[0] = (major << 5) | 25;
  b.writeUInt16BE(n, 1);
  return b;
}
const cborInt = (v) => (v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v));
const cborBytes = (b) => Buffer.concat([cborHead(2, b.length), b]);
const cborText = (s) => Buffer.concat([cborHead(3, Buffer.byteLength(s)), Buffer.from(s)]);
function cborMap(pairs) {
  const sorted = [...pairs].sort(([a], [b]) => a.length - b.length || Buffer.compare(a, b));
  return Buffer.concat([cborHead(5, sorted.length), ...sorted.flat()]);
}

// SoftAuthenticator holds one discoverable P-256 credential and answers
// create() and get() as a browser with a platform authenticator does for a
// page at origin.
class SoftAuthenticator {
  constructor(origin) {
    this.origin = origin;
    this.signCount = 1;
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.jwk = publicKey.export({ format: 'jwk' });
    this.credId = crypto.randomBytes(16);
    this.userHandle = null;
  }

  clientData(type, challenge) {
    return Buffer.from(JSON.stringify({ type, challenge: b64url(toBuf(challenge)), origin: this.origin, crossOrigin: false }));
  }

  authData(rpId, attested) {
    const flags = 0x01 | 0x04 | (attested ? 0x40 : 0); // UP, UV, AT
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.signCount++);
    const parts = [crypto.createHash('sha256').update(rpId).digest(), Buffer.from([flags]), count];
    if (attested) {
      const cose = cborMap([
        [cborInt(1), cborInt(2)], [cborInt(3), cborInt(-7)], [cborInt(-1), cborInt(1)],
        [cborInt(-2), cborBytes(Buffer.from(this.jwk.x, 'base64url'))],
        [cborInt(-3), cborBytes(Buffer.from(this.jwk.y, 'base64url'))],
      ]);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credId.length);
      parts.push(Buffer.alloc(16), len, this.credId, cose); // AAGUID: zeros, as "none" allows
    }
    return Buffer.concat(parts);
  }

  // create takes navigator.credentials.create()'s publicKey argument (as
  // auth-js deserializes it: ArrayBuffers) and returns the credential's JSON
  // form, which auth-js sends.
  create(publicKey) {
    this.userHandle = toBuf(publicKey.user.id);
    const clientDataJSON = this.clientData('webauthn.create', publicKey.challenge);
    const attestationObject = cborMap([
      [cborText('fmt'), cborText('none')],
      [cborText('attStmt'), cborMap([])],
      [cborText('authData'), cborBytes(this.authData(publicKey.rp.id, true))],
    ]);
    const id = b64url(this.credId);
    return {
      id, rawId: id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal'] },
    };
  }

  get(publicKey) {
    const clientDataJSON = this.clientData('webauthn.get', publicKey.challenge);
    const authenticatorData = this.authData(publicKey.rpId, false);
    const signed = Buffer.concat([authenticatorData, crypto.createHash('sha256').update(clientDataJSON).digest()]);
    const signature = crypto.sign('sha256', signed, { key: this.privateKey, dsaEncoding: 'der' });
    const id = b64url(this.credId);
    return {
      id, rawId: id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authenticatorData),
        signature: b64url(signature), userHandle: b64url(this.userHandle),
      },
    };
  }
}

// withBrowser runs fn with the globals auth-js looks for when it drives a
// WebAuthn ceremony (window, document, navigator.credentials,
// PublicKeyCredential) answered by authenticator, and removes them after.
async function withBrowser(authenticator, fn) {
  class PublicKeyCredential {
    constructor(json) {
      this.json = json;
      this.id = json.id;
    }

    toJSON() {
      return this.json;
    }
  }
  const credentials = {
    create: async ({ publicKey }) => new PublicKeyCredential(authenticator.create(publicKey)),
    get: async ({ publicKey }) => new PublicKeyCredential(authenticator.get(publicKey)),
  };
  const saved = {};
  const globals = { window: { PublicKeyCredential }, document: {}, navigator: { credentials }, PublicKeyCredential };
  for (const [k, v] of Object.entries(globals)) {
    saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(globals)) {
      if (saved[k]) Object.defineProperty(globalThis, k, saved[k]);
      else delete globalThis[k];
    }
  }
}

async function signedUpClient(tag, options) {
  const sb = client(anonKey, options);
  const { data, error } = await sb.auth.signUp({ email: email(tag), password });
  assert.equal(error, null);
  assert.ok(data.session, 'madbase dev autoconfirms');
  return { sb, user: data.user };
}

test('passkeys: registerPasskey, signInWithPasskey, list, update, delete', async () => {
  const { sb, user } = await signedUpClient('passkey');
  const authenticator = new SoftAuthenticator('http://localhost:3000');

  const reg = await withBrowser(authenticator, () => sb.auth.registerPasskey());
  assert.equal(reg.error, null, JSON.stringify(reg.error));
  assert.ok(reg.data.id);
  assert.equal(reg.data.friendly_name, 'Passkey');

  // A new client that knows nobody signs in with the passkey alone.
  const other = client();
  const signIn = await withBrowser(authenticator, () => other.auth.signInWithPasskey());
  assert.equal(signIn.error, null, JSON.stringify(signIn.error));
  const { session } = signIn.data;
  assert.ok(session?.access_token && session.refresh_token);
  assert.equal(signIn.data.user.id, user.id);
  const claims = decode(session.access_token);
  assert.equal(claims.sub, user.id);
  assert.deepEqual(claims.amr.map((a) => a.method), ['passkey']);
  const { data: got, error: getErr } = await other.auth.getUser();
  assert.equal(getErr, null);
  assert.equal(got.user.id, user.id);

  // The session works with setSession elsewhere, as any session does.
  const third = client();
  const set = await third.auth.setSession({ access_token: session.access_token, refresh_token: session.refresh_token });
  assert.equal(set.error, null);
  assert.equal((await third.auth.getUser()).data.user.id, user.id);

  // Manage the passkey.
  const list = await sb.auth.passkey.list();
  assert.equal(list.error, null);
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, reg.data.id);
  assert.ok(list.data[0].last_used_at, 'used to sign in');
  const upd = await sb.auth.passkey.update({ passkeyId: reg.data.id, friendlyName: 'Laptop' });
  assert.equal(upd.error, null);
  assert.equal(upd.data.friendly_name, 'Laptop');
  const del = await sb.auth.passkey.delete({ passkeyId: reg.data.id });
  assert.equal(del.error, null);
  assert.deepEqual((await sb.auth.passkey.list()).data, []);

  // Deleted, it no longer signs in.
  const again = await withBrowser(authenticator, () => client().auth.signInWithPasskey());
  assert.equal(again.error?.code, 'webauthn_verification_failed');
  assert.equal(again.data, null);
});

test('passkeys: the two-step API, a replayed challenge, another origin', async () => {
  const { sb } = await signedUpClient('passkey-steps');
  const authenticator = new SoftAuthenticator('http://localhost:3000');
  await withBrowser(authenticator, () => sb.auth.registerPasskey());

  // startAuthentication / verifyAuthentication, the credential made by hand.
  const pub = client();
  const start = await pub.auth.passkey.startAuthentication();
  assert.equal(start.error, null);
  assert.equal(start.data.options.rpId, 'localhost');
  assert.ok(start.data.expires_at > Date.now() / 1000);
  const answer = authenticator.get({ ...start.data.options, challenge: Buffer.from(start.data.options.challenge, 'base64url') });
  const ok = await pub.auth.passkey.verifyAuthentication({ challengeId: start.data.challenge_id, credential: answer });
  assert.equal(ok.error, null);
  assert.ok(ok.data.session.access_token);

  const replay = await client().auth.passkey.verifyAuthentication({ challengeId: start.data.challenge_id, credential: answer });
  assert.equal(replay.error?.code, 'webauthn_challenge_not_found');
  assert.equal(replay.error?.status, 400);

  // The same passkey answering for a page at another origin is refused.
  const evil = await withBrowser(authenticator, async () => {
    authenticator.origin = 'http://evil.localhost:3000';
    try {
      return await client().auth.signInWithPasskey();
    } finally {
      authenticator.origin = 'http://localhost:3000';
    }
  });
  assert.equal(evil.error?.code, 'webauthn_verification_failed');
});

test('passkeys: a page on another local port is its own relying party in dev', async () => {
  // A browser sends its page's Origin; the client's fetch does it here.
  const page = 'http://localhost:5173';
  const fetchFromPage = (input, init = {}) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), Origin: page } });
  const { sb } = await signedUpClient('passkey-page', { global: { fetch: fetchFromPage } });
  const authenticator = new SoftAuthenticator(page);
  const reg = await withBrowser(authenticator, () => sb.auth.registerPasskey());
  assert.equal(reg.error, null, JSON.stringify(reg.error));
  const signIn = await withBrowser(authenticator, () => client(anonKey, { global: { fetch: fetchFromPage } }).auth.signInWithPasskey());
  assert.equal(signIn.error, null, JSON.stringify(signIn.error));
  assert.ok(signIn.data.session.access_token);
});

test('passkeys: admin listPasskeys and deletePasskey', async () => {
  const { sb, user } = await signedUpClient('passkey-admin');
  const authenticator = new SoftAuthenticator('http://localhost:3000');
  const reg = await withBrowser(authenticator, () => sb.auth.registerPasskey());
  assert.equal(reg.error, null);

  const admin = client(serviceKey).auth.admin;
  const list = await admin.passkey.listPasskeys({ userId: user.id });
  assert.equal(list.error, null);
  assert.deepEqual(list.data.map((p) => p.id), [reg.data.id]);
  const del = await admin.passkey.deletePasskey({ userId: user.id, passkeyId: reg.data.id });
  assert.equal(del.error, null);
  assert.deepEqual((await admin.passkey.listPasskeys({ userId: user.id })).data, []);
  const gone = await admin.passkey.deletePasskey({ userId: user.id, passkeyId: reg.data.id });
  assert.equal(gone.error?.status, 404);

  // Without the service role: refused.
  const denied = await client().auth.admin.passkey.listPasskeys({ userId: user.id });
  assert.equal(denied.error?.status, 403);
});
