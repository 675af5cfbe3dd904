// /rest/v1 under supabase-js: from() and rpc() through the edge, against the
// tables of e2e/fixtures/rest.sql.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { url, anonKey, serviceKey, publishableKey, secretKey, databaseUrl, adminPassword, client } from './helpers.js';
import { userToken } from './jwt.js';

const ALICE = '00000000-0000-4000-8000-0000000000a1';
const BOB = '00000000-0000-4000-8000-0000000000b2';

const anon = client();
const service = client(serviceKey);
const asUser = (sub) => client(anonKey, { global: { headers: { Authorization: `Bearer ${userToken(sub)}` } } });

function ok({ data, error }) {
  assert.equal(error, null, `unexpected error: ${JSON.stringify(error)}`);
  return data;
}

test('select with columns, aliases, casts and JSON paths', async () => {
  const data = ok(await anon.from('rest_authors').select('id, who:name, born:bio->born, city:bio->address->>city, id_text:id::text').order('id').limit(1));
  assert.deepEqual(data, [{ id: 1, who: 'Ursula', born: 1929, city: 'Berkeley', id_text: '1' }]);
});

test('filters: comparison, pattern, null, list, array, range, full-text', async () => {
  const ids = async (q) => ok(await q.order('id')).map((r) => r.id);
  const books = () => anon.from('rest_books').select('id');
  assert.deepEqual(await ids(books().eq('pages', 165)), [3]);
  assert.deepEqual(await ids(books().neq('author_id', 1)), [3, 4]);
  assert.deepEqual(await ids(books().gt('pages', 300)), [1, 2]);
  assert.deepEqual(await ids(books().gte('pages', 304)), [1, 2]);
  assert.deepEqual(await ids(books().lt('pages', 200)), [3]);
  assert.deepEqual(await ids(books().lte('pages', 260)), [3, 4]);
  assert.deepEqual(await ids(books().like('title', 'The%')), [1, 2]);
  assert.deepEqual(await ids(books().ilike('title', '%CITIES%')), [3]);
  assert.deepEqual(await ids(books().likeAnyOf('title', ['%Cities%', '%winter%'])), [3, 4]);
  assert.deepEqual(await ids(books().ilikeAllOf('title', ['the%', '%hand%'])), [2]);
  assert.deepEqual(await ids(books().is('editor_id', null)), [2, 4]);
  assert.deepEqual(await ids(books().not('editor_id', 'is', null)), [1, 3]);
  assert.deepEqual(await ids(books().in('id', [1, 3, 3])), [1, 3]);
  assert.deepEqual(await ids(books().notIn('id', [1, 2])), [3, 4]);
  assert.deepEqual(await ids(books().isDistinct('editor_id', 1)), [1, 2, 4]);
  assert.deepEqual(await ids(books().contains('tags', ['classic'])), [1, 3]);
  assert.deepEqual(await ids(books().containedBy('tags', ['sf', 'classic'])), [1, 2, 4]);
  assert.deepEqual(await ids(books().overlaps('tags', ['fable', 'sf'])), [1, 2, 3]);
  assert.deepEqual(await ids(books().contains('meta', { rating: 5 })), [1, 4]);
  assert.deepEqual(await ids(books().rangeLt('during', '[1971,1980)')), [2]);
  assert.deepEqual(await ids(books().rangeGt('during', '[1960,1973)')), [1]);
  assert.deepEqual(await ids(books().rangeAdjacent('during', '[1975,1980)')), [1]);
  assert.deepEqual(await ids(books().rangeGte('during', '[1970,1980)')), [1, 3]);
  assert.deepEqual(await ids(books().rangeLte('during', '[1960,1970)')), [2]);
  assert.deepEqual(await ids(books().textSearch('fts', 'dispossessed')), [1]);
  assert.deepEqual(await ids(books().textSearch('title', 'left hand', { type: 'plain', config: 'english' })), [2]);
  assert.deepEqual(await ids(books().textSearch('fts', '"invisible cities" or darkness', { type: 'websearch' })), [2, 3]);
  assert.deepEqual(await ids(books().textSearch('fts', 'left hand', { type: 'phrase' })), [2]);
  assert.deepEqual(await ids(books().regexMatch('title', '^Inv')), [3]);
  assert.deepEqual(await ids(books().regexIMatch('title', '^inv')), [3]);
  assert.deepEqual(await ids(books().match({ author_id: 2, pages: 260 })), [4]);
  assert.deepEqual(await ids(books().filter('pages', 'in', '(165,260)')), [3, 4]);
  assert.deepEqual(await ids(books().eq('meta->>rating', '4')), [2]);
  assert.deepEqual(await ids(books().eq('status', 'published').gte('published', '1974-01-01')), [1, 4]);
});

