-- mixrec's own SQL cannot be steered by functions or operators in a schema
-- on the caller's search_path.  A role that may create objects in such a
-- schema plants look-alikes of what mixrec calls, each of which would make
-- it a superuser; a superuser then trains, activates, scores and drops
-- models with that schema first on its search_path.  The caller's own SQL
-- text (source, features) is still resolved in the caller's search_path.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE ROLE regress_mixrec_attacker;
CREATE SCHEMA regress_trap AUTHORIZATION regress_mixrec_attacker;
CREATE TABLE regress_trap.trap_rows AS
SELECT ARRAY[sin(i), cos(i)]::real[] AS features, sin(i) > 0 AS clicked
FROM generate_series(1, 300) AS i;

SET ROLE regress_mixrec_attacker;
CREATE TABLE regress_trap.sprung (trap text);
CREATE FUNCTION regress_trap.escalate(trap text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_trap.sprung VALUES (trap);
	ALTER ROLE regress_mixrec_attacker SUPERUSER;
EXCEPTION WHEN insufficient_privilege THEN
	NULL;
END $$;
-- Exact matches for what the registry functions and streamed training call
CREATE FUNCTION regress_trap.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('hashtextextended'); RETURN 1; END $$;
CREATE FUNCTION regress_trap.concat(text, text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('concat'); RETURN $1 || $2; END $$;
CREATE FUNCTION regress_trap.pg_advisory_xact_lock(integer) RETURNS void LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('pg_advisory_xact_lock'); END $$;
CREATE FUNCTION regress_trap.cardinality(real[]) RETURNS integer LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('cardinality'); RETURN pg_catalog.cardinality($1); END $$;
CREATE FUNCTION regress_trap.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('jsonb_array_elements'); RETURN QUERY SELECT * FROM pg_catalog.jsonb_array_elements($1); END $$;
CREATE FUNCTION regress_trap.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM regress_trap.escalate('text_eq'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR regress_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_trap.text_eq);
RESET ROLE;

-- A superuser's routine, with the attacker's schema first on its path
SET search_path = regress_trap, public, pg_catalog;
SELECT model, version FROM mixrec_train('trap', 'trap_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT model, version FROM mixrec_train('trap', 'trap_rows', 'features', 'clicked', hidden => '{4}', epochs => 1,
                                        method => 'stream', warm_start => true);
SELECT mixrec_activate('trap', 1);
SELECT count(*) > 0 AS has_epochs FROM mixrec_training_info('trap');
SELECT mixrec_score('trap', ARRAY[0.5, 0.5]::real[]) BETWEEN 0 AND 1 AS scores;
SELECT count(*) AS versions FROM mixrec_model_versions WHERE name OPERATOR(pg_catalog.=) 'trap';
SELECT mixrec_drop('trap', 2);
SELECT mixrec_drop('trap');
RESET search_path;

SELECT DISTINCT trap AS traps_sprung FROM regress_trap.sprung ORDER BY 1;
SELECT rolsuper AS attacker_became_superuser FROM pg_roles WHERE rolname = 'regress_mixrec_attacker';

DROP SCHEMA regress_trap CASCADE;
DROP ROLE regress_mixrec_attacker;
