create schema other;
create type public.mood as enum ('happy', 'sad', 'so-so');
create type other.level as enum ('low', 'high');
create type public.address as (street text, zip int, tags text[]);
create domain public.email as text check (value like '%@%');

create table public.authors (
  id bigint generated always as identity primary key,
  name text not null,
  email public.email,
  mood public.mood not null default 'happy',
  moods public.mood[],
  level other.level,
  home public.address,
  profile jsonb,
  "Display Name" varchar(40),
  created_at timestamptz not null default now()
);

create table public.books (
  id serial primary key,
  author_id bigint not null references public.authors (id),
  title text not null,
  tags text[] not null default '{}',
  meta json,
  price numeric(10, 2),
  pages int generated always as (0) stored,
  published date
);

create table public.author_details (
  author_id bigint primary key references public.authors (id),
  bio text
);

create view public.book_titles as select id, title, author_id from public.books;
create view public.author_counts as select a.id, count(b.id) as books from public.authors a left join public.books b on b.author_id = a.id group by a.id;

create function public.add(a int, b int default 1) returns int language sql immutable as 'select a + b';
create function public.search(q text) returns setof public.books language sql stable as 'select * from public.books where title like q';
create function public.stats() returns table (n bigint, latest date) language sql stable as 'select count(*), max(published) from public.books';
create function public.touch() returns void language sql as 'select';
create function public.home_of(author_id bigint) returns public.address language sql stable as 'select home from public.authors where id = author_id';
create function public.echo(x text) returns text language sql immutable as 'select x';
create function public.echo(x int) returns int language sql immutable as 'select x';

create table other.notes (id int primary key, body text);

create function public.book_count(public.authors) returns bigint language sql stable as 'select count(*) from public.books where author_id = $1.id';
create function public.initials(a public.authors, sep text default '.') returns text language sql immutable as 'select left(a.name, 1) || sep';

-- Quoted names.
create type public."Pair" as (a int, b int);
create type public."Size" as enum ('S', 'M "medium"');
create table public."Odd Things" (id int primary key, pair public."Pair", size public."Size"[], "x-y" text not null default '');
