// Edge functions under supabase-js's functions.invoke: the fixtures of
// e2e/fixtures/functions/ are bundled and deployed with `madbase functions
// deploy` (control's admin API), carried to both workers over NATS and
// invoked through the edge. Bodies of every kind, every method, a function
// that reads REST with the caller's token (row-level security applies), a
// streamed response, secrets, a redeploy, verify_jwt refusals, and an npm
// import refused at deploy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { client, url, anonKey, serviceKey } from './helpers.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'functions');
const bin = process.env.MADBASE_BIN;

function madbase(...args) {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function deploy(dir, ...names) {
  return madbase('functions', 'deploy', '--dir', dir, ...names);
}

// eventually retries fn until it stops throwing (a deploy reaches the
// workers over NATS within a moment).
async function eventually(fn, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let deployed = false;
async function setup() {
  if (deployed) return;
  deploy(fixtures, 'echo', 'binary', 'notes', 'stream', 'secret', 'version');
  deployed = true;
  // Every worker knows them (requests alternate between the two).
  const supabase = client();
  for (const name of ['echo', 'binary', 'notes', 'stream', 'secret', 'version']) {
    for (let i = 0; i < 2; i++) {
      await eventually(async () => {
        const { error } = await supabase.functions.invoke(name, { method: 'GET' });
        if (error && error.context?.status === 404) throw error;
      });
    }
  }
}

test('functions: JSON, text, binary and FormData bodies', async () => {
  await setup();
  const supabase = client();
  let { data, error } = await supabase.functions.invoke('echo', { body: { hello: 'world', n: 1 } });
  assert.equal(error, null);
  assert.deepEqual(data.body, { json: { hello: 'world', n: 1 } });
  assert.equal(data.method, 'POST');
  assert.equal(data.path, '/echo');
  assert.equal(data.role, 'anon', 'verify_jwt functions get the caller\'s claims');

  ({ data, error } = await supabase.functions.invoke('echo', { body: 'plain text' }));
  assert.equal(error, null);
  assert.deepEqual(data.body, { text: 'plain text' });

  ({ data, error } = await supabase.functions.invoke('binary', { body: new Uint8Array([1, 2, 3, 250]).buffer }));
  assert.equal(error, null);
  assert.ok(data instanceof Blob, 'application/octet-stream answers are read as a Blob');
  assert.deepEqual([...new Uint8Array(await data.arrayBuffer())], [250, 3, 2, 1]);

  const form = new FormData();
  form.append('field', 'value');
  form.append('file', new Blob(['file content'], { type: 'text/plain' }), 'notes.txt');
  ({ data, error } = await supabase.functions.invoke('echo', { body: form }));
  assert.equal(error, null);
  assert.deepEqual(data.body.form, { field: 'value', file: { name: 'notes.txt', type: 'text/plain', text: 'file content' } });
});

test('functions: GET, POST, PUT and DELETE with headers, query and sub-paths', async () => {
  await setup();
  const supabase = client();
  for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
    const { data, error } = await supabase.functions.invoke('echo/sub/path?x=1', {
      method, headers: { 'x-custom': method.toLowerCase(), 'x-region': 'us-east-1' },
      ...(method === 'PUT' ? { body: { put: true } } : {}),
    });
    assert.equal(error, null, method);
    assert.equal(data.method, method);
    assert.equal(data.path, '/echo/sub/path');
    assert.deepEqual(data.query, { x: '1' });
    assert.equal(data.custom, method.toLowerCase());
    if (method === 'PUT') assert.deepEqual(data.body, { json: { put: true } });
  }
});

test('functions: a function reading REST with the caller\'s token sees row-level security', async (t) => {
  await setup();
  const email = `fn-${Date.now()}@example.com`;
  const user = client();
  const { data: signUp, error: signUpError } = await user.auth.signUp({ email, password: 'a-long-password-1' });
  assert.equal(signUpError, null);
  const uid = signUp.user.id;
  const { error: insertError } = await user.from('rest_notes').insert({ body: 'fn private note' });
  assert.equal(insertError, null);
  // rest.test.js counts every note of the shared table: this one goes.
  t.after(async () => {
    const { error: deleteError } = await client(serviceKey).from('rest_notes').delete().eq('owner', uid);
    assert.equal(deleteError, null);
  });

  const { data, error } = await user.functions.invoke('notes', { method: 'GET' });
  assert.equal(error, null);
  assert.ok(data.length >= 1);
  assert.ok(data.every((n) => n.owner === uid), 'only the caller\'s own notes');
  assert.ok(data.some((n) => n.body === 'fn private note'));

  const { data: asAnon, error: anonError } = await client().functions.invoke('notes', { method: 'GET' });
  assert.equal(anonError, null);
  assert.ok(!asAnon.some((n) => n.body === 'fn private note'), 'anon does not see a private note');
});

test('functions: a streamed response arrives in pieces', async () => {
  await setup();
  const { data, error } = await client().functions.invoke('stream', { method: 'GET' });
  assert.equal(error, null);
  assert.ok(data instanceof Response, 'text/event-stream answers are handed over as the Response');
  const reader = data.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let reads = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    reads++;
    text += decoder.decode(value, { stream: true });
  }
  assert.equal(text, 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n');
  assert.ok(reads > 1, `the body came in ${reads} read(s)`);
});

test('functions: secrets are read with Deno.env.get', async () => {
  await setup();
  madbase('secrets', 'set', `E2E_SECRET=s3cret-${process.pid}`);
  assert.match(madbase('secrets', 'list'), /E2E_SECRET/);
  assert.doesNotMatch(madbase('secrets', 'list', '--json'), /s3cret/, 'values never leave control');
  const supabase = client();
  for (let i = 0; i < 2; i++) {
    await eventually(async () => {
      const { data, error } = await supabase.functions.invoke('secret', { method: 'GET' });
      assert.equal(error, null);
      assert.equal(data.secret, `s3cret-${process.pid}`);
    });
  }
});

test('functions: a redeploy is served by every worker', async () => {
  await setup();
  const dir = mkdtempSync(join(tmpdir(), 'madbase-fn-'));
  try {
    cpSync(join(fixtures, 'version'), join(dir, 'version'), { recursive: true });
    const src = readFileSync(join(dir, 'version', 'index.ts'), 'utf8');
    writeFileSync(join(dir, 'version', 'index.ts'), src.replace("'v1'", "'v2'"));
    assert.match(deploy(dir, 'version'), /Deployed version version \d+/);
    const supabase = client();
    await eventually(async () => {
      // Two in a row: both workers serve the new version.
      for (let i = 0; i < 2; i++) {
        const { data, error } = await supabase.functions.invoke('version', { method: 'GET' });
        assert.equal(error, null);
        assert.equal(data, 'v2');
      }
    });
    assert.match(madbase('functions', 'list'), /version\s+\d+\s+true/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('functions: verify_jwt refuses a request without a valid JWT; unknown functions are 404', async () => {
  await setup();
  let res = await fetch(`${url}/functions/v1/echo`, { headers: { apikey: anonKey } });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { code: 'UNAUTHORIZED_NO_AUTH_HEADER', message: 'Missing authorization header' });
  res = await fetch(`${url}/functions/v1/echo`, { headers: { apikey: anonKey, Authorization: 'Bearer not.a.jwt' } });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).code, 'UNAUTHORIZED_INVALID_JWT_FORMAT');

  const { error } = await client().functions.invoke('does-not-exist');
  assert.equal(error?.context?.status, 404);
  assert.equal((await error.context.json()).code, 'NOT_FOUND');
});

test('functions: an npm import is refused at deploy with a clear error', () => {
  assert.throws(() => deploy(join(fixtures, '_refused'), 'npm-import'), (e) => {
    assert.match(e.stderr, /npm: imports are not supported/);
    return true;
  });
});
