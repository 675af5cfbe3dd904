-- The fixture of rpc_more_test.go: functions of one unnamed parameter of
-- each raw-body type, overloads PostgREST cannot choose between (created
-- in the reverse of PostgREST's order, so oid order is not enough), and
-- functions for counts and bulk calls.
create table things (id int primary key, name text not null);
insert into things values (1, 'a'), (2, 'b'), (3, 'c');
create table thing_log (id serial primary key, n text not null);

create function echo_text(text) returns text language sql immutable as $$ select 'got ' || $1 $$;
create function echo_xml(xml) returns text language sql immutable as $$ select (xpath('/a/text()', $1))[1]::text $$;
create function bytes_len(bytea) returns int language sql immutable as $$ select length($1) $$;
create function bytes_hex(bytea) returns text language sql immutable as $$ select encode($1, 'hex') $$;
create function echo_json(json) returns json language sql immutable as $$ select $1 $$;
create function echo_json(x int) returns json language sql immutable as $$ select json_build_object('named', x) $$;

create function ov(a text) returns text language sql immutable as $$ select 'text' $$;
create function ov(a int) returns text language sql immutable as $$ select 'int' $$;
create function ovd(a int default 1) returns text language sql immutable as $$ select 'a' $$;
create function ovd() returns text language sql immutable as $$ select 'none' $$;
create function ovs(a int default 1) returns text language sql immutable as $$ select 'optional' $$;
create function ovs(a int, b int) returns text language sql immutable as $$ select 'both' $$;

create function add_them(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function one_thing(i int) returns things language sql stable as $$ select * from things where id = i $$;
create function things_named(n text) returns setof things language sql stable as $$ select * from things where name = n order by id $$;
create function all_things() returns setof things language sql stable as $$ select * from things order by id $$;
create function log_it(n text) returns void language sql volatile as $$ insert into thing_log (n) values (n) $$;
create function log_and_list(n text) returns setof thing_log language sql volatile as
  $$ insert into thing_log (n) values (n), (n); select * from thing_log where thing_log.n = log_and_list.n order by id $$;
create function log_count() returns bigint language sql stable as $$ select count(*) from thing_log $$;
create function who() returns text language sql stable as $$ select current_user::text $$;
create function dup_json(jsonb) returns text language sql immutable as $$ select 'jsonb' $$;
create function dup_json(json) returns text language sql immutable as $$ select 'json' $$;
