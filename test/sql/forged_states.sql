-- Training states that enter from outside are validated before use: an
-- INITCOND of a user-defined aggregate built on the transition functions,
-- a forged state handed to mixrec_merge, a corrupted state in the final
-- function.  Any role can create such an aggregate, so none of this may
-- crash the server.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT pg_postmaster_start_time() AS started \gset

CREATE ROLE regress_mixrec_forger;
CREATE TABLE forged_rows AS
SELECT ARRAY[sin(i), cos(i)]::real[] AS f, (sin(i) > 0)::int::float8 AS y
FROM generate_series(1, 300) AS i;
GRANT SELECT ON forged_rows TO regress_mixrec_forger;
SET ROLE regress_mixrec_forger;

-- A training state whose layer sizes are {2,-1,3,1}: -1 wraps the
-- parameter count so that every size check agrees with the length
CREATE AGGREGATE pg_temp.evil_fit(bytea, real[], float8) (SFUNC = mixrec_fit_accum, STYPE = bytea,
	INITCOND = '\x4d5852530100000050010000f30c220b8000000002000000040000000000000014000000ffffffff000000000000000000000000000000000000000000000000000000000000000000000000000000000100000000000000020000000000000003000000000000000400000000000000010000000100010000000000000000004d5852430100000002000000800000000200000002000000ffffffff0300000001000000000000000000e03f00000000000000000000000000000000fca9f1d24d62503fcdccccccccccec3f2b8716d9cef7ef3f3a8c30e28e79453e00000000000000000ad7233c0ad7233c0ad7233c0ad7233c0ad7233c0ad7233cfcd991540000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000');
SELECT length(pg_temp.evil_fit(NULL::bytea, ARRAY[1,2]::real[], 1)) FROM generate_series(1, 8);

-- A real state as INITCOND is accepted: validated once, then trained on
SELECT encode(mixrec_fit_state(mixrec_init(2, '{4}'), f, y, 1, NULL,
                                '{"batch_size": 4, "pool_batches": 1}'), 'hex') AS good_state
FROM forged_rows WHERE y = 1 \gset
\set ECHO none
SELECT format('CREATE AGGREGATE pg_temp.seeded_fit(bytea, real[], float8) (SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final, INITCOND = %L)',
              '\x' || :'good_state') \gexec
\echo a valid state as INITCOND:
SELECT (mixrec_info(pg_temp.seeded_fit(NULL, f, y))->'optimizer'->>'step')::int > 0 AS seeded_state_trains
FROM forged_rows;

-- The same state with one byte of its model changed is refused
SELECT format('CREATE AGGREGATE pg_temp.flipped_fit(bytea, real[], float8) (SFUNC = mixrec_fit_accum, STYPE = bytea, INITCOND = %L)',
              '\x' || overlay(:'good_state' placing 'ff' from 601 for 2)) \gexec
\echo the same state with one byte of its model changed:
SELECT length(pg_temp.flipped_fit(NULL, f, y)) FROM forged_rows;

-- Truncated, and not a state at all
SELECT format('CREATE AGGREGATE pg_temp.short_fit(bytea, real[], float8) (SFUNC = mixrec_fit_accum, STYPE = bytea, INITCOND = %L)',
              '\x' || left(:'good_state', 200)) \gexec
\echo the same state cut short:
SELECT length(pg_temp.short_fit(NULL, f, y)) FROM forged_rows;
CREATE AGGREGATE pg_temp.junk_fit(bytea, real[], float8) (SFUNC = mixrec_fit_accum, STYPE = bytea, INITCOND = '\x00');
\set ECHO all
SELECT length(pg_temp.junk_fit(NULL, f, y)) FROM forged_rows;

-- mixrec_merge_accum takes the forged state as its running state too
CREATE AGGREGATE pg_temp.evil_merge(bytea) (SFUNC = mixrec_merge_accum, STYPE = bytea,
	INITCOND = '\x4d5852530100000050010000');
SELECT length(pg_temp.evil_merge(s))
FROM (SELECT mixrec_fit_state(mixrec_init(2, '{4}'), f, y) AS s FROM forged_rows) AS states;

-- Transition functions outside an aggregate
SELECT mixrec_fit_accum(decode(:'good_state', 'hex'), NULL, ARRAY[1, 2]::real[], 1);

RESET ROLE;
DROP OWNED BY regress_mixrec_forger;
DROP ROLE regress_mixrec_forger;

SELECT pg_postmaster_start_time() = :'started'::timestamptz AS server_never_restarted;
