// `madbase gen types typescript` against the e2e database: a supabase-js
// program typed with the generated Database must compile under
// `tsc --strict`, and one with deliberate type errors must not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseUrl } from './helpers.js';

const e2eDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(e2eDir, 'node_modules', 'typescript', 'bin', 'tsc');

// A project folder that sees the e2e suite's node_modules, with the
// generated types and one program; tsc's exit status and output.
function compile(dir, name, program) {
  writeFileSync(join(dir, `${name}.ts`), program);
  writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'dom'],
      module: 'preserve', moduleResolution: 'bundler', skipLibCheck: true, types: [],
    },
    files: [`${name}.ts`, 'database.types.ts'],
  }));
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, `tsconfig.${name}.json`)], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

const header = `
import { createClient } from '@supabase/supabase-js'
import type { Database, Enums, Tables, TablesInsert, TablesUpdate } from './database.types'

// Equal<A, B> is true only when A and B are the same type (any is not).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T extends true>(_: T) {}

const supabase = createClient<Database>('http://localhost', 'key')
`;

const good = header + `
export async function main() {
  const { data: books, error } = await supabase
    .from('rest_books')
    .select('id, title, pages, tags, status, meta, author:rest_authors!author_id(name, bio)')
    .eq('status', 'published')
  if (error) throw error
  for (const b of books) {
    expectType<Equal<typeof b.id, number>>(true)
    expectType<Equal<typeof b.title, string>>(true)
    expectType<Equal<typeof b.pages, number | null>>(true)
    expectType<Equal<typeof b.tags, string[]>>(true)
    expectType<Equal<typeof b.status, 'draft' | 'published'>>(true)
    if (b.author) expectType<Equal<typeof b.author.name, string>>(true)
  }

  const author: TablesInsert<'rest_authors'> = { name: 'Ada' }
  const { data: inserted } = await supabase.from('rest_authors').insert(author).select().single()
  if (inserted) expectType<Equal<typeof inserted, Tables<'rest_authors'>>>(true)
  const change: TablesUpdate<'rest_books'> = { pages: null }
  await supabase.from('rest_books').update(change).eq('id', 1)

  const { data: sum } = await supabase.rpc('rest_add', { a: 1, b: 2 })
  expectType<Equal<typeof sum, number | null>>(true)
  const { data: hello } = await supabase.rpc('rest_hello')
  expectType<Equal<typeof hello, string | null>>(true)
  const { data: byAuthor } = await supabase.rpc('rest_books_by', { author: 1 })
  if (byAuthor) expectType<Equal<(typeof byAuthor)[number]['title'], string>>(true)
  const { data: titles } = await supabase.from('rest_book_titles').select('title, author')
  if (titles) expectType<Equal<(typeof titles)[number]['author'], string | null>>(true)

  const status: Enums<'rest_status'> = 'draft'
  return status
}
`;

// Each line marked "// error" must be one that tsc reports.
const bad = header + `
export async function main() {
  await supabase.from('rest_authors').insert({ name: 42 }) // error
  await supabase.from('rest_authors').insert({ bio: null }) // error
  await supabase.from('rest_nope').select() // error
  const { data } = await supabase.from('rest_books').select('id, title').single()
  if (data) {
    const n: number = data.title // error
  }
  await supabase.rpc('rest_add', { a: 'one', b: 2 }) // error
  const status: Enums<'rest_status'> = 'archived' // error
  return status
}
`;

test('gen types typescript: a typed supabase-js program compiles, a wrong one does not', () => {
  assert.ok(process.env.MADBASE_BIN, 'run with e2e/run.sh, which sets MADBASE_BIN');
  const dir = mkdtempSync(join(tmpdir(), 'madbase-types-'));
  try {
    symlinkSync(join(e2eDir, 'node_modules'), join(dir, 'node_modules'));
    const types = execFileSync(process.env.MADBASE_BIN, ['gen', 'types', 'typescript', '--db-url', databaseUrl],
      { encoding: 'utf8' });
    assert.match(types, /export type Database = \{/);
    assert.match(types, /rest_books: \{\n\s+Row: \{/);
    writeFileSync(join(dir, 'database.types.ts'), types);

    const ok = compile(dir, 'good', good);
    assert.equal(ok.status, 0, `tsc rejected the typed program:\n${ok.output}`);

    const ko = compile(dir, 'bad', bad);
    assert.notEqual(ko.status, 0, 'tsc accepted the program with type errors');
    const lines = bad.split('\n');
    const reported = new Set([...ko.output.matchAll(/^bad\.ts\((\d+),\d+\): error/gm)].map((m) => Number(m[1])));
    lines.forEach((line, i) => {
      if (line.endsWith('// error')) assert.ok(reported.has(i + 1), `no error reported for line ${i + 1}: ${line.trim()}\n${ko.output}`);
    });
    for (const n of reported) assert.ok(lines[n - 1].endsWith('// error'), `unexpected error on line ${n}: ${lines[n - 1]}\n${ko.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