test('or / and / not trees', async () => {
  const ids = async (q) => ok(await q.order('id')).map((r) => r.id);
  const books = () => anon.from('rest_books').select('id');
  assert.deepEqual(await ids(books().or('id.eq.1,pages.lt.200')), [1, 3]);
  assert.deepEqual(await ids(books().or('id.eq.4,and(author_id.eq.1,pages.lt.350)')), [2, 4]);
  assert.deepEqual(await ids(books().or('title.eq."Invisible Cities",id.in.(1,2)')), [1, 2, 3]);
  assert.deepEqual(await ids(books().not('id', 'in', '(1,2)')), [3, 4]);
  assert.deepEqual(await ids(books().or('id.eq.1,id.eq.2').or('id.eq.2,id.eq.3')), [2]);
});

test('order, limit, range and counts', async () => {
  let { data, count, error } = await anon.from('rest_books').select('id', { count: 'exact' }).order('pages', { ascending: false }).range(1, 2);
  assert.equal(error, null);
  assert.deepEqual(data.map((r) => r.id), [2, 4]);
  assert.equal(count, 4);

  ({ data, error } = await anon.from('rest_books').select('id').order('author_id', { ascending: true }).order('id', { ascending: false }).limit(3));
  assert.equal(error, null);
  assert.deepEqual(data.map((r) => r.id), [2, 1, 4]);

  ({ data, count, error } = await anon.from('rest_books').select('*', { count: 'exact', head: true }).eq('author_id', 1));
  assert.equal(error, null);
  assert.equal(data, null);
  assert.equal(count, 2);

  ({ count, error } = await anon.from('rest_books').select('id', { count: 'planned' }));
  assert.equal(error, null);
  assert.equal(typeof count, 'number');
  ({ count, error } = await anon.from('rest_books').select('id', { count: 'estimated' }));
  assert.equal(error, null);
  assert.equal(count, 4);

  ({ data, error } = await anon.from('rest_books').select('id').order('published', { ascending: false, nullsFirst: true }).limit(1));
  assert.equal(error, null);
  assert.deepEqual(data, [{ id: 4 }]);
});

test('single and maybeSingle', async () => {
  let { data, error } = await anon.from('rest_books').select('id, title').eq('id', 3).single();
  assert.equal(error, null);
  assert.deepEqual(data, { id: 3, title: 'Invisible Cities' });

  ({ data, error } = await anon.from('rest_books').select('id').eq('id', 999).single());
  assert.equal(data, null);
  assert.equal(error.code, 'PGRST116');
  assert.equal(error.details, 'The result contains 0 rows');

  ({ data, error } = await anon.from('rest_books').select('id').eq('id', 999).maybeSingle());
  assert.equal(error, null);
  assert.equal(data, null);

  ({ data, error } = await anon.from('rest_books').select('id').eq('id', 2).maybeSingle());
  assert.equal(error, null);
  assert.deepEqual(data, { id: 2 });

  ({ data, error } = await anon.from('rest_books').select('id').maybeSingle());
  assert.equal(error.code, 'PGRST116');
});

test('csv output', async () => {
  const { data, error } = await anon.from('rest_genres').select('id,name').order('id').csv();
  assert.equal(error, null);
  assert.equal(data, 'id,name\n1,"Science Fiction"\n2,Fable\n3,Classic');
});

