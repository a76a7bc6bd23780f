-- Who may do what with the registry.  A model name belongs to the role
-- that trained its first version (or to the role given with
-- mixrec_set_owner); only that role's members may add, activate, change or
-- drop its versions, and only they and the members of its reader role may
-- read them.  The tables enforce it, so it holds for any role with
-- privileges on them, whatever it runs.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE sec_rows AS
SELECT ARRAY[sin(i), cos(i), (i % 3) - 1]::real[] AS features, sin(i) > 0 AS clicked
FROM generate_series(1, 400) AS i;

CREATE ROLE regress_mixrec_alice;
CREATE ROLE regress_mixrec_bob;
CREATE ROLE regress_mixrec_carol;
CREATE ROLE regress_mixrec_team;
GRANT regress_mixrec_team TO regress_mixrec_alice;
-- What a trainer needs (README, "Security")
GRANT SELECT ON sec_rows TO regress_mixrec_alice, regress_mixrec_bob, regress_mixrec_carol;
GRANT INSERT, UPDATE, DELETE ON mixrec_models, mixrec_model_counters
	TO regress_mixrec_alice, regress_mixrec_bob;

-- Alice trains a model: she owns the name
SET ROLE regress_mixrec_alice;
SELECT model, version FROM mixrec_train('sec_alice', 'sec_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT name, owner, reader, last_version FROM mixrec_model_counters WHERE name = 'sec_alice';
SELECT name, version, owner, trained_by, source, input_dim, hidden FROM mixrec_model_versions;
RESET ROLE;

-- Bob cannot train, activate or drop it, and is told whose it is
SET ROLE regress_mixrec_bob;
SELECT * FROM mixrec_train('sec_alice', 'sec_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT mixrec_activate('sec_alice', 1);
SELECT mixrec_drop('sec_alice');
SELECT mixrec_drop('sec_alice', 1);
SELECT mixrec_set_reader('sec_alice', 'regress_mixrec_bob');
SELECT mixrec_set_owner('sec_alice', 'regress_mixrec_bob');
-- nor change its rows with his table privileges: they are not his to see
WITH changed AS (UPDATE mixrec_models SET active = false WHERE name = 'sec_alice' RETURNING 1)
SELECT count(*) AS deactivated FROM changed;
WITH changed AS (DELETE FROM mixrec_models WHERE name = 'sec_alice' RETURNING 1)
SELECT count(*) AS deleted FROM changed;
WITH changed AS (UPDATE mixrec_model_counters SET last_version = 2147483647 WHERE name = 'sec_alice' RETURNING 1)
SELECT count(*) AS counters_exhausted FROM changed;
WITH changed AS (UPDATE mixrec_model_counters SET owner = 'regress_mixrec_bob' WHERE name = 'sec_alice' RETURNING 1)
SELECT count(*) AS names_taken FROM changed;
WITH changed AS (DELETE FROM mixrec_model_counters WHERE name = 'sec_alice' RETURNING 1)
SELECT count(*) AS names_deleted FROM changed;
INSERT INTO mixrec_models (name, version, weights) VALUES ('sec_alice', 99, '\x00');
INSERT INTO mixrec_model_counters (name, last_version, owner) VALUES ('sec_claimed', 0, 'regress_mixrec_alice');
-- nor read it: no rows, no source text, no scores
SELECT count(*) AS versions_bob_sees FROM mixrec_model_versions;
SELECT count(*) AS rows_bob_reads FROM mixrec_models WHERE name = 'sec_alice';
SELECT mixrec_score('sec_alice', ARRAY[0.1, 0.2, 0.3]::real[]);
SELECT * FROM mixrec_training_info('sec_alice');
-- His own model is his, and trained_by is the server's word, not his
SELECT model, version FROM mixrec_train('sec_bob', 'sec_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
INSERT INTO mixrec_models (name, version, trained_by, weights)
SELECT 'sec_bob', 2, 'regress_mixrec_alice', weights FROM mixrec_models WHERE name = 'sec_bob';
-- and what is not a model never enters the registry, so no listing breaks
INSERT INTO mixrec_models (name, version, weights) VALUES ('sec_bob', 9, '\x00');
UPDATE mixrec_models SET trained_by = 'regress_mixrec_alice' WHERE name = 'sec_bob';
SELECT version, trained_by FROM mixrec_models WHERE name = 'sec_bob' ORDER BY version;
RESET ROLE;

-- Nothing of Alice's changed
SELECT version, active, trained_by FROM mixrec_models WHERE name = 'sec_alice';
SELECT last_version, owner FROM mixrec_model_counters WHERE name = 'sec_alice';

-- A reader: Carol may score Alice's model once Alice names her role, and
-- may do nothing else with it
SET ROLE regress_mixrec_alice;
SELECT mixrec_set_reader('sec_alice', 'regress_mixrec_carol');
RESET ROLE;
SET ROLE regress_mixrec_carol;
SELECT mixrec_score('sec_alice', ARRAY[0.1, 0.2, 0.3]::real[]) BETWEEN 0 AND 1 AS carol_scores;
SELECT name, version, owner FROM mixrec_model_versions;
SELECT mixrec_activate('sec_alice', 1);
RESET ROLE;

-- A team: Alice gives the name to a group role; Bob, once a member, trains it
SET ROLE regress_mixrec_alice;
SELECT mixrec_set_owner('sec_alice', 'regress_mixrec_team');
RESET ROLE;
GRANT regress_mixrec_team TO regress_mixrec_bob;
SET ROLE regress_mixrec_bob;
SELECT model, version FROM mixrec_train('sec_alice', 'sec_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT version, active, trained_by FROM mixrec_models WHERE name = 'sec_alice' ORDER BY version;
-- and claims a new name for the team before its first version
SELECT mixrec_set_owner('sec_team', 'regress_mixrec_team');
SELECT mixrec_set_owner('sec_team2', 'regress_mixrec_carol');
RESET ROLE;
SET ROLE regress_mixrec_alice;
SELECT model, version FROM mixrec_train('sec_team', 'sec_rows', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT name, owner FROM mixrec_model_versions ORDER BY name, version;
RESET ROLE;

-- Listing versions reads only each model's header (mixrec_shape), not
-- its weights: a copy with a damaged weight is listed, and only the
-- functions that use the weights find the damage
INSERT INTO mixrec_models (name, version, weights)
SELECT 'sec_bob', 3, overlay(weights placing '\xff'::bytea from length(weights) / 2 for 1)
FROM mixrec_models WHERE name = 'sec_bob' AND version = 1;
SELECT version, input_dim, hidden, bytes FROM mixrec_model_versions WHERE name = 'sec_bob' ORDER BY version;
SELECT mixrec_info(weights) FROM mixrec_models WHERE name = 'sec_bob' AND version = 3;
SELECT mixrec_shape('\x00');
SELECT mixrec_shape(substring(weights FROM 1 FOR 40)) FROM mixrec_models WHERE name = 'sec_bob' AND version = 1;

-- Bad arguments of the ownership functions
SELECT mixrec_set_owner(NULL, 'regress_mixrec_team');
SELECT mixrec_set_owner('sec_bob', NULL);
SELECT mixrec_set_owner('', 'regress_mixrec_team');
SELECT mixrec_set_owner('sec_bob', 'no_such_role');
SELECT mixrec_set_reader(NULL, 'regress_mixrec_carol');
SELECT mixrec_set_reader('no_such_model', 'regress_mixrec_carol');
SELECT mixrec_set_reader('sec_bob', NULL) IS NULL AS reader_taken_back;

-- A superuser sees and may do everything; it cleans up
SELECT mixrec_drop(name) FROM (VALUES ('sec_alice'), ('sec_bob'), ('sec_team')) AS n(name);
REVOKE ALL ON mixrec_models, mixrec_model_counters
	FROM regress_mixrec_alice, regress_mixrec_bob, regress_mixrec_carol;
DROP TABLE sec_rows;
DROP ROLE regress_mixrec_alice, regress_mixrec_bob, regress_mixrec_carol, regress_mixrec_team;
