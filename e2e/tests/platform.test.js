// The platform under supabase-js: the edge, its workers and control.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { url, anonKey, adminPassword, client } from './helpers.js';

test('the edge answers its own health check and knows both workers', async () => {
  const res = await fetch(`${url}/health`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.workers_healthy, 2);
});

test('API requests are spread round-robin over the workers', async () => {
  const seen = new Map();
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${url}/rest/v1/`, { headers: { apikey: anonKey } });
    await res.arrayBuffer();
    const worker = res.headers.get('x-madbase-worker');
    assert.ok(worker, 'x-madbase-worker header missing');
    assert.ok(res.headers.get('x-request-id'));
    seen.set(worker, (seen.get(worker) ?? 0) + 1);
  }
  assert.deepEqual([...seen.values()], [3, 3]);
});

test('a browser preflight for a supabase-js request is answered by the edge', async () => {
  const res = await fetch(`${url}/rest/v1/todos?select=*`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'http://localhost:5173',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'apikey,authorization,x-client-info,accept-profile',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-headers'), /x-client-info/);
});

test('unknown paths get the JSON error shape, never HTML', async () => {
  const res = await fetch(`${url}/nothing-here`);
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.code, 404);
  assert.equal(typeof body.error, 'string');
});

test('the admin API is reachable through the edge with the admin password only', async () => {
  const anon = await fetch(`${url}/admin/v1/workers`);
  assert.equal(anon.status, 401);
  assert.equal((await anon.json()).code, 401);
  const res = await fetch(`${url}/admin/v1/workers`, { headers: { Authorization: `Bearer ${adminPassword}` } });
  assert.equal(res.status, 200);
  const { workers } = await res.json();
  assert.equal(workers.length, 2);
  for (const w of workers) {
    assert.match(w.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  }
});

test('supabase-js reaches a worker, which answers PGRST205 for a table that does not exist', async () => {
  const answers = [];
  const supabase = client(anonKey, {
    global: { fetch: async (...args) => { const res = await fetch(...args); answers.push(res); return res; } },
  });
  const { data, error, status } = await supabase.from('platform_missing').select('*');
  assert.equal(answers.length, 1, 'one request reached the edge');
  assert.ok(answers[0].headers.get('x-madbase-worker'), 'a worker answered');
  assert.equal(status, 404);
  assert.equal(data, null);
  assert.equal(error.code, 'PGRST205');
  assert.equal(error.message, "Could not find the table 'public.platform_missing' in the schema cache");
});
