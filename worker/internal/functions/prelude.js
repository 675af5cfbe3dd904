// The web APIs a MadBase edge function sees, written over the natives the
// worker gives in N (see natives.go). It runs once in every new instance,
// before the function's bundle.
(function (g, N) {
  "use strict";

  const te = (s) => new Uint8Array(N.encodeUTF8(String(s)));
  const td = (b) => N.decodeUTF8(b);

  function toBytes(v) {
    if (v == null) return new Uint8Array(0);
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (typeof v === "string") return te(v);
    throw new TypeError("expected a string, an ArrayBuffer or a typed array");
  }

  function concat(chunks) {
    let n = 0;
    for (const c of chunks) n += c.byteLength;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of chunks) { out.set(c, o); o += c.byteLength; }
    return out;
  }

  // ---- Headers
  class Headers {
    constructor(init) {
      this._m = null;
      this._raw = null;
      if (init == null) { this._m = new Map(); return; }
      if (typeof init === "string") { this._raw = init; return; } // the worker's: "k\0v\0k\0v"
      this._m = new Map();
      if (init instanceof Headers) { init._map().forEach((vs, k) => this._m.set(k, vs.slice())); return; }
      if (typeof init[Symbol.iterator] === "function") {
        for (const p of init) this.append(p[0], p[1]);
        return;
      }
      for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    // _map builds the map of a request's headers on first use.
    _map() {
      if (this._m === null) {
        this._m = new Map();
        const a = this._raw.split("\0");
        this._raw = null;
        for (let i = 0; i + 1 < a.length; i += 2) this.append(a[i], a[i + 1]);
      }
      return this._m;
    }
    append(k, v) {
      k = String(k).toLowerCase(); v = String(v).trim();
      const m = this._map();
      const e = m.get(k);
      if (e) e.push(v); else m.set(k, [v]);
    }
    set(k, v) { this._map().set(String(k).toLowerCase(), [String(v).trim()]); }
    get(k) {
      const e = this._map().get(String(k).toLowerCase());
      return e ? e.join(", ") : null;
    }
    getSetCookie() { return (this._map().get("set-cookie") || []).slice(); }
    has(k) { return this._map().has(String(k).toLowerCase()); }
    delete(k) { this._map().delete(String(k).toLowerCase()); }
    forEach(cb, thisArg) { for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this); }
    *entries() {
      const m = this._map();
      for (const k of [...m.keys()].sort()) {
        if (k === "set-cookie") { for (const v of m.get(k)) yield [k, v]; }
        else yield [k, m.get(k).join(", ")];
      }
    }
    // _flat is the headers as the worker reads them: "k\0v\0...".
    _flat() {
      const out = [];
      this._map().forEach((vs, k) => { for (let i = 0; i < vs.length; i++) out.push(k, vs[i]); });
      return out.join("\0");
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }

  // ---- URLSearchParams
  const formEncode = (s) => encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const formDecode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch (e) { return s; } };
  class URLSearchParams {
    constructor(init) {
      this._l = [];
      this._owner = null;
      if (init == null) return;
      if (init instanceof URLSearchParams) { this._l = init._l.map((p) => p.slice()); return; }
      if (typeof init === "string") { this._parse(init); return; }
      if (typeof init[Symbol.iterator] === "function") { for (const p of init) this._l.push([String(p[0]), String(p[1])]); return; }
      for (const k of Object.keys(init)) this._l.push([k, String(init[k])]);
    }
    _parse(s) {
      this._l = [];
      if (s.startsWith("?")) s = s.slice(1);
      for (const part of s.split("&")) {
        if (!part) continue;
        const i = part.indexOf("=");
        this._l.push(i < 0 ? [formDecode(part), ""] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
      }
    }
    _changed() { if (this._owner) this._owner._search = this._l.length ? "?" + this.toString() : ""; }
    get size() { return this._l.length; }
    append(k, v) { this._l.push([String(k), String(v)]); this._changed(); }
    set(k, v) {
      k = String(k);
      const i = this._l.findIndex((p) => p[0] === k);
      if (i < 0) this._l.push([k, String(v)]);
      else { this._l[i][1] = String(v); this._l = this._l.filter((p, j) => j <= i || p[0] !== k); }
      this._changed();
    }
    get(k) { const p = this._l.find((p) => p[0] === String(k)); return p ? p[1] : null; }
    getAll(k) { return this._l.filter((p) => p[0] === String(k)).map((p) => p[1]); }
    has(k) { return this._l.some((p) => p[0] === String(k)); }
    delete(k) { this._l = this._l.filter((p) => p[0] !== String(k)); this._changed(); }
    sort() { this._l.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._changed(); }
    forEach(cb, thisArg) { for (const [k, v] of this._l) cb.call(thisArg, v, k, this); }
    *entries() { for (const p of this._l) yield [p[0], p[1]]; }
    *keys() { for (const p of this._l) yield p[0]; }
    *values() { for (const p of this._l) yield p[1]; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this._l.map((p) => formEncode(p[0]) + "=" + formEncode(p[1])).join("&"); }
  }

  // ---- URL
  class URL {
    constructor(url, base) {
      const p = N.parseURL(String(url), base === undefined ? "" : String(base));
      if (typeof p === "string") throw new TypeError("Invalid URL: " + p);
      this._protocol = p.protocol; this._username = p.username; this._password = p.password;
      this._hostname = p.hostname; this._port = p.port; this._pathname = p.pathname;
      this._search = p.search; this._hash = p.hash;
      this._sp = null;
    }
    static canParse(url, base) { try { new URL(url, base); return true; } catch (e) { return false; } }
    get protocol() { return this._protocol; }
    set protocol(v) { v = String(v); this._protocol = v.endsWith(":") ? v : v + ":"; }
    get username() { return this._username; }
    set username(v) { this._username = String(v); }
    get password() { return this._password; }
    set password(v) { this._password = String(v); }
    get hostname() { return this._hostname; }
    set hostname(v) { this._hostname = String(v); }
    get port() { return this._port; }
    set port(v) { this._port = String(v); }
    get host() { return this._hostname + (this._port ? ":" + this._port : ""); }
    set host(v) { const i = String(v).lastIndexOf(":"); if (i > 0 && !String(v).endsWith("]")) { this._hostname = String(v).slice(0, i); this._port = String(v).slice(i + 1); } else { this._hostname = String(v); this._port = ""; } }
    get origin() { return this._protocol + "//" + this.host; }
    get pathname() { return this._pathname; }
    set pathname(v) { v = String(v); this._pathname = v.startsWith("/") ? v : "/" + v; }
    get search() { return this._search.length > 1 ? this._search : ""; }
    set search(v) { v = String(v); this._search = v === "" || v === "?" ? "" : v.startsWith("?") ? v : "?" + v; if (this._sp) this._sp._parse(this._search); }
    get hash() { return this._hash.length > 1 ? this._hash : ""; }
    set hash(v) { v = String(v); this._hash = v === "" ? "" : v.startsWith("#") ? v : "#" + v; }
    get searchParams() {
      if (!this._sp) { this._sp = new URLSearchParams(this._search); this._sp._owner = this; }
      return this._sp;
    }
    get href() {
      const auth = this._username ? this._username + (this._password ? ":" + this._password : "") + "@" : "";
      return this._protocol + "//" + auth + this.host + this._pathname + this.search + this.hash;
    }
    set href(v) { const u = new URL(v); Object.assign(this, u); this._sp = null; }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }

  // ---- TextEncoder / TextDecoder
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(s) { return te(s === undefined ? "" : s); }
    encodeInto(s, dest) { const b = te(s); const n = Math.min(b.length, dest.length); dest.set(b.subarray(0, n)); return { read: s.length, written: n }; }
  }
  class TextDecoder {
    constructor(label) {
      label = (label || "utf-8").toLowerCase();
      if (label !== "utf-8" && label !== "utf8") throw new RangeError("TextDecoder: only utf-8 is supported");
    }
    get encoding() { return "utf-8"; }
    decode(b) { return b === undefined ? "" : td(toBytes(b)); }
  }

  // ---- Blob, File
  class Blob {
    constructor(parts, opts) {
      const chunks = [];
      for (const p of parts || []) chunks.push(p instanceof Blob ? p._b : toBytes(p));
      this._b = concat(chunks);
      this._type = opts && opts.type ? String(opts.type).toLowerCase() : "";
    }
    get size() { return this._b.byteLength; }
    get type() { return this._type; }
    arrayBuffer() { return Promise.resolve(this._b.slice().buffer); }
    bytes() { return Promise.resolve(this._b.slice()); }
    text() { return Promise.resolve(td(this._b)); }
    slice(start, end, type) { const b = new Blob([], { type }); b._b = this._b.slice(start, end); return b; }
    stream() { return bytesStream(this._b); }
  }
  class File extends Blob {
    constructor(parts, name, opts) { super(parts, opts); this._name = String(name); this._lm = (opts && opts.lastModified) || Date.now(); }
    get name() { return this._name; }
    get lastModified() { return this._lm; }
  }

  // ---- FormData
  class FormData {
    constructor() { this._l = []; }
    _v(v, filename) {
      if (v instanceof Blob) {
        if (filename !== undefined || !(v instanceof File)) { const f = new File([v], filename !== undefined ? filename : v instanceof File ? v.name : "blob", { type: v.type }); return f; }
        return v;
      }
      return String(v);
    }
    append(k, v, filename) { this._l.push([String(k), this._v(v, filename)]); }
    set(k, v, filename) { this.delete(k); this.append(k, v, filename); }
    get(k) { const p = this._l.find((p) => p[0] === String(k)); return p ? p[1] : null; }
    getAll(k) { return this._l.filter((p) => p[0] === String(k)).map((p) => p[1]); }
    has(k) { return this._l.some((p) => p[0] === String(k)); }
    delete(k) { this._l = this._l.filter((p) => p[0] !== String(k)); }
    forEach(cb, thisArg) { for (const [k, v] of this._l) cb.call(thisArg, v, k, this); }
    *entries() { for (const p of this._l) yield [p[0], p[1]]; }
    *keys() { for (const p of this._l) yield p[0]; }
    *values() { for (const p of this._l) yield p[1]; }
    [Symbol.iterator]() { return this.entries(); }
  }
  function encodeForm(fd) {
    const boundary = "----madbase" + N.randomUUID().replace(/-/g, "");
    const chunks = [];
    const esc = (s) => s.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
    for (const [k, v] of fd._l) {
      if (typeof v === "string") {
        chunks.push(te("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + esc(k) + "\"\r\n\r\n" + v + "\r\n"));
      } else {
        chunks.push(te("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + esc(k) + "\"; filename=\"" + esc(v.name) + "\"\r\nContent-Type: " + (v.type || "application/octet-stream") + "\r\n\r\n"));
        chunks.push(v._b, te("\r\n"));
      }
    }
    chunks.push(te("--" + boundary + "--\r\n"));
    return { bytes: concat(chunks), type: "multipart/form-data; boundary=" + boundary };
  }
  function decodeForm(bytes, type) {
    const fd = new FormData();
    if (/^application\/x-www-form-urlencoded/i.test(type)) {
      for (const [k, v] of new URLSearchParams(td(bytes))) fd.append(k, v);
      return fd;
    }
    const parts = N.parseMultipart(bytes, type);
    if (typeof parts === "string") throw new TypeError("could not parse the body as FormData: " + parts);
    for (const p of parts) {
      if (p.filename === undefined) fd.append(p.name, p.value);
      else fd.append(p.name, new File([new Uint8Array(p.data)], p.filename, { type: p.type }));
    }
    return fd;
  }

  // ---- ReadableStream (the parts functions use: underlying sources with
  // start/pull/cancel, readers, async iteration)
  class ReadableStreamDefaultController {
    constructor(s) { this._s = s; }
    get desiredSize() { return 1 - this._s._q.length; }
    enqueue(chunk) { this._s._push({ value: chunk, done: false }); }
    close() { this._s._closed = true; this._s._flush(); }
    error(e) { this._s._err = e === undefined ? new Error("stream errored") : e; this._s._flush(); }
  }
  class ReadableStream {
    constructor(src) {
      this._src = src || {};
      this._q = []; this._reads = []; this._closed = false; this._err = undefined; this._locked = false; this._pulling = false;
      this._c = new ReadableStreamDefaultController(this);
      try {
        const r = this._src.start ? this._src.start(this._c) : undefined;
        Promise.resolve(r).catch((e) => this._c.error(e));
      } catch (e) { this._c.error(e); }
    }
    get locked() { return this._locked; }
    _push(item) {
      if (this._closed || this._err !== undefined) throw new TypeError("the stream is closed");
      this._q.push(item); this._flush();
    }
    _flush() {
      while (this._reads.length) {
        const r = this._reads[0];
        if (this._err !== undefined) { this._reads.shift(); r.reject(this._err); continue; }
        if (this._q.length) { this._reads.shift(); r.resolve(this._q.shift()); continue; }
        if (this._closed) { this._reads.shift(); r.resolve({ value: undefined, done: true }); continue; }
        break;
      }
    }
    _pull() {
      if (!this._src.pull || this._pulling || this._closed || this._err !== undefined || this._q.length) return;
      this._pulling = true;
      Promise.resolve().then(() => this._src.pull(this._c)).then(() => { this._pulling = false; if (this._reads.length) this._pull(); }, (e) => { this._pulling = false; this._c.error(e); });
    }
    _read() {
      return new Promise((resolve, reject) => { this._reads.push({ resolve, reject }); this._flush(); if (this._reads.length) this._pull(); });
    }
    getReader() {
      if (this._locked) throw new TypeError("the stream is locked");
      this._locked = true;
      const s = this;
      return {
        read: () => s._read(),
        releaseLock: () => { s._locked = false; },
        cancel: (reason) => s.cancel(reason),
        get closed() { return Promise.resolve(); },
      };
    }
    cancel(reason) {
      this._closed = true; this._q = [];
      this._flush();
      try { if (this._src.cancel) return Promise.resolve(this._src.cancel(reason)); } catch (e) { return Promise.reject(e); }
      return Promise.resolve();
    }
    [Symbol.asyncIterator]() {
      const r = this.getReader();
      return {
        next: () => r.read().then((x) => { if (x.done) r.releaseLock(); return x; }),
        return: (v) => { r.releaseLock(); return Promise.resolve({ value: v, done: true }); },
        [Symbol.asyncIterator]() { return this; },
      };
    }
    values() { return this[Symbol.asyncIterator](); }
    static from(it) {
      const iter = it[Symbol.asyncIterator] ? it[Symbol.asyncIterator]() : it[Symbol.iterator]();
      return new ReadableStream({ async pull(c) { const { value, done } = await iter.next(); if (done) c.close(); else c.enqueue(value); } });
    }
  }
  function bytesStream(b) {
    return new ReadableStream({ start(c) { if (b.byteLength) c.enqueue(b); c.close(); } });
  }
  async function readAll(stream) {
    const chunks = [];
    const r = stream.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      chunks.push(toBytes(value));
    }
    r.releaseLock();
    return concat(chunks);
  }

  // ---- Body (shared by Request and Response)
  function initBody(o, body, headers) {
    o._bytes = null; o._stream = null; o._used = false;
    if (body == null) return;
    let type = null;
    if (typeof body === "string") { o._bytes = te(body); type = "text/plain;charset=UTF-8"; }
    else if (body instanceof ReadableStream) o._stream = body;
    else if (body instanceof URLSearchParams) { o._bytes = te(body.toString()); type = "application/x-www-form-urlencoded;charset=UTF-8"; }
    else if (body instanceof FormData) { const f = encodeForm(body); o._bytes = f.bytes; type = f.type; }
    else if (body instanceof Blob) { o._bytes = body._b; if (body.type) type = body.type; }
    else if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) o._bytes = toBytes(body).slice();
    else { o._bytes = te(String(body)); type = "text/plain;charset=UTF-8"; }
    if (type && !headers.has("content-type")) headers.set("content-type", type);
  }
  const bodyMethods = {
    get body() {
      if (this._stream) return this._stream;
      if (this._bytes === null) return null;
      this._stream = bytesStream(this._bytes); this._bytes = null;
      return this._stream;
    },
    get bodyUsed() { return this._used; },
    _consume() {
      if (this._used) return Promise.reject(new TypeError("body already used"));
      this._used = true;
      if (this._stream) return readAll(this._stream);
      return Promise.resolve(this._bytes || new Uint8Array(0));
    },
    arrayBuffer() { return this._consume().then((b) => b.slice().buffer); },
    bytes() { return this._consume().then((b) => b.slice()); },
    text() { return this._consume().then(td); },
    json() { return this.text().then((t) => JSON.parse(t)); },
    blob() { return this._consume().then((b) => new Blob([b], { type: this.headers.get("content-type") || "" })); },
    formData() { return this._consume().then((b) => decodeForm(b, this.headers.get("content-type") || "")); },
  };
  function mixBody(C) {
    for (const k of Object.getOwnPropertyNames(bodyMethods)) Object.defineProperty(C.prototype, k, Object.getOwnPropertyDescriptor(bodyMethods, k));
  }
  function cloneBody(from, to) {
    if (from._stream) throw new TypeError("a streamed body cannot be cloned");
    to._bytes = from._bytes; to._stream = null; to._used = false;
  }

  // ---- AbortController (enough for code that passes a signal along)
  class AbortSignal {
    constructor() { this.aborted = false; this.reason = undefined; this._l = []; this.onabort = null; }
    addEventListener(t, f) { if (t === "abort") this._l.push(f); }
    removeEventListener(t, f) { this._l = this._l.filter((x) => x !== f); }
    throwIfAborted() { if (this.aborted) throw this.reason; }
    static abort(reason) { const s = new AbortSignal(); s.aborted = true; s.reason = reason; return s; }
    static timeout(ms) { const c = new AbortController(); setTimeout(() => c.abort(new Error("timeout")), ms); return c.signal; }
  }
  class AbortController {
    constructor() { this.signal = new AbortSignal(); }
    abort(reason) {
      const s = this.signal;
      if (s.aborted) return;
      s.aborted = true; s.reason = reason === undefined ? new Error("aborted") : reason;
      for (const f of s._l) f({ type: "abort" });
      if (s.onabort) s.onabort({ type: "abort" });
    }
  }

  // ---- Request, Response
  class Request {
    constructor(input, init) {
      init = init || {};
      if (input instanceof Request) {
        this.url = input.url; this.method = input.method; this.headers = new Headers(input.headers);
        cloneBody(input, this);
      } else if (init._trusted) {
        this.url = input; this.method = "GET"; this.headers = null; this._bytes = null; this._stream = null; this._used = false;
      } else {
        this.url = new URL(String(input)).href; this.method = "GET"; this.headers = new Headers(); this._bytes = null; this._stream = null; this._used = false;
      }
      if (init.method) this.method = String(init.method).toUpperCase();
      if (init.headers) this.headers = init._trusted ? init.headers : new Headers(init.headers);
      if (init.body !== undefined) initBody(this, init.body, this.headers);
      this._signal = init.signal || null;
      this.redirect = init.redirect || "follow";
    }
    get signal() { if (!this._signal) this._signal = new AbortSignal(); return this._signal; }
    clone() { const r = new Request(this); return r; }
  }
  mixBody(Request);

  class Response {
    constructor(body, init) {
      init = init || {};
      this.status = init.status === undefined ? 200 : init.status | 0;
      if (this.status < 200 || this.status > 599) throw new RangeError("Response status must be between 200 and 599");
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.type = "default"; this.url = ""; this.redirected = false;
      initBody(this, body === undefined ? null : body, this.headers);
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    clone() { const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers }); cloneBody(this, r); return r; }
    static json(data, init) {
      init = init || {};
      const h = new Headers(init.headers);
      if (!h.has("content-type")) h.set("content-type", "application/json");
      return new Response(JSON.stringify(data), Object.assign({}, init, { headers: h }));
    }
    static redirect(url, status) { return new Response(null, { status: status || 302, headers: { location: new URL(url).href } }); }
    static error() { const r = new Response(null, { status: 200 }); r.type = "error"; r.status = 0; return r; }
  }
  mixBody(Response);

  // ---- timers
  const timers = new Map();
  let nextTimer = 1;
  function setTimeout(fn, ms, ...args) {
    const id = nextTimer++;
    if (typeof fn !== "function") { const src = String(fn); fn = () => (0, eval)(src); }
    timers.set(id, N.setTimeout(() => { timers.delete(id); fn(...args); }, Math.max(0, Number(ms) || 0)));
    return id;
  }
  function clearTimeout(id) { const h = timers.get(id); if (h !== undefined) { timers.delete(id); N.clearTimeout(h); } }
  function setInterval(fn, ms, ...args) {
    const id = nextTimer++;
    const tick = () => { timers.set(id, N.setTimeout(tick, Math.max(1, Number(ms) || 0))); fn(...args); };
    timers.set(id, N.setTimeout(tick, Math.max(1, Number(ms) || 0)));
    return id;
  }

  // ---- fetch
  function fetch(input, init) {
    let req;
    try { req = new Request(input, init); } catch (e) { return Promise.reject(e); }
    return req._consume().then((body) => new Promise((resolve, reject) => {
      N.fetch(req.method, req.url, [...req.headers.entries()], body.byteLength ? body.slice().buffer : null, (r) => {
        const res = new Response(r.status === 204 || r.status === 304 || r.body === null ? null : new Uint8Array(r.body), { status: r.status, statusText: r.statusText, headers: r.headers });
        res.url = req.url;
        resolve(res);
      }, (msg) => reject(new TypeError("fetch failed: " + msg)));
    }));
  }

  // ---- console
  function fmt(args) {
    return args.map((a) => {
      if (typeof a === "string") return a;
      if (a instanceof Error) return a.stack || String(a);
      try { const s = JSON.stringify(a); return s === undefined ? String(a) : s; } catch (e) { return String(a); }
    }).join(" ");
  }
  const console = {
    log: (...a) => N.log("info", fmt(a)),
    info: (...a) => N.log("info", fmt(a)),
    debug: (...a) => N.log("debug", fmt(a)),
    warn: (...a) => N.log("warn", fmt(a)),
    error: (...a) => N.log("error", fmt(a)),
    trace: (...a) => N.log("debug", fmt(a)),
    table: (...a) => N.log("info", fmt(a)),
    dir: (...a) => N.log("info", fmt(a)),
    assert: (c, ...a) => { if (!c) N.log("error", "Assertion failed: " + fmt(a)); },
    time() {}, timeEnd() {}, group() {}, groupEnd() {},
  };

  // ---- crypto
  const crypto = {
    randomUUID: () => N.randomUUID(),
    getRandomValues(a) { const b = new Uint8Array(N.randomBytes(a.byteLength)); new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(b); return a; },
    subtle: {
      digest(alg, data) {
        try {
          const name = typeof alg === "string" ? alg : alg && alg.name;
          return Promise.resolve(N.digest(String(name).toUpperCase(), toBytes(data)));
        } catch (e) { return Promise.reject(e); }
      },
    },
  };

  // ---- Deno
  const Deno = {
    serve(a, b) {
      const handler = typeof a === "function" ? a : typeof b === "function" ? b : a && a.handler;
      if (typeof handler !== "function") throw new TypeError("Deno.serve needs a handler function");
      g.__handler = handler;
      return { finished: new Promise(() => {}), shutdown() { return Promise.resolve(); }, ref() {}, unref() {}, addr: { hostname: "0.0.0.0", port: 0, transport: "tcp" } };
    },
    env: {
      get: (k) => { const v = N.env(String(k)); return v === null ? undefined : v; },
      has: (k) => N.env(String(k)) !== null,
      toObject: () => N.envAll(),
      set() { throw new Error("Deno.env.set is not supported: set secrets with madbase secrets set"); },
      delete() { throw new Error("Deno.env.delete is not supported"); },
    },
    version: { deno: "madbase", v8: "goja", typescript: "esbuild" },
    build: { os: "linux", arch: "x86_64" },
  };
  const EdgeRuntime = { waitUntil(p) { Promise.resolve(p).catch((e) => N.log("error", fmt([e]))); } };

  // What the worker calls (natives.go).
  function __invoke(method, url, headers, body, info, done) {
    let res;
    try {
      const req = new Request(url, { _trusted: true, method, headers: new Headers(headers), body: body === null ? undefined : new Uint8Array(body) });
      res = g.__handler(req, info);
    } catch (e) { done(null, e); return; }
    if (res instanceof Response) { done(res, null); return; }
    Promise.resolve(res).then((r) => {
      if (!(r instanceof Response)) throw new TypeError("the function's handler did not return a Response");
      done(r, null);
    }).catch((e) => done(null, e));
  }
  function __parts(r) {
    let body = null;
    if (!r._stream && r._bytes !== null) body = r._bytes.byteOffset === 0 && r._bytes.byteLength === r._bytes.buffer.byteLength ? r._bytes.buffer : r._bytes.slice().buffer;
    return { status: r.status, headers: r.headers._flat(), body, stream: r._stream !== null };
  }
  // __pump reads a streamed body to its end, handing each chunk to N.chunk
  // (false: the client is gone), then calls end with an error message or "".
  function __pump(r, end) {
    const reader = r._stream.getReader();
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "";
        if (!N.chunk(toBytes(value))) { reader.cancel("client gone"); return ""; }
      }
    })().then(end, (e) => end(fmt([e]) || "stream error"));
  }

  Object.assign(g, {
    Headers, Request, Response, URL, URLSearchParams, TextEncoder, TextDecoder, Blob, File, FormData,
    ReadableStream, ReadableStreamDefaultController, AbortController, AbortSignal,
    setTimeout, clearTimeout, setInterval, clearInterval: clearTimeout,
    queueMicrotask: (f) => { Promise.resolve().then(f); },
    structuredClone: (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v))),
    atob: (s) => N.atob(String(s)), btoa: (s) => N.btoa(String(s)),
    fetch, console, crypto, Deno, EdgeRuntime,
    performance: { now: () => N.now() },
    self: g, globalThis: g,
    __invoke, __parts, __pump,
  });
})(this, __native);
