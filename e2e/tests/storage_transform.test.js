// Image transformations under supabase-js's storage client, through the
// edge: download(path, {transform}), getPublicUrl(path, {transform}) and
// createSignedUrl(path, expiresIn, {transform}), each answer's size read
// from the image's own header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { serviceKey, client } from './helpers.js';

const service = client(serviceKey);
const run = crypto.randomBytes(4).toString('hex');

// A 200×150 JPEG (a colour gradient).
const PHOTO = Buffer.from(
  '/9j/2wCEABQODxIPDRQSEBIXFRQYHjIhHhwcHj0sLiQySUBMS0dARkVQWnNiUFVtVkVGZIhlbXd7gYKBTmCNl4x9lnN+gXwBFRcX' +
  'HhoeOyEhO3xTRlN8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fP/AABEIAJYAyAMBIgAC' +
  'EQEDEQH/xAGiAAABBQEBAQEBAQAAAAAAAAAAAQIDBAUGBwgJCgsQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQy' +
  'gZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeI' +
  'iYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+gEAAwEBAQEB' +
  'AQEBAQAAAAAAAAECAwQFBgcICQoLEQACAQIEBAMEBwUEBAABAncAAQIDEQQFITEGEkFRB2FxEyIygQgUQpGhscEJIzNS8BVictEK' +
  'FiQ04SXxFxgZGiYnKCkqNTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqCg4SFhoeIiYqSk5SVlpeYmZqio6Sl' +
  'pqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2dri4+Tl5ufo6ery8/T19vf4+fr/2gAMAwEAAhEDEQA/AOTxTsU7FLivWuZp' +
  'jQKUCnAUoFK5omNAp2KUCnYpXNExuKXFOxS4qbmiY3FLinYp2KVy0xuKXFOxSgUrmiY3FLinYpcVNzRMbinYp2KXFK5omNApQKcB' +
  'SgUrmiY0CnAU4ClxU3NExuKXFOxS4pXNExoFKBTgKcBSuaJjQKMU8CjFK5dzFxSgU7FKBXZc+NTGgUoFOApwFK5aY0ClxTgKXFTc' +
  '0TG4pcU7FOApXNExuKXFOxSgUrmiY3FLinYpcVNzRMbinYp2KXFK5omNxS4p2KXFK5omNApwFKBTgKm5omNApcU4ClxSuWmNxSgU' +
  '7FOxSuaJjQKUCnAUoFTc0TGgUuKcBS4pXNLmJilxTsU4Cuy58YmNApQKcBSgUrmiY0ClxTgKXFK5omNxTsU7FKBSuaJjcUoFOxSg' +
  'VNzRMbinAU7FLilc0TG4pcU7FLilc0TG4pcU7FOxU3LTGgUoFOApQKVzRMaBS4pwFOxSuaJjcUuKdilAqbmiY0ClApwFKBSuaJjQ' +
  'KXFPAoxSuXcxcUoFOxS4rsufGpjQKUCnAUoFK5omNAp2KcBS4qbmiY3FKBTsUuKVy0xuKcBTsUoFK5omNxS4p2KUCpuaJjcUuKdi' +
  'nYpXNExuKXFOxS4pXNExoFKBTgKUClc0TEApcU4ClxU3NExuKUCnYpcUrmiY0CnAU4ClApXNExoFGKeBS4qbl3MTFKBTsUoFdtz4' +
  '1MaBTgKcBSgVNy0xoFLinAUuKVzRMbilAp2KcBSuaJjQKUCnAUoFTc0TG4pcU7FOxSuaJjcUuKdilxSuaJjcUuKdilxU3NExoFOA' +
  'pwFKBSuaJjcUuKdilxSuWmNxTgKdilAqbmiY0ClApwFKBSuaJjQKXFOApcUrmlzExTgKdilArsufGJjQKUCnAUoFK5omNApcU4Cn' +
  'YpXNExuKUCnYpQKm5omNxS4pwFOApXNExuKXFOxS4pXNExoFLinYpcVNy0xoFOxTsUuKVzRMaBSgU4ClApXNExuKdilxTsVNzRMb' +
  'ilAp2KUClc0TGgUoFOApwFK5omNAoxTwKMUrl3MXFKBTsUoFdlz41MaBSgU4CnAVNzRMaBS4p2KXFK5omNxSgU4ClApXLTGgU4Cn' +
  'AUoFTc0TG4pcU7FLilc0TG4p2KcBS4pXNExuKXFOApcUrmiY0ClAp2KdipuaJjcUuKdilxSuaJjcUoFOxTgKVzRMaBSgU4ClAqbm' +
  'iY0ClxTsUuKVy7mJilAp2KcBXZc+NTGgUoFOApQKVy0xuKXFOApcUrmiY3FOAp2KUCpuaJjQKUCnAUoFK5omNxTsU7FLilc0TG4p' +
  'cU7FLipuaJjcUuKdinYpXNExuKUCnYpcUrmiY3FLinYpcUrlpiYpQKdilAqbmiY0ClApwFKBSuaJjcUuKeBRilc0uYuKUCnYpQK7' +
  'LnxiY0ClApwFKBSuaJjcU7FOxS4qbmiY3FKBTgKUClc0TGgUoFOApwFK5omNxS4p2KXFTc0TG4pcU7FOxSuWmNxS4p2KXFK5omNA' +
  'pcU7FLipuaJjcU7FOxS4pXNExuKUCnYpQKVzRMaBTgKcBSgVNzRMbijFPxS4pXLuYmKUCilFdp8cgApQKBSikaIXFLikp1I0QYpQ' +
  'KKUVJaACnAUgpwpGiDFLiilpGiDFOxSUtSaIUClxRS0jRABSgUClFI0QuKUCgUoqTRBilAopRSNEKBSgUgpwpGiDFLiiikWf/9k='
  , 'base64');

