// /realtime/v1 under supabase-js: channels over the edge with 2 workers
// (two clients connected one after the other land on different workers, as
// the edge goes round-robin; the broadcast test checks it), against the
// tables of e2e/fixtures/realtime.sql.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { url, anonKey, serviceKey, adminPassword, client, waitFor, subscribed } from './helpers.js';
import { userToken } from './jwt.js';

const ALICE = '00000000-0000-4000-8000-00000000a11c';
const BOB = '00000000-0000-4000-8000-000000000b0b';
const clients = [];

function rt(key = anonKey, options = {}) {
  const c = client(key, options);
  clients.push(c);
  return c;
}

after(async () => {
  for (const c of clients) await c.removeAllChannels();
});

let seq = 0;
const uniq = (p) => `${p}-${process.pid}-${Date.now()}-${seq++}`;

test('broadcast: self and ack on one client', async () => {
  const c = rt();
  const got = [];
  const ch = c.channel(uniq('self'), { config: { broadcast: { self: true, ack: true } } })
    .on('broadcast', { event: 'ping' }, (m) => got.push(m.payload));
  await subscribed(ch);
  const res = await ch.send({ type: 'broadcast', event: 'ping', payload: { n: 1 } });
  assert.equal(res, 'ok');
  await waitFor(() => got.length === 1, 'own broadcast');
  assert.deepEqual(got[0], { n: 1 });
});

// socketsPerWorker reads every worker's realtime socket gauge straight from
// its /metrics (the workers are listed by control, through the edge).
async function socketsPerWorker() {
  const res = await fetch(`${url}/admin/v1/workers`, { headers: { Authorization: `Bearer ${adminPassword}` } });
  const { workers } = await res.json();
  const out = {};
  for (const w of workers) {
    const text = await (await fetch(`${w.url}/metrics`)).text();
    const m = text.match(/^madbase_worker_realtime_sockets (\d+)/m);
    out[w.id] = m ? Number(m[1]) : 0;
  }
  return out;
}

test('broadcast: between two clients, in order, not to self by default', async () => {
  const topic = uniq('room');
  const before = await socketsPerWorker();
  const a = rt();
  const b = rt();
  const gotA = [];
  const gotB = [];
  const chA = a.channel(topic).on('broadcast', { event: 'msg' }, (m) => gotA.push(m.payload.i));
  const chB = b.channel(topic).on('broadcast', { event: 'msg' }, (m) => gotB.push(m.payload.i));
  await subscribed(chA);
  await subscribed(chB);
  // The two sockets sit on different workers: the message crosses NATS.
  const now = await socketsPerWorker();
  assert.equal(Object.keys(now).length, 2);
  for (const id of Object.keys(now)) assert.equal(now[id] - (before[id] ?? 0), 1, `one new socket on ${id}`);
  for (let i = 0; i < 20; i++) await chA.send({ type: 'broadcast', event: 'msg', payload: { i } });
  await waitFor(() => gotB.length === 20, 'twenty messages on b');
  assert.deepEqual(gotB, [...Array(20).keys()]);
  assert.deepEqual(gotA, []);
});