test('embedding: to-one, to-many, many-to-many, hints, inner, spread', async () => {
  let data = ok(await anon.from('rest_books').select('title, author:rest_authors!author_id(name), editor:rest_authors!editor_id(name)').eq('id', 1));
  assert.deepEqual(data, [{ title: 'The Dispossessed', author: { name: 'Ursula' }, editor: { name: 'Italo' } }]);

  const { error } = await anon.from('rest_books').select('title, rest_authors(name)');
  assert.equal(error.code, 'PGRST201');
  assert.ok(Array.isArray(error.details) && error.details.length === 2);

  data = ok(await anon.from('rest_authors').select('name, books:rest_books!author_id(id, title)')
    .order('id').order('id', { referencedTable: 'books', ascending: false }).limit(1, { referencedTable: 'books' }));
  assert.deepEqual(data, [
    { name: 'Ursula', books: [{ id: 2, title: 'The Left Hand of Darkness' }] },
    { name: 'Italo', books: [{ id: 4, title: "If on a winter's night a traveler" }] },
    { name: 'Nobody', books: [] },
  ]);

  data = ok(await anon.from('rest_books').select('title, rest_genres(name)').eq('id', 1).order('name', { referencedTable: 'rest_genres' }));
  assert.deepEqual(data, [{ title: 'The Dispossessed', rest_genres: [{ name: 'Classic' }, { name: 'Science Fiction' }] }]);

  data = ok(await anon.from('rest_authors').select('name, rest_books!author_id!inner(id)').lt('rest_books.pages', 200));
  assert.deepEqual(data, [{ name: 'Italo', rest_books: [{ id: 3 }] }]);

  data = ok(await anon.from('rest_authors').select('name, rest_books!author_id(id)').eq('rest_books.id', 1).order('id'));
  assert.deepEqual(data.map((a) => a.rest_books.length), [1, 0, 0], 'embedded filters keep parents without !inner');

  data = ok(await anon.from('rest_books').select('title, ...rest_authors!author_id(author:name, country)').eq('id', 3));
  assert.deepEqual(data, [{ title: 'Invisible Cities', author: 'Italo', country: 'IT' }]);

  data = ok(await anon.from('rest_authors').select('name, books:rest_books!author_id(count)').order('id'));
  assert.deepEqual(data.map((a) => a.books[0].count), [2, 2, 0]);

  data = ok(await anon.from('rest_book_titles').select('title, author').eq('id', 4));
  assert.deepEqual(data, [{ title: "If on a winter's night a traveler", author: 'Italo' }]);
});

test('insert, upsert, update and delete with representations', async () => {
  let data = ok(await service.from('rest_items').insert({ name: 'apple', sku: 'A1' }).select());
  assert.equal(data.length, 1);
  assert.equal(data[0].name, 'apple');
  assert.equal(data[0].qty, 1, 'the column default applies');
  const appleId = data[0].id;

  let res = await service.from('rest_items').insert({ name: 'ignored-minimal' });
  assert.equal(res.error, null);
  assert.equal(res.status, 201);
  assert.equal(res.data, null);

  data = ok(await service.from('rest_items').insert([{ name: 'pear', qty: 5, sku: 'P1' }, { name: 'plum', qty: 2 }]).select('name, qty, sku'));
  assert.deepEqual(data, [{ name: 'pear', qty: 5, sku: 'P1' }, { name: 'plum', qty: 2, sku: null }], 'keys missing from one object of a bulk insert are NULL');

  res = await service.from('rest_items').insert([{ name: 'fig', qty: 7 }, { name: 'kiwi' }], { defaultToNull: false }).select('name, qty');
  assert.equal(res.error, null);
  assert.deepEqual(res.data, [{ name: 'fig', qty: 7 }, { name: 'kiwi', qty: 1 }]);

  data = ok(await service.from('rest_items').upsert({ sku: 'A1', name: 'apple', qty: 9 }, { onConflict: 'sku' }).select('id, qty'));
  assert.deepEqual(data, [{ id: appleId, qty: 9 }]);

  data = ok(await service.from('rest_items').upsert({ sku: 'A1', name: 'nope', qty: 0 }, { onConflict: 'sku', ignoreDuplicates: true }).select());
  assert.deepEqual(data, []);

  data = ok(await service.from('rest_items').update({ qty: 11 }).eq('id', appleId).select('qty'));
  assert.deepEqual(data, [{ qty: 11 }]);

  res = await service.from('rest_items').update({ qty: 12 }).eq('id', appleId);
  assert.equal(res.error, null);
  assert.equal(res.status, 204);

  res = await service.from('rest_items').update({ qty: 1 });
  assert.equal(res.error.code, '21000', 'an unfiltered update is refused');

  data = ok(await service.from('rest_items').update({ name: 'apple!' }).eq('id', appleId).select().single());
  assert.equal(data.name, 'apple!');

  res = await service.from('rest_items').delete({ count: 'exact' }).in('name', ['fig', 'kiwi']);
  assert.equal(res.error, null);
  assert.equal(res.count, 2);

  data = ok(await service.from('rest_items').delete().eq('id', appleId).select('name'));
  assert.deepEqual(data, [{ name: 'apple!' }]);

  res = await service.from('rest_items').insert({ name: 'dup', sku: 'P1' });
  assert.equal(res.status, 409);
  assert.equal(res.error.code, '23505');
  assert.match(res.error.message, /duplicate key value violates unique constraint/);
  assert.match(res.error.details, /\(sku\)=\(P1\)/);

  res = await service.from('rest_items').insert({ name: 'x', nope: 1 });
  assert.equal(res.status, 400);
  assert.equal(res.error.code, 'PGRST204');

  res = await service.from('rest_items').delete().eq('name', 'nothing').select().single();
  assert.equal(res.error.code, 'PGRST116');
});

