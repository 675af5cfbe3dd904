// /storage/v1 under supabase-js's storage client, through the edge: buckets,
// uploads and downloads of large files, list, move, copy, remove, signed and
// public URLs, signed uploads, RLS on a folder, resumable (TUS) uploads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { url, anonKey, serviceKey, databaseUrl, client } from './helpers.js';
import { userToken } from './jwt.js';

const ALICE = '00000000-0000-4000-8000-0000000000a1';
const BOB = '00000000-0000-4000-8000-0000000000b2';

const service = client(serviceKey);
const asUser = (sub) => client(anonKey, { global: { headers: { Authorization: `Bearer ${userToken(sub)}` } } });
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const run = crypto.randomBytes(4).toString('hex');

function ok({ data, error }) {
  assert.equal(error, null, `unexpected error: ${JSON.stringify(error)}`);
  return data;
}

async function bucket(name, opts = { public: false }) {
  const id = `${name}-${run}`;
  ok(await service.storage.createBucket(id, opts));
  return id;
}

test('buckets: create, get, list, update, empty, delete', async () => {
  const id = await bucket('crud', { public: false, fileSizeLimit: '1MB', allowedMimeTypes: ['text/plain', 'image/*'] });
  const b = ok(await service.storage.getBucket(id));
  assert.equal(b.id, id);
  assert.equal(b.public, false);
  assert.equal(b.file_size_limit, 1000000, 'units are decimal, as storage-api reads them');
  assert.deepEqual(b.allowed_mime_types, ['text/plain', 'image/*']);
  assert.ok(ok(await service.storage.listBuckets()).some((x) => x.id === id));

  const dup = await service.storage.createBucket(id);
  assert.equal(dup.error.statusCode, '409');

  ok(await service.storage.updateBucket(id, { public: true, fileSizeLimit: null, allowedMimeTypes: null }));
  const u = ok(await service.storage.getBucket(id));
  assert.equal(u.public, true);
  assert.equal(u.file_size_limit, null);

  ok(await service.storage.from(id).upload('a.txt', 'hello', { contentType: 'text/plain' }));
  const notEmpty = await service.storage.deleteBucket(id);
  assert.equal(notEmpty.error.statusCode, '409');
  ok(await service.storage.emptyBucket(id));
  ok(await service.storage.deleteBucket(id));
  const gone = await service.storage.getBucket(id);
  assert.equal(gone.error.statusCode, '404');
});

test('upload and download 6 MiB and 100 MiB files with matching sha256', async () => {
  const id = await bucket('big');
  for (const size of [6 << 20, 100 << 20]) {
    const data = crypto.randomBytes(size);
    const path = `big/${size}.bin`;
    const up = ok(await service.storage.from(id).upload(path, data, { contentType: 'application/octet-stream' }));
    assert.equal(up.path, path);
    assert.equal(up.fullPath, `${id}/${path}`);
    const blob = ok(await service.storage.from(id).download(path));
    const got = Buffer.from(await blob.arrayBuffer());
    assert.equal(got.length, size);
    assert.equal(sha256(got), sha256(data));
  }
  // A Blob goes as multipart/form-data with a file part named "".
  const blobData = crypto.randomBytes(6 << 20);
  ok(await service.storage.from(id).upload('blob.bin', new Blob([blobData]), { contentType: 'application/x-blob' }));
  const back = Buffer.from(await ok(await service.storage.from(id).download('blob.bin')).arrayBuffer());
  assert.equal(sha256(back), sha256(blobData));
});

test('upsert, update, info, exists, unicode names', async () => {
  const id = await bucket('upsert');
  const s = service.storage.from(id);
  const name = 'dossier/Ünïcødé 日本語 file.txt';
  ok(await s.upload(name, 'one', { contentType: 'text/plain', metadata: { tag: 'v1' } }));
  const dup = await s.upload(name, 'two');
  assert.equal(dup.error.statusCode, '409');
  ok(await s.upload(name, 'two', { upsert: true }));
  assert.equal(await (ok(await s.download(name))).text(), 'two');
  ok(await s.update(name, 'three', { cacheControl: '60' }));
  assert.equal(await (ok(await s.download(name))).text(), 'three');
  const info = ok(await s.info(name));
  assert.equal(info.name, name);
  assert.equal(info.size, 5);
  assert.equal(info.bucketId, id);
  assert.equal(info.cacheControl, 'max-age=60');
  assert.equal(ok(await s.exists(name)), true);
  assert.equal((await s.exists('nope.txt')).data, false);
  const list = ok(await s.list('dossier'));
  assert.deepEqual(list.map((o) => o.name), ['Ünïcødé 日本語 file.txt']);
});

