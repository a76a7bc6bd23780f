-- The per-query model cache of mixrec_score: a cached model is used again
-- only for the very bytes it was decoded and validated from.

-- A small model (stored inline) and a large one (stored out of line in TOAST)
CREATE TEMP TABLE valid (name text, model bytea);
INSERT INTO valid VALUES ('small', mixrec_init(3, '{4}', seed => 1)),
                         ('large', mixrec_init(3, '{2048}', seed => 1));
SELECT name, length(model) AS bytes FROM valid ORDER BY name;
SELECT pg_relation_size(reltoastrelid) > 0 AS large_is_out_of_line FROM pg_class WHERE oid = 'valid'::regclass;

-- A corrupted copy: one byte in the middle flipped, length and the
-- checksum bytes at the end unchanged
CREATE TEMP TABLE models (ord int, name text, model bytea);
INSERT INTO models
SELECT 1, name, model FROM valid
UNION ALL
SELECT 2, name, set_byte(model, length(model) / 2, get_byte(model, length(model) / 2) # 1) FROM valid;
SELECT name, length(a.model) = length(b.model) AS same_length,
       substring(a.model FROM length(a.model) - 3) = substring(b.model FROM length(b.model) - 3) AS same_last_4_bytes,
       a.model <> b.model AS different
FROM models a JOIN models b USING (name) WHERE a.ord = 1 AND b.ord = 2 ORDER BY name;

-- Alone, the valid model scores and the corrupted copy is rejected
SELECT name, mixrec_score(model, '{1,2,3}'::real[]) BETWEEN 0 AND 1 AS scores FROM models WHERE ord = 1 ORDER BY name;
SELECT mixrec_score(model, '{1,2,3}'::real[]) FROM models WHERE name = 'small' AND ord = 2;
SELECT mixrec_score(model, '{1,2,3}'::real[]) FROM models WHERE name = 'large' AND ord = 2;

-- Right after the valid model in the same query, it is rejected too
SELECT ord, mixrec_score(model, '{1,2,3}'::real[]) BETWEEN 0 AND 1 FROM models WHERE name = 'small' ORDER BY ord;
SELECT ord, mixrec_score(model, '{1,2,3}'::real[]) BETWEEN 0 AND 1 FROM models WHERE name = 'large' ORDER BY ord;
SELECT ord, mixrec_score_all(model, '{1,2,3}'::real[]) IS NOT NULL FROM models WHERE name = 'small' ORDER BY ord;
-- from a scalar subquery: the same call site, the corrupted bytes second
SELECT mixrec_score((SELECT model FROM models WHERE name = 'small' AND ord = i), '{1,2,3}'::real[]) BETWEEN 0 AND 1
FROM generate_series(1, 2) AS i;

-- Two valid models whose last four bytes are equal: the second is another
-- seed's model with the four bytes of one weight (at byte 201) chosen so
-- that its CRC-32C, which it carries in its last four bytes, equals the
-- first's.  CRC-32C is linear, so those four bytes solve 32 linear
-- equations over GF(2); the weight becomes -3.7e-17 and the model stays
-- valid.
CREATE TEMP TABLE twins AS
SELECT 'first' AS name, mixrec_init(3, '{4}', seed => 1) AS model
UNION ALL
SELECT 'second', overlay(overlay(mixrec_init(3, '{4}', seed => 2) PLACING '\x3d022ba4'::bytea FROM 201)
                         PLACING substring(mixrec_init(3, '{4}', seed => 1) FROM 209) FROM 209);
SELECT length(a.model) = length(b.model) AS same_length,
       substring(a.model FROM length(a.model) - 3) = substring(b.model FROM length(b.model) - 3) AS same_last_4_bytes,
       a.model <> b.model AS different,
       mixrec_info(b.model)->'hidden' AS second_is_valid
FROM twins a, twins b WHERE a.name = 'first' AND b.name = 'second';

-- Each scored alone, in a query of its own
CREATE TEMP TABLE alone (name text, score float8);
INSERT INTO alone SELECT name, mixrec_score(model, '{1,2,3}'::real[]) FROM twins WHERE name = 'first';
INSERT INTO alone SELECT name, mixrec_score(model, '{1,2,3}'::real[]) FROM twins WHERE name = 'second';
SELECT count(DISTINCT score) AS distinct_scores FROM alone;

-- In one query, alternating: every row gets its own model's score
SELECT count(*) AS rows,
       bool_and(got = (SELECT score FROM alone a WHERE a.name = s.name)) AS own_model_scores,
       bool_and(got_all = ARRAY[(SELECT score FROM alone a WHERE a.name = s.name)]) AS own_model_scores_all
FROM (SELECT name, mixrec_score(model, '{1,2,3}'::real[]) AS got,
             mixrec_score_all(model, '{1,2,3}'::real[]) AS got_all
      FROM (SELECT name, model FROM twins, generate_series(1, 3) AS i ORDER BY i, name OFFSET 0) AS t) AS s;

-- The same model bytes as a constant and from rows: same scores
SELECT bool_and(mixrec_score(mixrec_init(3, '{4}', seed => 1), '{1,2,3}'::real[])
                = mixrec_score(model, '{1,2,3}'::real[])) AS constant_equals_row
FROM valid WHERE name = 'small';

-- Scoring by name in PL/pgSQL: one call site sees its own transaction's
-- activation, and no longer sees it once the subtransaction that made it
-- is rolled back
INSERT INTO mixrec_model_counters (name, last_version, owner) VALUES ('twins', 2, current_user::regrole);
INSERT INTO mixrec_models (name, version, weights, active)
SELECT 'twins', row_number() OVER (ORDER BY name), model, name = 'first' FROM twins;
CREATE FUNCTION twins_seen() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	got float8;
BEGIN
	FOR i IN 1..3 LOOP
		BEGIN
			IF i = 2 THEN
				PERFORM mixrec_activate('twins', 2);
			END IF;
			got := mixrec_score('twins', '{1,2,3}'::real[]);
			RETURN NEXT (SELECT 'step ' || i || ': ' || name FROM alone WHERE score = got);
			IF i = 2 THEN
				RAISE EXCEPTION 'roll back';
			END IF;
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
END
$$;
SELECT * FROM twins_seen();
SELECT version FROM mixrec_models WHERE name = 'twins' AND active;
DELETE FROM mixrec_models WHERE name = 'twins';
DELETE FROM mixrec_model_counters WHERE name = 'twins';
DROP FUNCTION twins_seen();