test('rpc: scalar, set with filters, GET, HEAD, void and errors', async () => {
  assert.equal(ok(await anon.rpc('rest_add', { a: 2, b: 3 })), 5);
  assert.equal(ok(await anon.rpc('rest_add', { a: 20, b: 22 }, { get: true })), 42);
  assert.equal(ok(await anon.rpc('rest_hello')), 'hello');

  let data = ok(await anon.rpc('rest_books_by', { author: 1 }).select('id, title').gt('pages', 350));
  assert.deepEqual(data, [{ id: 1, title: 'The Dispossessed' }]);
  data = ok(await anon.rpc('rest_books_by', { author: 2 }).select('id').order('id', { ascending: false }).limit(1).single());
  assert.deepEqual(data, { id: 4 });

  const { count, error } = await anon.rpc('rest_books_by', { author: 1 }, { head: true, count: 'exact' });
  assert.equal(error, null);
  assert.equal(count, 2);

  const res = await service.rpc('rest_touch', { n: 2 });
  assert.equal(res.error, null);
  assert.equal(res.status, 204);
  assert.equal(res.data, null);

  const failed = await anon.rpc('rest_fail');
  assert.equal(failed.status, 400);
  assert.deepEqual(failed.error, { code: 'P0001', message: 'rest_fail was called', details: null, hint: 'do not' });

  const missing = await anon.rpc('rest_nope', {});
  assert.equal(missing.status, 404);
  assert.equal(missing.error.code, 'PGRST202');

  assert.equal(ok(await asUser(ALICE).rpc('rest_whoami')), ALICE);
  assert.equal(ok(await anon.rpc('rest_whoami')), null);
});

test('row-level security: anon, two users and the service role', async () => {
  const bodies = async (c) => ok(await c.from('rest_notes').select('body').order('id')).map((n) => n.body);
  assert.deepEqual(await bodies(anon), ['alice public']);
  assert.deepEqual(await bodies(asUser(ALICE)), ['alice public', 'alice private']);
  assert.deepEqual(await bodies(asUser(BOB)), ['bob private']);
  assert.deepEqual(await bodies(service), ['alice public', 'alice private', 'bob private']);

  const bob = asUser(BOB);
  const created = ok(await bob.from('rest_notes').insert({ body: 'bob new' }).select('owner, body').single());
  assert.deepEqual(created, { owner: BOB, body: 'bob new' });

  let res = await bob.from('rest_notes').insert({ body: 'forged', owner: ALICE });
  assert.equal(res.status, 403);
  assert.equal(res.error.code, '42501');

  res = await anon.from('rest_notes').insert({ body: 'anon' });
  assert.equal(res.status, 401);
  assert.equal(res.error.code, '42501');

  const changed = ok(await bob.from('rest_notes').update({ body: 'hacked' }).eq('body', 'alice private').select());
  assert.deepEqual(changed, [], "another user's rows are invisible to updates");
  assert.deepEqual(await bodies(asUser(ALICE)), ['alice public', 'alice private']);

  ok(await bob.from('rest_notes').delete().eq('body', 'bob new'));
  assert.deepEqual(await bodies(bob), ['bob private']);
});

