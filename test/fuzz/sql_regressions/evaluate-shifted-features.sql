-- mixrec_evaluate: a features expression that closes its parenthesis,
-- names its own FROM and comments out the rest, so the columns the C code
-- reads are not the ones it asked for.  Must be an error, not a crash.
-- Needs SELECT, INSERT, UPDATE on the registry tables (what README.md tells
-- a trainer to grant); leaves nothing behind.
BEGIN;
CREATE TEMP TABLE clicks AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.73), sin(i * 1.31) * 3, (i % 10) / 10.0]::real[] AS features,
       sin(i * 0.37) + cos(i * 0.73) > 0.2 AS clicked
FROM generate_series(1, 200) AS i;
SELECT model, version FROM mixrec_train('m', 'clicks', 'features', 'clicked', hidden => '{4}', epochs => 1);
SELECT count(*) FROM mixrec_evaluate('m', 'clicks', 'clicked) FROM clicks --', 'clicked');
ROLLBACK;
