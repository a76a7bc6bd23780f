-- Scoring by name reads the registry with its own operators, not with
-- whatever operators a schema on the caller's search_path defines.

INSERT INTO mixrec_models (name, version, weights, active)
VALUES ('path_a', 1, mixrec_init(3, '{4}', seed => 1), true),
       ('path_b', 1, mixrec_init(3, '{4}', seed => 2), true);
CREATE TEMP TABLE path_scores AS
SELECT mixrec_score(mixrec_init(3, '{4}', seed => 1), '{1,2,3}'::real[]) AS a,
       mixrec_score(mixrec_init(3, '{4}', seed => 2), '{1,2,3}'::real[]) AS b;

-- A schema ahead of pg_catalog with an "=" on text that matches every name
CREATE SCHEMA lure;
CREATE FUNCTION lure.text_any(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR lure.= (LEFTARG = text, RIGHTARG = text, FUNCTION = lure.text_any);
SET search_path = lure, pg_catalog, public;
SELECT 'a' = 'b' AS lure_is_active;
SELECT mixrec_score('path_a', '{1,2,3}'::real[]) = a AS path_a_scores_path_a,
       mixrec_score('path_b', '{1,2,3}'::real[]) = b AS path_b_scores_path_b,
       mixrec_score('path_b', '{1,2,3}'::real[], version => 1) = b AS path_b_version_1_scores_path_b
FROM path_scores;

-- And a "<" on integers that is never true
CREATE FUNCTION lure.int_never(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR lure.< (LEFTARG = int, RIGHTARG = int, FUNCTION = lure.int_never);
SELECT 1 < 2 AS lure_is_active;
SELECT mixrec_score('path_b', '{1,2,3}'::real[]) = b AS path_b_scores_path_b
FROM path_scores;

RESET search_path;
DROP SCHEMA lure CASCADE;
DELETE FROM mixrec_models WHERE name IN ('path_a', 'path_b');