test('opaque keys and expired tokens', async () => {
  if (publishableKey) {
    const data = ok(await client(publishableKey).from('rest_notes').select('body'));
    assert.deepEqual(data.map((n) => n.body), ['alice public']);
  }
  if (secretKey) {
    const data = ok(await client(secretKey).from('rest_notes').select('id'));
    assert.equal(data.length, 3);
  }
  const expired = client(anonKey, { global: { headers: { Authorization: `Bearer ${userToken(ALICE, { expiresIn: -3600 })}` } } });
  const { error, status } = await expired.from('rest_notes').select('id');
  assert.equal(status, 401);
  assert.equal(error.code, 'PGRST303');
});

test('errors: unknown table, unknown column, unexposed schema, bad filters', async () => {
  let res = await anon.from('rest_missing').select();
  assert.equal(res.status, 404);
  assert.equal(res.error.code, 'PGRST205');

  res = await anon.from('rest_books').select('nope');
  assert.equal(res.status, 400);
  assert.equal(res.error.code, '42703');

  res = await anon.schema('auth').from('users').select();
  assert.equal(res.status, 406);
  assert.equal(res.error.code, 'PGRST106');

  res = await anon.from('rest_books').select('id').filter('id', 'bogus', '1');
  assert.equal(res.status, 400);
  assert.equal(res.error.code, 'PGRST100');

  res = await anon.from('rest_books').select('id').eq('id', 'abc');
  assert.equal(res.status, 400);
  assert.equal(res.error.code, '22P02');
  for (const e of [res.error]) {
    assert.deepEqual(Object.keys(e).sort(), ['code', 'details', 'hint', 'message']);
  }
});

