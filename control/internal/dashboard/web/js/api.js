// The dashboard's only ways out: the admin API (with the session cookie and
// its CSRF token) and the public APIs (with a project's service_role key).

let csrf = null;
let defaultRef = 'default';
const keyCache = new Map();

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && (body.error || body.message || body.msg || body.error_description)) || fallback || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// onSignedOut is called when the admin API says the session has ended.
export let onSignedOut = () => {};
export function setSignedOutHandler(fn) { onSignedOut = fn; }

async function parse(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return {error: text.slice(0, 300)}; }
}

async function call(method, url, body, headers = {}) {
  const opts = {method, headers: {...headers}, credentials: 'same-origin'};
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && csrf) opts.headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    throw new ApiError(0, null, `Cannot reach MadBase (${e.message}). Is it running?`);
  }
  const data = await parse(res);
  if (!res.ok) {
    if (res.status === 401 && url.startsWith('/admin/')) onSignedOut();
    throw new ApiError(res.status, data);
  }
  return data;
}

export const admin = {
  get: (p) => call('GET', '/admin/v1' + p),
  post: (p, b) => call('POST', '/admin/v1' + p, b ?? {}),
  patch: (p, b) => call('PATCH', '/admin/v1' + p, b),
  del: (p) => call('DELETE', '/admin/v1' + p),
};

export async function restoreSession() {
  try {
    const s = await call('GET', '/dashboard/session');
    csrf = s.csrf_token;
    defaultRef = s.default_project || defaultRef;
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

export async function signIn(password) {
  const s = await call('POST', '/dashboard/session', {password});
  csrf = s.csrf_token;
  defaultRef = s.default_project || defaultRef;
}

export async function signOut() {
  try { await call('DELETE', '/dashboard/session'); } finally {
    csrf = null;
    keyCache.clear();
  }
}

export function defaultProject() { return defaultRef; }

// The default project lives in the environment, not in control's store, so
// the admin API has no keys for it: the operator pastes its service_role key
// (from `madbase keys`), kept for this browser tab only.
const pastedKey = (ref) => `madbase.key.${ref}`;
export function setPastedKey(ref, key) { sessionStorage.setItem(pastedKey(ref), key); keyCache.delete(ref); }

export async function projectKeys(ref, fresh = false) {
  if (!fresh && keyCache.has(ref)) return keyCache.get(ref);
  let keys;
  if (ref === defaultRef) {
    const k = sessionStorage.getItem(pastedKey(ref));
    if (!k) {
      const e = new ApiError(0, null, 'The default project is configured by the environment: paste its service_role key in Settings to browse it.');
      e.needsKey = true;
      throw e;
    }
    keys = {service_role: k};
  } else {
    keys = (await admin.get(`/projects/${encodeURIComponent(ref)}`)).keys;
  }
  keyCache.set(ref, keys);
  return keys;
}

export function forgetKeys(ref) { keyCache.delete(ref); }

// pub calls a public API of project ref as its service role.
export async function pub(ref, method, path, {body, headers = {}, raw = false} = {}) {
  const {service_role: key} = await projectKeys(ref);
  const hs = {apikey: key, Authorization: `Bearer ${key}`, ...headers};
  let payload = body;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof FormData) && typeof body !== 'string') {
    payload = JSON.stringify(body);
    hs['Content-Type'] = hs['Content-Type'] || 'application/json';
  }
  let res;
  try {
    res = await fetch(path, {method, headers: hs, body: payload, credentials: 'omit'});
  } catch (e) {
    throw new ApiError(0, null, `Cannot reach MadBase (${e.message}).`);
  }
  if (raw && res.ok) return res;
  const data = await parse(res);
  if (!res.ok) throw new ApiError(res.status, data);
  return {data, res};
}

// sql runs a query on project ref's database through the admin API.
export function sql(ref, query) {
  return admin.post(`/projects/${encodeURIComponent(ref)}/sql`, {query});
}