test('list with folders, search, sort and paging; move, copy, remove', async () => {
  const id = await bucket('list');
  const s = service.storage.from(id);
  for (const p of ['a.txt', 'b.txt', 'photos/1.png', 'photos/2.png', 'photos/2021/x.png', 'docs/readme.md']) {
    ok(await s.upload(p, p, { contentType: 'text/plain' }));
  }
  const root = ok(await s.list());
  assert.deepEqual(root.map((o) => o.name), ['a.txt', 'b.txt', 'docs', 'photos']);
  assert.equal(root.find((o) => o.name === 'docs').id, null);
  assert.ok(root.find((o) => o.name === 'a.txt').metadata.size > 0);
  const photos = ok(await s.list('photos', { sortBy: { column: 'name', order: 'desc' } }));
  assert.deepEqual(photos.map((o) => o.name), ['2021', '2.png', '1.png']);
  assert.deepEqual(ok(await s.list('photos', { search: '1' })).map((o) => o.name), ['1.png']);
  assert.deepEqual(ok(await s.list('', { limit: 2, offset: 1 })).map((o) => o.name), ['b.txt', 'docs']);

  ok(await s.move('a.txt', 'moved/a.txt'));
  assert.equal(await (ok(await s.download('moved/a.txt'))).text(), 'a.txt');
  assert.equal((await s.download('a.txt')).error !== null, true);
  const other = await bucket('list-dst');
  const cp = ok(await s.copy('b.txt', 'b-copy.txt', { destinationBucket: other }));
  assert.equal(cp.path, `${other}/b-copy.txt`);
  assert.equal(await (ok(await service.storage.from(other).download('b-copy.txt'))).text(), 'b.txt');
  const removed = ok(await s.remove(['b.txt', 'moved/a.txt', 'not-there.txt']));
  assert.deepEqual(removed.map((o) => o.name).sort(), ['b.txt', 'moved/a.txt']);
});

test('signed URLs fetched with plain fetch, public URLs with no headers', async () => {
  const priv = await bucket('signed');
  const s = service.storage.from(priv);
  ok(await s.upload('dir/secret file.txt', 'secret', { contentType: 'text/plain' }));
  const { signedUrl } = ok(await s.createSignedUrl('dir/secret file.txt', 60));
  let r = await fetch(signedUrl);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'secret');
  const dl = ok(await s.createSignedUrl('dir/secret file.txt', 60, { download: 'x.txt' }));
  r = await fetch(dl.signedUrl);
  assert.match(r.headers.get('content-disposition'), /attachment/);
  await r.arrayBuffer();

  const tampered = signedUrl.replace(/token=([^.]+)\.([^.]+)\./, (m, h, p) => `token=${h}.${p}x.`);
  r = await fetch(tampered);
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.ok(['InvalidJWT', 'InvalidSignature'].includes(body.code));
  // A token for one object does not open another.
  r = await fetch(signedUrl.replace('secret%20file.txt', 'other.txt'));
  assert.equal(r.status, 400);
  await r.arrayBuffer();

  const many = ok(await s.createSignedUrls(['dir/secret file.txt', 'missing.txt'], 60));
  assert.equal(many.length, 2);
  assert.ok(many[0].signedUrl);
  assert.equal(many[1].signedUrl, null);
  assert.ok(many[1].error);

  // Private bucket: no public access.
  r = await fetch(s.getPublicUrl('dir/secret file.txt').data.publicUrl);
  assert.equal(r.status, 400);
  await r.arrayBuffer();

  const pub = await bucket('public', { public: true });
  ok(await service.storage.from(pub).upload('img/ä b.txt', 'public!', { contentType: 'text/plain' }));
  r = await fetch(service.storage.from(pub).getPublicUrl('img/ä b.txt').data.publicUrl);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'public!');
  r = await fetch(service.storage.from(pub).getPublicUrl('img/ä b.txt').data.publicUrl, { headers: { Range: 'bytes=0-2' } });
  assert.equal(r.status, 206);
  assert.equal(await r.text(), 'pub');
});

