// The dashboard in a real browser: headless Chromium (Debian's chromium
// package) driven with playwright-core, against the two-worker `madbase dev`
// of run.sh, through the edge. It signs in, sees both workers, creates a
// project, a table in the SQL editor and a row in the table editor (read
// back with supabase-js), a user, a file (uploaded and downloaded), changes
// a setting and sees it applied; a wrong password and a request without the
// session cookie are refused. Screenshots of the main screens are taken on
// every run, into a temporary folder; with UPDATE_SCREENSHOTS=1 into
// docs/screenshots/, which the README shows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { url, adminPassword, client } from './helpers.js';

const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const shots = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'madbase-dashboard-shots-'));
const ref = `dash-${Date.now().toString(36)}`;
const dashboard = `${url}/dashboard/`;

let browser;
let page;
let keys; // the created project's keys, read from the dashboard
const problems = []; // page errors and console errors (CSP refusals among them)

before(async () => {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`the dashboard tests need Chromium at ${chromiumPath}: install Debian's chromium package ` +
      '(apt-get install chromium; scripts/ensure-deps.sh does it) or set CHROMIUM_PATH');
  }
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-background-networking'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (d) => d.accept()); // the confirmations of deletes and sign-outs
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The refusals the tests provoke (a wrong password, SQL with an error,
    // an invalid setting, a request after sign-out) are logged by the
    // browser as failed resources; everything else red is a problem.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  fs.mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (process.env.UPDATE_SCREENSHOTS !== '1') fs.rmSync(shots, { recursive: true, force: true });
  await fetch(`${url}/admin/v1/projects/${ref}?drop_database=true`, {
    method: 'DELETE', headers: { Authorization: `Bearer ${adminPassword}` },
  }).catch(() => {});
});

// shot saves a screenshot of the screen, without its passing toasts.
async function shot(name) {
  await page.evaluate(() => {
    document.getElementById('toasts')?.replaceChildren();
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

// go opens a screen of the dashboard by its hash.
async function go(hash) {
  await page.goto(`${dashboard}#${hash}`);
}

// eventually retries fn until it stops throwing.
async function eventually(fn, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

test('dashboard: a wrong password is refused, the right one signs in', async () => {
  await page.goto(dashboard);
  const res = await page.request.get(dashboard);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);

  await page.fill('#password', 'not-the-password');
  await shot('sign-in');
  await page.click('button[type=submit]');
  await page.getByText('Wrong password').waitFor();
  assert.equal((await page.context().cookies()).filter((c) => c.name === 'madbase_session').length, 0);

  await page.fill('#password', adminPassword);
  await page.click('button[type=submit]');
  await page.locator('h1', { hasText: 'Platform' }).waitFor();
  const [cookie] = (await page.context().cookies()).filter((c) => c.name === 'madbase_session');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
});

test('dashboard: a request without the session cookie is refused', async () => {
  const res = await fetch(`${url}/admin/v1/workers`);
  assert.equal(res.status, 401);
  assert.match(res.headers.get('content-type'), /json/);
  assert.equal((await res.json()).code, 401);

  // With the cookie but without the CSRF token, a write is refused.
  const status = await page.evaluate(async () => (await fetch('/admin/v1/projects', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"ref":"csrf-test"}',
  })).status);
  assert.equal(status, 403);
  // The cookie is not readable by the page's script.
  assert.equal(await page.evaluate(() => document.cookie.includes('madbase_session')), false);
});

test('dashboard: the platform shows both workers and the edge live and the log tail', async () => {
  await go('/platform');
  await eventually(async () => assert.equal(await page.locator('#workers tbody tr').count(), 2));
  const beat1 = await page.locator('#workers tbody tr').first().getAttribute('data-beat');
  await eventually(async () => {
    const beat2 = await page.locator('#workers tbody tr').first().getAttribute('data-beat');
    assert.notEqual(beat2, beat1, 'the last beat is updated without a reload');
  });
  // The edge the page came through is listed from its own beats, routing
  // to both workers, and its beat is followed live too.
  await eventually(async () => {
    assert.equal(await page.locator('#edges tbody tr').count(), 1);
    assert.ok((await page.locator('#edges tbody tr td').nth(1).textContent()).endsWith(`:${new URL(url).port}`), 'the address the page came through');
    assert.equal(await page.locator('#edges tbody tr td').nth(4).textContent(), '2 / 2');
  });
  const edgeBeat1 = await page.locator('#edges tbody tr').first().getAttribute('data-beat');
  await eventually(async () => {
    assert.notEqual(await page.locator('#edges tbody tr').first().getAttribute('data-beat'), edgeBeat1, 'the edge beats');
  });
  // A record of another tier shows up in the tail, and the request id
  // filter keeps it alone: a refused admin password is logged by control as
  // a warning with the request id the edge passed on (run.sh logs at warn).
  const rid = `dash-${Date.now()}`;
  const refused = await fetch(`${url}/admin/v1/workers`, { headers: { 'X-Request-Id': rid, Authorization: 'Bearer wrong' } });
  assert.equal(refused.status, 401);
  await page.locator('#log-lines .log-rid', { hasText: rid }).first().waitFor();
  await page.fill('#log-rid', rid);
  await eventually(async () => {
    const rids = await page.locator('#log-lines .log-rid').allTextContents();
    assert.ok(rids.length > 0 && rids.every((r) => r === rid), `only ${rid}: ${rids}`);
  });
  await page.fill('#log-rid', '');
  await page.locator('#log-lines .log-line').first().waitFor();
});

test('dashboard: the platform charts the traffic per API', async () => {
  await go('/platform');
  // Requests to auth through the edge: the workers count them, their beats
  // carry the counters, control turns them into a rate every 5 s.
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${url}/auth/v1/health`);
    await res.arrayBuffer();
  }
  const rate = page.locator('#traffic tr[data-api="auth"] td[data-metric="rate"]');
  await eventually(async () => {
    assert.ok(Number(await rate.getAttribute('data-last')) > 0, 'a non-zero auth request rate');
  }, 30000);
  assert.equal(await rate.locator('svg polyline').count(), 1, 'drawn as a line');
  assert.equal(await page.locator('#traffic tr[data-api]').count(), 5, 'auth, rest, storage, realtime, functions');
});

test('dashboard: creates a project and shows its keys', async () => {
  await go('/projects');
  await page.locator('#projects tr[data-ref="default"]').waitFor();
  await page.click('#new-project');
  await page.fill('#new-ref', ref);
  await page.fill('#new-name', 'Dashboard test');
  await page.click('dialog button[type=submit]');
  await page.locator('#project-keys').waitFor({ timeout: 120000 });
  keys = {};
  for (const k of ['anon', 'service_role', 'publishable', 'secret']) {
    keys[k] = await page.locator(`#project-keys code[data-key="${k}"]`).textContent();
  }
  assert.match(keys.service_role, /^eyJ/);
  assert.equal(await page.locator('#project-keys button', { hasText: 'Copy' }).count(), 4);
  await page.keyboard.press('Escape');
  await page.locator(`#projects tr[data-ref="${ref}"]`).waitFor();
  await shot('projects');
});