test('injection attempts through parameters and headers are inert', async () => {
  const attempts = [
    () => anon.from('rest_books').select('id').eq('title', "x'; drop table rest_books; --"),
    () => anon.from('rest_books').select('id').eq('title', 'x"); drop table rest_books; --'),
    () => anon.from('rest_books').select('id, title::text); drop table rest_books; --'),
    () => anon.from('rest_books').select('id').order('id; drop table rest_books'),
    () => anon.from('rest_books').select('id').in('id', ['1)', '2); drop table rest_books; --']),
    () => anon.from('rest_books').select('id').or('id.eq.1) or (1=1'),
    () => anon.from('rest_books; drop table rest_books').select(),
    () => anon.from('rest_books').select('id').filter('meta->>x\'; drop table rest_books; --', 'eq', '1'),
    () => anon.from('rest_books').select('id').textSearch('fts', 'x', { config: "english'); drop table rest_books; --" }),
    () => anon.rpc('rest_add', { a: '1); drop table rest_books; --', b: 1 }),
    () => anon.schema('public; drop table rest_books').from('rest_books').select(),
    () => anon.from('rest_books').select('*, rest_authors!author_id; drop table rest_books(name)'),
  ];
  for (const attempt of attempts) {
    const { data, error } = await attempt();
    if (error === null) {
      assert.ok(Array.isArray(data), 'a harmless query may succeed, but only as a normal read');
    } else {
      assert.ok(error.code, `errors have a code: ${JSON.stringify(error)}`);
      assert.doesNotMatch(JSON.stringify(error), /pgrst_|json_agg|FROM \\?"public|\$[0-9]::/, 'no SQL in errors');
    }
  }
  const { count } = await service.from('rest_books').select('*', { count: 'exact', head: true });
  assert.equal(count, 4, 'the table is still there with its rows');
  const res = await fetch(`${url}/rest/v1/rest_books?select=id&id=eq.1`, { headers: { apikey: anonKey, Prefer: "count=exact'; drop table rest_books; --" } });
  assert.equal(res.status, 200);
});

test('the OpenAPI document lists the tables and functions', async () => {
  const res = await fetch(`${url}/rest/v1/`, { headers: { apikey: anonKey, Accept: 'application/openapi+json' } });
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.equal(doc.swagger, '2.0');
  assert.ok(doc.paths['/rest_books']);
  assert.ok(doc.paths['/rpc/rest_add']);
  assert.ok(doc.definitions.rest_books.properties.title);
});

test('CORS exposes Content-Range for browser counts', async () => {
  const res = await fetch(`${url}/rest/v1/rest_genres?select=id`, {
    headers: { apikey: anonKey, Origin: 'http://localhost:5173', Prefer: 'count=exact' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-range'), '0-2/3');
  const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
  assert.match(exposed, /content-range/);
});

test('long URLs (over 16 KB) are accepted', async () => {
  const ids = Array.from({ length: 4000 }, (_, i) => i + 1);
  const { data, error } = await anon.from('rest_books').select('id').in('id', ids).order('id');
  assert.equal(error, null);
  assert.deepEqual(data.map((r) => r.id), [1, 2, 3, 4]);
});

test('DDL reloads every worker\'s schema cache by itself', async () => {
  const { execFileSync } = await import('node:child_process');
  execFileSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c',
    "create table rest_late (id int primary key, label text); insert into rest_late values (1, 'late');"]);
  // Both workers must see it: ask several times (requests alternate between them).
  const deadline = Date.now() + 10000;
  let hits = 0;
  while (hits < 4 && Date.now() < deadline) {
    const { data, error } = await anon.from('rest_late').select('label');
    if (error === null) {
      assert.deepEqual(data, [{ label: 'late' }]);
      hits++;
    } else {
      assert.equal(error.code, 'PGRST205');
      hits = 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(hits, 4, 'rest_late never became visible on every worker');
});

test('rpc as PostgREST chooses and calls it: overloads, not-found wording, counts, bulk calls, raw bodies, keys', async () => {
  const { execFileSync } = await import('node:child_process');
  execFileSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `
    create function rest_ov(a text) returns text language sql immutable as $$ select 'text' $$;
    create function rest_ov(a int) returns text language sql immutable as $$ select 'int' $$;
    create function rest_ovd(a int default 1) returns text language sql immutable as $$ select 'a' $$;
    create function rest_ovd() returns text language sql immutable as $$ select 'none' $$;
    create function rest_shout(text) returns text language sql immutable as $$ select upper($1) $$;
    create table rest_calls (id serial primary key, n text not null);
    create function rest_log(n text) returns void language sql as $$ insert into rest_calls (n) values (n) $$;`]);
  // Both workers must see the new functions (requests alternate between them).
  const deadline = Date.now() + 10000;
  let hits = 0;
  while (hits < 4 && Date.now() < deadline) {
    const { data, error } = await anon.rpc('rest_ovd', { a: 2 });
    if (error === null) {
      assert.equal(data, 'a');
      hits++;
    } else {
      assert.equal(error.code, 'PGRST202');
      hits = 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(hits, 4, 'the new functions never became visible on every worker');

  let res = await anon.rpc('rest_ov', { a: 1 });
  assert.equal(res.status, 300);
  assert.equal(res.error.code, 'PGRST203');
  assert.equal(res.error.message, 'Could not choose the best candidate function between: public.rest_ov(a => integer), public.rest_ov(a => text)');
  res = await anon.rpc('rest_ovd');
  assert.equal(res.status, 300);
  assert.equal(res.error.message, 'Could not choose the best candidate function between: public.rest_ovd(), public.rest_ovd(a => integer)');

  res = await anon.rpc('rest_add', { a: 1, c: 2 });
  assert.equal(res.status, 404);
  assert.deepEqual(res.error, {
    code: 'PGRST202',
    message: 'Could not find the function public.rest_add(a, c) in the schema cache',
    details: 'Searched for the function public.rest_add with parameters a, c or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
    hint: 'Perhaps you meant to call the function public.rest_add(a, b)',
  });
  res = await anon.rpc('qqq_nothing_like_it', {});
  assert.equal(res.error.code, 'PGRST202');
  assert.equal(res.error.hint, null);

  res = await anon.rpc('rest_add', { a: 1, b: 2 }, { count: 'exact' });
  assert.equal(res.error, null);
  assert.equal(res.data, 3);
  assert.equal(res.count, 1);
  res = await anon.rpc('rest_add', { a: 1, b: 2 }, { head: true, count: 'exact' });
  assert.equal(res.error, null);
  assert.equal(res.count, 1);

  assert.deepEqual(ok(await anon.rpc('rest_add', [{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 100, b: 200 }])), [3, 7, 300]);
  res = await service.rpc('rest_log', [{ n: 'x' }, { n: 'y' }]);
  assert.equal(res.error, null);
  assert.equal(res.status, 204);
  assert.deepEqual(ok(await service.from('rest_calls').select('n').order('id')), [{ n: 'x' }, { n: 'y' }]);

  const raw = await fetch(`${url}/rest/v1/rpc/rest_shout`, {
    method: 'POST', headers: { apikey: anonKey, 'Content-Type': 'text/plain' }, body: 'hello there',
  });
  assert.equal(raw.status, 200);
  assert.equal(await raw.json(), 'HELLO THERE');

  const keyless = await fetch(`${url}/rest/v1/rest_genres?select=id`);
  assert.equal(keyless.status, 401, 'API_KEY_REQUIRED defaults to true');
  assert.equal((await keyless.json()).code, 'PGRST302');
});

test('embedding as PostgREST disambiguates: views, self references, duplicate names, to-one computed relationships', async () => {
  const { execFileSync } = await import('node:child_process');
  execFileSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `
    create view rest_authors_v as select id, name from rest_authors;
    create table rest_staff (id int primary key, name text not null, boss_id int references rest_staff(id));
    insert into rest_staff values (1, 'Boss', null), (2, 'Mid', 1), (3, 'Low', 2);
    create function rest_first_book(rest_authors) returns setof rest_books rows 1 language sql stable as
      $$ select * from rest_books where author_id = $1.id order by id limit 1 $$;
    create function rest_last_book(rest_authors) returns rest_books language sql stable as
      $$ select * from rest_books where author_id = $1.id order by id desc limit 1 $$;`]);
  // Both workers must see them (requests alternate between them).
  const deadline = Date.now() + 10000;
  let hits = 0;
  while (hits < 4 && Date.now() < deadline) {
    const { data, error } = await anon.from('rest_staff').select('name, boss:boss_id(name), reports:rest_staff!boss_id(name)').eq('id', 2);
    if (error === null) {
      assert.deepEqual(data, [{ name: 'Mid', boss: { name: 'Boss' }, reports: [{ name: 'Low' }] }]);
      hits++;
    } else {
      assert.ok(['PGRST205', 'PGRST200'].includes(error.code), JSON.stringify(error));
      hits = 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.equal(hits, 4, 'rest_staff never became visible on every worker');

  assert.deepEqual(ok(await anon.from('rest_staff').select('name, rest_staff(name)').eq('id', 3)), [{ name: 'Low', rest_staff: [] }]);
  // A view over rest_authors does not make the key's column or constraint ambiguous.
  assert.deepEqual(ok(await anon.from('rest_books').select('title, author_id(name), rest_books_editor_id_fkey(name)').eq('id', 3)),
    [{ title: 'Invisible Cities', author_id: { name: 'Italo' }, rest_books_editor_id_fkey: { name: 'Ursula' } }]);

  let res = await anon.from('rest_books').select('a:rest_authors!author_id(name), a:rest_authors!editor_id(name)');
  assert.equal(res.status, 400);
  assert.equal(res.error.code, '42712');
  res = await anon.from('rest_books').select('rest_authors!no_such_key(name)');
  assert.equal(res.status, 400);
  assert.equal(res.error.code, 'PGRST200');
  res = await anon.from('rest_books').select('no_such_column.sum()');
  assert.equal(res.error.code, 'PGRST123', 'aggregates are off by default, refused before the column is looked up');

  const data = ok(await anon.from('rest_authors').select('name, rest_first_book(id), rest_last_book(id)').in('id', [1, 2]).order('id'));
  assert.deepEqual(data, [
    { name: 'Ursula', rest_first_book: { id: 1 }, rest_last_book: { id: 2 } },
    { name: 'Italo', rest_first_book: { id: 3 }, rest_last_book: { id: 4 } },
  ]);
  const none = ok(await anon.from('rest_authors').select('rest_first_book(id), rest_last_book(id)').eq('name', 'Nobody'));
  assert.deepEqual(none, [{ rest_first_book: null, rest_last_book: null }]);
});

test('csv: quoted as PostgreSQL writes a row; text/csv bodies insert, form bodies call', async () => {
  const data = ok(await anon.from('rest_books').select('id,title,tags,meta').in('id', [1, 4]).order('id').csv());
  assert.equal(data, 'id,title,tags,meta\n1,"The Dispossessed","{sf,classic}","{""rating"": 5}"\n4,"If on a winter\'s night a traveler",{},"{""rating"": 5}"');

  const headers = { apikey: serviceKey, Authorization: `Bearer ${serviceKey}`, Prefer: 'return=representation' };
  let res = await fetch(`${url}/rest/v1/rest_items?select=name,qty,sku`, {
    method: 'POST', headers: { ...headers, 'Content-Type': 'text/csv' },
    body: 'name,qty,sku\n"csv, one",2,csv-1\ncsv two,3,NULL',
  });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), [{ name: 'csv, one', qty: 2, sku: 'csv-1' }, { name: 'csv two', qty: 3, sku: null }]);
  res = await fetch(`${url}/rest/v1/rest_items`, { method: 'POST', headers: { ...headers, 'Content-Type': 'text/csv' }, body: 'name,qty\nx,1,extra' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).code, 'PGRST102');
  ok(await service.from('rest_items').delete().like('name', 'csv%'));

  res = await fetch(`${url}/rest/v1/rpc/rest_add`, {
    method: 'POST', headers: { apikey: anonKey, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=20&b=22',
  });
  assert.equal(res.status, 200);
  assert.equal(await res.json(), 42);
});

test('explain() is refused unless DB_PLAN_ENABLED, as on PostgREST', async () => {
  for (const format of ['text', 'json']) {
    const res = await anon.from('rest_books').select('id').explain({ analyze: true, verbose: true, format });
    assert.equal(res.status, 406);
    assert.equal(res.error.code, 'PGRST107');
    assert.match(res.error.message, /application\/vnd\.pgrst\.plan\+/);
  }
  const res = await anon.rpc('rest_add', { a: 1, b: 2 }).explain();
  assert.equal(res.status, 406);
});

test('geojson() without PostGIS says why', async () => {
  const res = await anon.from('rest_books').select('id').geojson();
  assert.equal(res.status, 406);
  assert.equal(res.error.code, 'PGRST107');
  assert.equal(res.error.details, 'application/geo+json needs the PostGIS extension, which is not installed in this database');
});

// Aggregates are off in the environment's project (as in PostgREST); a
// project created with DB_AGGREGATES_ENABLED, reached by its key alone,
// serves them.
test('aggregates inside a to-one spread are lifted to the top level', async () => {
  const admin = async (method, path, body) => {
    const res = await fetch(`${url}/admin/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${adminPassword}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const ref = `agg-${Date.now().toString(36)}`;
  const p = await admin('POST', '/projects', { ref, name: `E2E ${ref}`, settings: { DB_AGGREGATES_ENABLED: true } });
  await admin('POST', `/projects/${ref}/sql`, {
    query: `create table customers (id int primary key, country text not null);
create table orders (id int primary key, customer_id int not null references customers(id), status text not null, amount int not null);
insert into customers values (1, 'NL'), (2, 'IT');
insert into orders values (1, 1, 'paid', 10), (2, 1, 'paid', 5), (3, 2, 'paid', 7), (4, 2, 'open', 1);
grant select on customers, orders to anon;`,
  });
  const c = client(p.keys.anon);
  // Both workers must have the project and its tables: the edge spreads
  // requests over them, so six answers in a row reached both.
  const end = Date.now() + 20000;
  for (let inARow = 0; inARow < 6;) {
    const res = await c.from('orders').select('id');
    if (res.error === null && res.data.length === 4) {
      inARow++;
      continue;
    }
    inARow = 0;
    assert.ok(Date.now() < end, `project ${ref} not served: ${JSON.stringify(res.error)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  let data = ok(await c.from('orders').select('status, ...customers(count)').order('status'));
  assert.deepEqual(data, [{ status: 'open', count: 1 }, { status: 'paid', count: 3 }]);
  data = ok(await c.from('orders').select('...customers(country, paid:count())').eq('status', 'paid'));
  assert.deepEqual(data.sort((a, b) => a.country.localeCompare(b.country)), [{ country: 'IT', paid: 1 }, { country: 'NL', paid: 2 }]);
});