// imageSize reads the format and size from a JPEG's, WebP's or PNG's
// header.
function imageSize(buf) {
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    let i = 2;
    while (i + 9 < buf.length) {
      if (buf[i] !== 0xff) throw new Error(`bad JPEG marker at ${i}`);
      const marker = buf[i + 1];
      const len = buf.readUInt16BE(i + 2);
      // SOF0–SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { format: 'jpeg', height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
      }
      i += 2 + len;
    }
    throw new Error('JPEG without a frame header');
  }
  if (buf.toString('ascii', 0, 4) === 'RIFF' && buf.toString('ascii', 8, 12) === 'WEBP') {
    const chunk = buf.toString('ascii', 12, 16);
    if (chunk === 'VP8 ') {
      return { format: 'webp', width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff };
    }
    if (chunk === 'VP8L') {
      const b = buf.subarray(21, 25);
      return {
        format: 'webp',
        width: 1 + (b[0] | ((b[1] & 0x3f) << 8)),
        height: 1 + ((b[1] >> 6) | (b[2] << 2) | ((b[3] & 0x0f) << 10)),
      };
    }
    if (chunk === 'VP8X') {
      return { format: 'webp', width: 1 + buf.readUIntLE(24, 3), height: 1 + buf.readUIntLE(27, 3) };
    }
    throw new Error(`unknown WebP chunk ${chunk}`);
  }
  if (buf.toString('latin1', 1, 4) === 'PNG') {
    return { format: 'png', width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  throw new Error(`not an image: ${buf.subarray(0, 16).toString('hex')}`);
}

function ok({ data, error }) {
  assert.equal(error, null, `unexpected error: ${JSON.stringify(error)}`);
  return data;
}

let buckets = 0;
async function setup(isPublic) {
  buckets += 1;
  const id = `transform-${isPublic ? 'pub' : 'priv'}-${run}-${buckets}`;
  ok(await service.storage.createBucket(id, { public: isPublic }));
  ok(await service.storage.from(id).upload('photos/cat.jpg', PHOTO, { contentType: 'image/jpeg' }));
  ok(await service.storage.from(id).upload('notes.txt', 'not an image', { contentType: 'text/plain' }));
  return service.storage.from(id);
}

async function fetched(u, headers = {}) {
  const r = await fetch(u, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  assert.equal(r.status, 200, `${u}: ${r.status} ${body}`);
  return { headers: r.headers, size: imageSize(body) };
}

test('transform: download(path, {transform}) resizes as asked', async () => {
  const s = await setup(false);
  assert.deepEqual(imageSize(PHOTO), { format: 'jpeg', width: 200, height: 150 });
  for (const [transform, want] of [
    [{ width: 100, height: 100 }, { format: 'jpeg', width: 100, height: 100 }],
    [{ width: 100, height: 100, resize: 'contain' }, { format: 'jpeg', width: 100, height: 75 }],
    [{ width: 60, height: 20, resize: 'fill' }, { format: 'jpeg', width: 60, height: 20 }],
    [{ width: 80 }, { format: 'jpeg', width: 80, height: 60 }],
    [{ height: 30, quality: 50 }, { format: 'jpeg', width: 40, height: 30 }],
    [{ width: 400, height: 400 }, { format: 'jpeg', width: 200, height: 150 }], // never enlarged
    [{ width: 50, format: 'origin' }, { format: 'jpeg', width: 50, height: 38 }],
  ]) {
    const blob = ok(await s.download('photos/cat.jpg', { transform }));
    assert.deepEqual(imageSize(Buffer.from(await blob.arrayBuffer())), want, JSON.stringify(transform));
  }
  // A file that is not an image gets storage-api's error.
  const bad = await s.download('notes.txt', { transform: { width: 10 } });
  assert.ok(bad.error, 'a text file does not render');
  assert.equal(bad.data, null);
});

test('transform: getPublicUrl(path, {transform}) renders, WebP when the client accepts it', async () => {
  const s = await setup(true);
  const { publicUrl } = s.getPublicUrl('photos/cat.jpg', { transform: { width: 100, height: 50 } }).data;
  assert.match(publicUrl, /\/storage\/v1\/render\/image\/public\/.*\?width=100&height=50$/);
  let r = await fetched(publicUrl);
  assert.deepEqual(r.size, { format: 'jpeg', width: 100, height: 50 });
  assert.equal(r.headers.get('content-type'), 'image/jpeg');
  r = await fetched(publicUrl, { Accept: 'image/avif,image/webp,*/*;q=0.8' });
  assert.deepEqual(r.size, { format: 'webp', width: 100, height: 50 });
  assert.equal(r.headers.get('content-type'), 'image/webp');
  // format origin keeps the JPEG whatever the client accepts; a second
  // request reads the same render.
  const origin = s.getPublicUrl('photos/cat.jpg', { transform: { width: 100, height: 50, format: 'origin' } }).data.publicUrl;
  const a = await fetched(origin, { Accept: 'image/webp' });
  const b = await fetched(origin, { Accept: 'image/webp' });
  assert.deepEqual(a.size, { format: 'jpeg', width: 100, height: 50 });
  assert.equal(a.headers.get('etag'), b.headers.get('etag'));
  // A private bucket has no public renders.
  const priv = await setup(false);
  const pr = await fetch(priv.getPublicUrl('photos/cat.jpg', { transform: { width: 10 } }).data.publicUrl);
  assert.equal(pr.status, 400);
  assert.equal((await pr.json()).code, 'NoSuchBucket');
});

test('transform: createSignedUrl(path, 60, {transform}) carries and enforces the transformation', async () => {
  const s = await setup(false);
  const { signedUrl } = ok(await s.createSignedUrl('photos/cat.jpg', 60, { transform: { width: 64, height: 64, resize: 'contain' } }));
  assert.match(signedUrl, /\/storage\/v1\/render\/image\/sign\//);
  assert.deepEqual((await fetched(signedUrl)).size, { format: 'jpeg', width: 64, height: 48 });
  // Other options added to the URL change nothing.
  assert.deepEqual((await fetched(signedUrl + '&width=150&resize=fill')).size, { format: 'jpeg', width: 64, height: 48 });
  // The token does not open the original.
  const orig = await fetch(signedUrl.replace('/render/image/sign/', '/object/sign/'));
  assert.equal(orig.status, 400);
  assert.equal((await orig.json()).code, 'InvalidSignature');
  // A bad option is refused when signing.
  const bad = await s.createSignedUrl('photos/cat.jpg', 60, { transform: { quality: 5 } });
  assert.ok(bad.error);
  assert.match(bad.error.message, /quality must be >= 20/);
});