test('broadcast over HTTP: batch endpoint and httpSend', async () => {
  const topic = uniq('http');
  const got = [];
  const rx = rt().channel(topic).on('broadcast', { event: '*' }, (m) => got.push(m));
  await subscribed(rx);
  // send() on a channel that is not joined posts /api/broadcast.
  const tx = rt(serviceKey).channel(topic);
  const res = await tx.send({ type: 'broadcast', event: 'batch', payload: { via: 'rest' } });
  assert.equal(res, 'ok');
  const r = await fetch(`${url}/realtime/v1/api/broadcast/${encodeURIComponent(topic)}/events/single`, {
    method: 'POST',
    headers: { apikey: anonKey, Authorization: `Bearer ${anonKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ via: 'single' }),
  });
  assert.equal(r.status, 202);
  const sent = await tx.httpSend('viaclient', { via: 'httpSend' });
  assert.equal(sent.success, true, JSON.stringify(sent));
  await waitFor(() => got.length === 3, 'three HTTP broadcasts');
  assert.deepEqual(got.map((m) => [m.event, m.payload.via]).sort(),
    [['batch', 'rest'], ['single', 'single'], ['viaclient', 'httpSend']]);
  const bad = await fetch(`${url}/realtime/v1/api/broadcast`, {
    method: 'POST', headers: { apikey: 'nope', Authorization: 'Bearer nope', 'Content-Type': 'application/json' }, body: '{}',
  });
  assert.equal(bad.status, 401);
});

test('presence: both clients see each other, and the leave', async () => {
  const topic = uniq('presence');
  const a = rt();
  const b = rt();
  const chA = a.channel(topic, { config: { presence: { key: 'alice' } } });
  const chB = b.channel(topic, { config: { presence: { key: 'bob' } } });
  const leaves = [];
  chA.on('presence', { event: 'sync' }, () => {}).on('presence', { event: 'leave' }, ({ key }) => leaves.push(key));
  chB.on('presence', { event: 'sync' }, () => {});
  await subscribed(chA);
  await subscribed(chB);
  assert.equal(await chA.track({ name: 'Alice' }), 'ok');
  assert.equal(await chB.track({ name: 'Bob' }), 'ok');
  const both = (ch) => Object.keys(ch.presenceState()).sort().join(',') === 'alice,bob';
  await waitFor(() => both(chA) && both(chB), 'both presences on both clients');
  assert.equal(chA.presenceState().bob[0].name, 'Bob');
  await b.removeChannel(chB);
  await waitFor(() => leaves.includes('bob'), 'bob leaving');
  assert.deepEqual(Object.keys(chA.presenceState()), ['alice']);
});

test('postgres_changes: INSERT, UPDATE, DELETE with and without a filter', async () => {
  const c = rt();
  const all = [];
  const filtered = [];
  const ch = c.channel(uniq('changes'))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'rt_todos' }, (p) => all.push(p))
    .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'rt_todos', filter: 'priority=gte.5' }, (p) => filtered.push(p));
  const systems = [];
  ch.on('system', {}, (p) => systems.push(p));
  await subscribed(ch);
  await waitFor(() => systems.some((s) => s.extension === 'postgres_changes'), 'system message');
  assert.equal(systems.find((s) => s.extension === 'postgres_changes').status, 'ok');

  const db = rt(serviceKey);
  const { data: row, error } = await db.from('rt_todos').insert({ title: 'a', priority: 1 }).select().single();
  assert.equal(error, null);
  await waitFor(() => all.length === 1, 'INSERT');
  assert.equal(all[0].eventType, 'INSERT');
  assert.equal(all[0].new.title, 'a');
  assert.equal(all[0].new.done, false);

  assert.equal((await db.from('rt_todos').update({ priority: 2 }).eq('id', row.id)).error, null);
  assert.equal((await db.from('rt_todos').update({ priority: 7, title: 'b' }).eq('id', row.id)).error, null);
  await waitFor(() => all.length === 3, 'two UPDATEs');
  assert.equal(all[2].eventType, 'UPDATE');
  assert.equal(all[2].old.priority, 2);
  assert.equal(all[2].new.title, 'b');
  await waitFor(() => filtered.length === 1, 'filtered UPDATE');
  assert.equal(filtered[0].new.priority, 7);

  assert.equal((await db.from('rt_todos').delete().eq('id', row.id)).error, null);
  await waitFor(() => all.length === 4, 'DELETE');
  assert.equal(all[3].eventType, 'DELETE');
  assert.equal(all[3].old.id, row.id);
  assert.equal(filtered.length, 1);
});

test('postgres_changes respect RLS for each subscriber', async () => {
  const alice = rt(anonKey);
  const bob = rt(anonKey);
  await alice.realtime.setAuth(userToken(ALICE));
  await bob.realtime.setAuth(userToken(BOB));
  const gotA = [];
  const gotB = [];
  const chA = alice.channel(uniq('notes')).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_notes' }, (p) => gotA.push(p.new.body));
  const chB = bob.channel(uniq('notes')).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_notes' }, (p) => gotB.push(p.new.body));
  await subscribed(chA);
  await subscribed(chB);
  const db = rt(serviceKey);
  assert.equal((await db.from('rt_notes').insert({ owner: ALICE, body: 'for alice' })).error, null);
  assert.equal((await db.from('rt_notes').insert({ owner: BOB, body: 'for bob' })).error, null);
  await waitFor(() => gotA.length === 1 && gotB.length === 1, 'one note each');
  assert.deepEqual(gotA, ['for alice']);
  assert.deepEqual(gotB, ['for bob']);
});

test('private channels are authorized by realtime.messages policies', async () => {
  const alice = rt(anonKey);
  await alice.realtime.setAuth(userToken(ALICE));
  const ok = alice.channel(`room:${ALICE}`, { config: { private: true, broadcast: { self: true } } });
  const got = [];
  ok.on('broadcast', { event: 'hi' }, (m) => got.push(m.payload));
  await subscribed(ok);
  await ok.send({ type: 'broadcast', event: 'hi', payload: { x: 1 } });
  await waitFor(() => got.length === 1, 'private broadcast');

  const denied = alice.channel(`room:${BOB}`, { config: { private: true } });
  await assert.rejects(subscribed(denied), /Unauthorized/);
  await alice.removeChannel(denied);
});