test('dashboard: a table from the SQL editor, a row from the table editor, read with supabase-js', async () => {
  await go(`/p/${ref}/sql`);
  await page.fill('#sql-input', 'selec 1');
  await page.click('#sql-run');
  await page.locator('#sql-error', { hasText: 'line 1, column 1' }).waitFor();

  await page.fill('#sql-input', 'create table notes (id bigint generated always as identity primary key, body text not null, created_at timestamptz default now());\n' +
    "alter table notes enable row level security;\ncreate policy \"anyone reads\" on notes for select using (true);");
  await page.keyboard.press('Control+Enter');
  await page.locator('#sql-result', { hasText: 'no rows returned' }).waitFor();
  await page.fill('#sql-input', "select relname, relrowsecurity from pg_class where relname = 'notes'");
  await page.click('#sql-run');
  await page.locator('#sql-result td', { hasText: 'notes' }).waitFor();
  await page.locator('#sql-history li', { hasText: 'create table notes' }).waitFor();
  await shot('sql-editor');

  await go(`/p/${ref}/tables`);
  await page.locator('[data-table="public.notes"]').waitFor();
  // The workers' schema caches reload after the DDL; until then REST says
  // so and the table is opened again.
  await eventually(async () => {
    await page.click('[data-table="public.notes"]');
    await page.locator('#rows .empty', { hasText: 'This table is empty' }).waitFor({ timeout: 1000 });
  });
  await page.locator('#rls', { hasText: 'anyone reads' }).waitFor();
  await page.click('#insert-row');
  await page.fill('#col-body', 'written in the table editor');
  await page.click('#row-form button[type=submit]');
  await page.locator('#rows td', { hasText: 'written in the table editor' }).waitFor();
  await shot('table-editor');

  const sb = client(keys.anon);
  const { data, error } = await sb.from('notes').select('body');
  assert.equal(error, null);
  assert.deepEqual(data, [{ body: 'written in the table editor' }]);
});