test('signed upload URL', async () => {
  const id = await bucket('signed-upload');
  const s = service.storage.from(id);
  const { token, path } = ok(await s.createSignedUploadUrl('up/file.txt'));
  const anonStorage = client(anonKey).storage.from(id);
  const up = ok(await anonStorage.uploadToSignedUrl(path, token, 'via token', { contentType: 'text/plain' }));
  assert.equal(up.fullPath, `${id}/up/file.txt`);
  assert.equal(await (ok(await s.download('up/file.txt'))).text(), 'via token');
  // The token is for that path only.
  const other = await anonStorage.uploadToSignedUrl('up/other.txt', token, 'x');
  assert.ok(other.error);
});

test('RLS folder policy: each user reads and writes only their folder', async () => {
  const alice = asUser(ALICE).storage.from('avatars');
  const bob = asUser(BOB).storage.from('avatars');
  ok(await alice.upload(`${ALICE}/me-${run}.png`, 'alice', { contentType: 'image/png', upsert: true }));
  ok(await bob.upload(`${BOB}/me-${run}.png`, 'bob', { contentType: 'image/png', upsert: true }));

  const denied = await bob.upload(`${ALICE}/evil-${run}.png`, 'evil', { contentType: 'image/png' });
  assert.equal(denied.error.statusCode, '403');
  const notSeen = await bob.download(`${ALICE}/me-${run}.png`);
  assert.ok(notSeen.error);
  assert.equal(await (ok(await alice.download(`${ALICE}/me-${run}.png`))).text(), 'alice');
  assert.deepEqual(ok(await bob.list(ALICE)), []);
  assert.ok(ok(await alice.list(ALICE)).some((o) => o.name === `me-${run}.png`));
  // remove() of another's file deletes nothing.
  assert.deepEqual(ok(await bob.remove([`${ALICE}/me-${run}.png`])), []);
  // Anonymous: no access to the private bucket.
  const anonDl = await client(anonKey).storage.from('avatars').download(`${ALICE}/me-${run}.png`);
  assert.ok(anonDl.error);
  // Signed URLs need SELECT too.
  assert.ok((await bob.createSignedUrl(`${ALICE}/me-${run}.png`, 60)).error);
  ok(await alice.createSignedUrl(`${ALICE}/me-${run}.png`, 60));
});

test('bucket limits: size and mime type', async () => {
  const id = await bucket('limits', { public: false, fileSizeLimit: 1024, allowedMimeTypes: ['image/*'] });
  const s = service.storage.from(id);
  const big = await s.upload('big.png', Buffer.alloc(2048), { contentType: 'image/png' });
  assert.equal(big.error.statusCode, '413');
  const wrong = await s.upload('x.txt', 'x', { contentType: 'text/plain' });
  assert.equal(wrong.error.statusCode, '415');
  ok(await s.upload('ok.png', Buffer.alloc(100), { contentType: 'image/png' }));

  // A key that climbs out of the bucket. storage-js's URL would have its
  // "../" collapsed by the URL parser before any request, so the encoded
  // forms go by plain fetch and reach the server: refused with a 400 and a
  // JSON error, either the edge's ({error, code}) or storage's
  // ({statusCode, code, error, message}).
  const svc = { apikey: serviceKey, Authorization: `Bearer ${serviceKey}` };
  for (const tail of ['%2e%2e%2fescape.png', '..%2fescape.png', '%2E%2E%2Fescape.png']) {
    const target = `${url}/storage/v1/object/${id}/${tail}`;
    assert.ok(new URL(target).pathname.endsWith(`/${id}/${tail}`), 'the path is sent as written');
    const r = await fetch(target, { method: 'POST', headers: { ...svc, 'Content-Type': 'image/png' }, body: 'x' });
    assert.equal(r.status, 400, tail);
    assert.match(r.headers.get('content-type'), /^application\/json/, tail);
    const body = await r.json();
    if ('statusCode' in body) {
      assert.deepEqual([body.statusCode, body.code], ['400', 'InvalidKey'], `${tail}: ${JSON.stringify(body)}`);
    } else {
      assert.deepEqual([body.code, typeof body.error], [400, 'string'], `${tail}: ${JSON.stringify(body)}`);
    }
  }
  // Nothing was stored, in this bucket or beside it.
  assert.deepEqual(ok(await s.list()).map((o) => o.name), ['ok.png']);
  const r = await fetch(`${url}/storage/v1/object/${id}/escape.png`, { headers: svc });
  const nf = await r.json();
  assert.equal(r.status, 400);
  assert.deepEqual([nf.statusCode, nf.code], ['404', 'NoSuchKey'], JSON.stringify(nf));
  const stored = execFileSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-At', '-c',
    "select count(*) from storage.objects where name like '%escape.png'"], { encoding: 'utf8' });
  assert.equal(stored.trim(), '0');
  const missing = await service.storage.from(`no-such-${run}`).upload('x.png', 'x');
  assert.equal(missing.error.statusCode, '404');
});

