package functions

import (
	"strings"
	"testing"
)

// TestWebAPIs runs small functions through the HTTP handler, one per web
// API a Supabase function commonly uses.
func TestWebAPIs(t *testing.T) {
	a := newTestApp(t, nil)
	cases := []struct {
		name, src, method, path, body string
		headers                       []string
		wantStatus                    int
		wantBody                      string
	}{
		{name: "text", src: `Deno.serve(() => new Response("hello"))`, wantStatus: 200, wantBody: "hello"},
		{name: "json", src: `Deno.serve(async (req) => Response.json({ got: await req.json(), m: req.method }))`,
			method: "POST", body: `{"a":1}`, wantStatus: 200, wantBody: `{"got":{"a":1},"m":"POST"}`},
		{name: "status", src: `Deno.serve(() => new Response("nope", { status: 418, headers: { "x-a": "b" } }))`, wantStatus: 418, wantBody: "nope"},
		{name: "url", src: `Deno.serve((req) => { const u = new URL(req.url); return new Response(u.pathname + "|" + u.searchParams.get("q") + "|" + u.host) })`,
			path: "/functions/v1/url/sub/path?q=a%20b", wantStatus: 200, wantBody: "/url/sub/path|a b|example.com"},
		{name: "searchparams", src: `Deno.serve(() => { const p = new URLSearchParams("a=1&b=x+y"); p.append("c", "&"); p.set("a", "2"); return new Response(p.toString()) })`,
			wantStatus: 200, wantBody: "a=2&b=x+y&c=%26"},
		{name: "headers", src: `Deno.serve((req) => { const h = new Headers({ "X-A": "1" }); h.append("x-a", "2"); return new Response(h.get("x-a") + "|" + req.headers.get("x-test")) })`,
			headers: []string{"X-Test", "yes"}, wantStatus: 200, wantBody: "1, 2|yes"},
		{name: "encoding", src: `Deno.serve(() => { const b = new TextEncoder().encode("héllo"); return new Response(b.length + "|" + new TextDecoder().decode(b)) })`,
			wantStatus: 200, wantBody: "6|héllo"},
		{name: "base64", src: `Deno.serve(() => new Response(btoa("hi!") + "|" + atob("aGkh")))`, wantStatus: 200, wantBody: "aGkh|hi!"},
		{name: "digest", src: `Deno.serve(async () => { const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")); return new Response([...new Uint8Array(d)].map(b => b.toString(16).padStart(2, "0")).join("")) })`,
			wantStatus: 200, wantBody: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{name: "uuid", src: `Deno.serve(() => new Response(String(/^[0-9a-f-]{36}$/.test(crypto.randomUUID()))))`, wantStatus: 200, wantBody: "true"},
		{name: "timeout", src: `Deno.serve(async () => { await new Promise(r => setTimeout(r, 5)); return new Response("late") })`, wantStatus: 200, wantBody: "late"},
		{name: "env", src: `Deno.serve(() => new Response(String(Deno.env.get("NOPE")) + "|" + Deno.env.get("SUPABASE_URL").startsWith("http")))`, wantStatus: 200, wantBody: "undefined|true"},
		{name: "binary", src: `Deno.serve(async (req) => new Response(new Uint8Array(await req.arrayBuffer()).reverse()))`,
			method: "POST", body: "abc", wantStatus: 200, wantBody: "cba"},
		{name: "formdata", src: `Deno.serve(async (req) => { const f = await req.formData(); const file = f.get("file"); return new Response(f.get("a") + "|" + file.name + "|" + await file.text()) })`,
			method: "POST", body: "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\ncontent\r\n--XX--\r\n",
			headers: []string{"Content-Type", "multipart/form-data; boundary=XX"}, wantStatus: 200, wantBody: "one|f.txt|content"},
		{name: "stream", src: `Deno.serve(() => { let i = 0; return new Response(new ReadableStream({ pull(c) { if (i < 3) c.enqueue("c" + i++); else c.close() } })) })`,
			wantStatus: 200, wantBody: "c0c1c2"},
		{name: "throws", src: `Deno.serve(() => { throw new Error("boom") })`, wantStatus: 500, wantBody: `"code":"WORKER_ERROR"`},
		{name: "rejects", src: `Deno.serve(async () => { await null; throw new Error("boom") })`, wantStatus: 500, wantBody: `"code":"WORKER_ERROR"`},
		{name: "notresponse", src: `Deno.serve(() => "text")`, wantStatus: 500, wantBody: `"code":"WORKER_ERROR"`},
		{name: "noserve", src: `const x = 1`, wantStatus: 503, wantBody: `"code":"BOOT_ERROR"`},
		{name: "neversettles", src: `Deno.serve(() => new Promise(() => {}))`, wantStatus: 500, wantBody: `"code":"WORKER_ERROR"`},
	}
	for _, tc := range cases {
		a.install(tc.name, tc.src, false)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method = "GET"
			}
			if path == "" {
				path = "/functions/v1/" + tc.name
			}
			status, body, _ := a.do(method, path, tc.body, tc.headers...)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %q, want %d with %q", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	if status, body, _ := a.do("GET", "/functions/v1/missing", ""); status != 404 || !strings.Contains(body, "NOT_FOUND") {
		t.Errorf("missing function: %d %s", status, body)
	}
}