test('dashboard: creates a user', async () => {
  await go(`/p/${ref}/users`);
  await page.locator('#users .empty').waitFor();
  await page.click('#create-user');
  await page.fill('#user-email', 'ada@example.com');
  await page.fill('#user-password', 'a-good-password-1');
  await page.click('#user-form button[type=submit]');
  await page.locator('#users tr[data-email="ada@example.com"]').waitFor();

  const sb = client(keys.anon);
  const { data, error } = await sb.auth.signInWithPassword({ email: 'ada@example.com', password: 'a-good-password-1' });
  assert.equal(error, null);
  assert.equal(data.user.email, 'ada@example.com');

  // Sign out everywhere: the user's refresh token stops working.
  await page.locator('#users tr[data-email="ada@example.com"] button', { hasText: 'Sign out everywhere' }).click();
  await page.getByText('Signed out everywhere').waitFor();
  const refreshed = await client(keys.anon).auth.refreshSession({ refresh_token: data.session.refresh_token });
  assert.ok(refreshed.error, 'the refresh token of an ended session is refused');

  // An invitation creates the user, unconfirmed.
  await page.click('#invite-user');
  await page.fill('#user-email', 'grace@example.com');
  await page.click('#user-form button[type=submit]');
  await page.locator('#users tr[data-email="grace@example.com"]', { hasText: 'no' }).waitFor();
  await page.fill('#user-search', 'grace');
  await eventually(async () => assert.equal(await page.locator('#users tbody tr').count(), 1));
});

test('dashboard: the realtime inspector shows broadcasts and database changes', async () => {
  await go(`/p/${ref}/sql`);
  await page.fill('#sql-input', 'alter publication supabase_realtime add table notes');
  await page.click('#sql-run');
  await page.locator('#sql-result', { hasText: 'no rows returned' }).waitFor();

  await go(`/p/${ref}/realtime`);
  await page.fill('#rt-table', 'notes');
  await page.click('#rt-join');
  await page.locator('#rt-events .rt-joined').waitFor();
  await page.fill('#rt-payload', '{"from":"the inspector"}');
  await page.click('#rt-send');
  await page.locator('#rt-events .rt-broadcast', { hasText: 'the inspector' }).waitFor();

  // The subscription is ready once the server says so; then a row written
  // with supabase-js shows up.
  await page.locator('#rt-events', { hasText: 'Subscribed to PostgreSQL' }).waitFor();
  assert.equal((await client(keys.service_role).from('notes').insert({ body: 'seen live' })).error, null);
  await page.locator('#rt-events .rt-change', { hasText: 'seen live' }).waitFor();
  await shot('realtime');
});

test('dashboard: uploads a file and downloads it', async () => {
  await go(`/p/${ref}/storage`);
  await page.locator('.empty', { hasText: 'No bucket yet' }).waitFor();
  await page.click('#new-bucket');
  await page.fill('#bucket-name', 'docs');
  await page.fill('#bucket-size', '1MB');
  await page.click('#bucket-form button[type=submit]');
  await page.locator('.empty', { hasText: 'This bucket is empty' }).waitFor();

  const content = `hello from the dashboard ${Date.now()}\n`;
  await page.setInputFiles('#upload-file', { name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
  await page.locator('#objects tr[data-object="hello.txt"]').waitFor();
  await shot('storage');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#objects tr[data-object="hello.txt"] button', { hasText: 'Download' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'hello.txt');
  assert.equal(fs.readFileSync(await download.path(), 'utf8'), content);

  const sb = client(keys.service_role);
  const { data, error } = await sb.storage.from('docs').download('hello.txt');
  assert.equal(error, null);
  assert.equal(await data.text(), content);
});

test('dashboard: a setting changed in the form is applied', async () => {
  const sb = client(keys.service_role);
  assert.equal((await sb.from('notes').insert({ body: 'second' })).error, null);
  assert.ok((await sb.from('notes').select('id')).data.length > 1);

  await go(`/p/${ref}/settings`);
  await page.fill('#set-DB_MAX_ROWS', 'many');
  await page.click('#save-settings');
  await page.locator('#set-DB_MAX_ROWS-error').filter({ hasText: /\S/ }).waitFor();

  await page.fill('#set-DB_MAX_ROWS', '1');
  await page.click('#save-settings');
  await page.locator('#revision', { hasText: 'revision 2' }).waitFor();
  await eventually(async () => {
    assert.deepEqual(await page.locator('#revisions tr[data-worker]').evaluateAll((rows) => rows.map((r) => r.dataset.status)), ['current', 'current']);
  });
  await shot('settings');
  await eventually(async () => {
    const { data, error } = await sb.from('notes').select('id');
    assert.equal(error, null);
    assert.equal(data.length, 1, 'DB_MAX_ROWS=1 applies on the workers');
  });
  // The platform shows the revision each worker runs of the project.
  await go('/platform');
  await eventually(async () => {
    const cells = await page.locator(`#config-revisions tr[data-ref="${ref}"] .badge`).allTextContents();
    assert.deepEqual(cells, ['2 current', '2 current']);
  });
  await page.locator('#log-lines .log-line').first().waitFor();
  await shot('platform');
});

test('dashboard: sign-out ends the session', async () => {
  await go('/platform');
  await page.click('.signout');
  await page.locator('#password').waitFor();
  const status = await page.evaluate(async () => (await fetch('/admin/v1/workers', { signal: AbortSignal.timeout(10000) })).status);
  assert.equal(status, 401);
  assert.deepEqual(problems, [], 'no script error and no CSP refusal in the page');
});