test('resumable (TUS) upload through the edge', async () => {
  const id = await bucket('tus');
  const data = crypto.randomBytes(13 << 20);
  const b64 = (s) => Buffer.from(s).toString('base64');
  const auth = { Authorization: `Bearer ${serviceKey}`, apikey: serviceKey, 'Tus-Resumable': '1.0.0' };
  let r = await fetch(`${url}/storage/v1/upload/resumable`, {
    method: 'POST',
    headers: { ...auth, 'Upload-Length': String(data.length),
      'Upload-Metadata': `bucketName ${b64(id)},objectName ${b64('big/tus.bin')},contentType ${b64('application/x-tus')},cacheControl ${b64('3600')}` },
  });
  assert.equal(r.status, 201, await r.text());
  const location = r.headers.get('location');
  assert.ok(location.startsWith(url), location);
  // The upload's URL alone does not let someone else write to it.
  const anon = { Authorization: `Bearer ${anonKey}`, apikey: anonKey, 'Tus-Resumable': '1.0.0' };
  r = await fetch(location, { method: 'PATCH', headers: { ...anon, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
    body: Buffer.from('evil') });
  const denied = await r.json();
  assert.equal(denied.statusCode, '403', JSON.stringify(denied));
  const chunk = 6 << 20;
  for (let off = 0; off < data.length; off += chunk) {
    r = await fetch(location, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(off) },
      body: data.subarray(off, Math.min(off + chunk, data.length)) });
    assert.equal(r.status, 204, await r.text());
  }
  const blob = ok(await service.storage.from(id).download('big/tus.bin'));
  assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(data));
});

test('bucket sizes with a unit are decimal; numbers are bytes', async () => {
  const id = await bucket('units', { public: false, fileSizeLimit: '20mb' });
  const s = service.storage;
  assert.equal(ok(await s.getBucket(id)).file_size_limit, 20000000);
  for (const [limit, want] of [['1GB', 1000000000], ['512kb', 512000], ['7B', 7], [1234, 1234]]) {
    ok(await s.updateBucket(id, { public: false, fileSizeLimit: limit }));
    assert.equal(ok(await s.getBucket(id)).file_size_limit, want, String(limit));
  }
  const bad = await s.updateBucket(id, { public: false, fileSizeLimit: '20 MB' });
  assert.equal(bad.error.statusCode, '400');
  assert.match(bad.error.message, /Invalid file size format/);
});

