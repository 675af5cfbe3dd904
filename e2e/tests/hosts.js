// Reaching a project by its Host <ref>.<PROJECT_DOMAIN> (as
// createClient('https://shop.example.com', key) does on Supabase), and
// control's admin API: helpers of the tests that create projects. The name
// need not resolve: connections go to the edge's address with the project's
// name as Host.
import http from 'node:http';
import WebSocket from 'ws';
import { url, adminPassword } from './helpers.js';

export const domain = process.env.PROJECT_DOMAIN;
if (!domain) {
  throw new Error('run the e2e suite with e2e/run.sh, which sets PROJECT_DOMAIN and MADBASE_ENCRYPTION_KEY');
}
export const edge = new URL(url);
const edgeAddress = edge.hostname === 'localhost' ? '127.0.0.1' : edge.hostname;

// hostURL is a project's URL at its Host.
export const hostURL = (ref) => `${edge.protocol}//${ref}.${domain}:${edge.port}`;

// loopback resolves every name to the edge's address.
function loopback(_host, opts, cb) {
  if (opts && opts.all) cb(null, [{ address: edgeAddress, family: 4 }]);
  else cb(null, edgeAddress, 4);
}

// loopbackFetch is fetch over node:http: the URL's host is the Host header,
// the connection goes to the edge. It never follows redirects.
export async function loopbackFetch(input, init = {}) {
  const req = new Request(input, init);
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : null;
  const headers = Object.fromEntries(req.headers);
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = http.request(new URL(req.url), { method: req.method, headers, lookup: loopback }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          for (const x of Array.isArray(v) ? v : [v]) h.append(k, x);
        }
        const empty = [204, 205, 304].includes(res.statusCode) || req.method === 'HEAD';
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
      });
    });
    r.on('error', reject);
    r.end(body ?? undefined);
  });
}

// LoopbackWebSocket is ws with every name resolved to the edge's address.
export class LoopbackWebSocket extends WebSocket {
  constructor(address, protocols, options) {
    super(address, protocols, { ...options, lookup: loopback });
  }
}

// adminCall calls control's admin API with the admin password; body is
// the answer's JSON (or text).
export async function adminCall(method, path, body) {
  const res = await fetch(`${url}/admin/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminPassword}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}