test('bucket JSON as storage-api sends it', async () => {
  const id = await bucket('json', { public: true });
  const b = ok(await service.storage.getBucket(id));
  assert.deepEqual(Object.keys(b).sort(),
    ['allowed_mime_types', 'created_at', 'file_size_limit', 'id', 'name', 'owner', 'public', 'updated_at']);
  for (const k of ['created_at', 'updated_at']) {
    assert.match(b[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${k}: ${b[k]}`);
  }
  const listed = ok(await service.storage.listBuckets()).find((x) => x.id === id);
  assert.equal(listed.type, 'STANDARD');
  assert.match(listed.created_at, /\.\d{3}Z$/);
});

test('emptyBucket answers storage-api\'s message', async () => {
  const id = await bucket('empty');
  ok(await service.storage.from(id).upload('a.txt', 'a'));
  const r = ok(await service.storage.emptyBucket(id));
  assert.equal(r.message, 'Empty bucket has been queued. Completion may take up to an hour.');
  assert.deepEqual(ok(await service.storage.from(id).list()), []);
});

test('listV2 honours sortBy across pages, and delimited entries carry key', async () => {
  const id = await bucket('listv2');
  const s = service.storage.from(id);
  // name: seconds after a fixed date for created_at
  const created = { 'a.txt': 3, 'd/1.txt': 1, 'd/2.txt': 4, 'f.txt': 2, 'z/9.txt': 5 };
  for (const name of Object.keys(created)) ok(await s.upload(name, name));
  const sql = Object.entries(created).map(([name, sec]) =>
    `update storage.objects set created_at = '2026-01-02T03:04:05Z'::timestamptz + interval '${sec} seconds' where bucket_id = '${id}' and name = '${name}';`).join('');
  execFileSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql]);

  const walk = async (first) => {
    const names = [];
    let page = ok(await s.listV2({ ...first, limit: 1 }));
    for (let i = 0; i < 20; i++) {
      names.push(...page.folders.map((f) => f.name), ...page.objects.map((o) => o.name));
      if (!page.hasNext) return names;
      // Later pages send only the cursor: it keeps the order.
      page = ok(await s.listV2({ limit: 1, cursor: page.nextCursor, with_delimiter: first.with_delimiter }));
    }
    throw new Error('the cursor never ends');
  };
  assert.deepEqual(await walk({ sortBy: { column: 'created_at', order: 'desc' } }),
    ['z/9.txt', 'd/2.txt', 'a.txt', 'f.txt', 'd/1.txt']);
  assert.deepEqual(await walk({ sortBy: { column: 'name', order: 'desc' } }),
    ['z/9.txt', 'f.txt', 'd/2.txt', 'd/1.txt', 'a.txt']);
  assert.deepEqual(await walk({ with_delimiter: true, sortBy: { column: 'created_at', order: 'asc' } }),
    ['d/', 'f.txt', 'a.txt', 'z/']);

  const level = ok(await s.listV2({ with_delimiter: true }));
  assert.deepEqual(level.folders, [{ key: 'd', name: 'd/' }, { key: 'z', name: 'z/' }]);
  assert.deepEqual(level.objects.map((o) => [o.key, o.name]), [['a.txt', 'a.txt'], ['f.txt', 'f.txt']]);
  const sub = ok(await s.listV2({ prefix: 'd/', with_delimiter: true }));
  assert.deepEqual(sub.objects.map((o) => [o.key, o.name]), [['1.txt', 'd/1.txt'], ['2.txt', 'd/2.txt']]);
});

test('info(): metadata is {} when empty, and the ETag is the MD5 of the bytes', async () => {
  const id = await bucket('etag');
  const s = service.storage.from(id);
  const data = crypto.randomBytes(7 << 20);
  const md5 = `"${crypto.createHash('md5').update(data).digest('hex')}"`;
  ok(await s.upload('x.bin', data, { contentType: 'application/octet-stream' }));
  const info = ok(await s.info('x.bin'));
  assert.deepEqual(info.metadata, {});
  assert.equal(info.etag, md5);
  const head = await fetch(`${url}/storage/v1/object/${id}/x.bin`, { method: 'HEAD',
    headers: { apikey: serviceKey, Authorization: `Bearer ${serviceKey}` } });
  assert.equal(head.headers.get('etag'), md5);
  ok(await s.upload('m.bin', data, { metadata: { a: 1 } }));
  assert.deepEqual(ok(await s.info('m.bin')).metadata, { a: 1 });
});

test('TUS: Upload-Defer-Length', async () => {
  const id = await bucket('tusdefer');
  const b64 = (v) => Buffer.from(v).toString('base64');
  const auth = { Authorization: `Bearer ${serviceKey}`, apikey: serviceKey, 'Tus-Resumable': '1.0.0' };
  let r = await fetch(`${url}/storage/v1/upload/resumable`, { method: 'POST',
    headers: { ...auth, 'Upload-Defer-Length': '1', 'Upload-Metadata': `bucketName ${b64(id)},objectName ${b64('later.txt')}` } });
  assert.equal(r.status, 201, await r.text());
  const location = r.headers.get('location');
  const patch = (off, body, extra = {}) => fetch(location, { method: 'PATCH',
    headers: { ...auth, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(off), ...extra }, body });
  r = await patch(0, 'hello ');
  assert.equal(r.status, 204, await r.text());
  r = await fetch(location, { method: 'HEAD', headers: auth });
  assert.equal(r.headers.get('upload-defer-length'), '1');
  assert.equal(r.headers.get('upload-offset'), '6');
  r = await patch(6, 'world', { 'Upload-Length': '11' });
  assert.equal(r.status, 204, await r.text());
  const blob = ok(await service.storage.from(id).download('later.txt'));
  assert.equal(await blob.text(), 'hello world');
});

test('a bad apikey gets the gateway\'s 401; no Authorization gets storage-api\'s message', async () => {
  const forged = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJl';
  const { error } = await client(forged).storage.listBuckets();
  assert.equal(error.status, 401, JSON.stringify(error));
  assert.equal(error.message, 'Invalid API key');
  const r = await fetch(`${url}/storage/v1/bucket`, { headers: { apikey: anonKey } });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(body.message, "headers must have required property 'authorization'", JSON.stringify(body));
});
