-- Streamed training that continues a model of typed columns (initial_model
-- or warm_start) on a source with no training rows: empty, or every row
-- held out for validation.  Training from typed columns skips the query
-- that finds an array's length, which is where an empty source is refused
-- for feature arrays, so the epoch's aggregate returns NULL.  Must be an
-- error ("the source has no rows to train on"), not a crash.  Needs
-- SELECT, INSERT, UPDATE on the registry tables (what README.md tells a
-- trainer to grant); leaves nothing behind.
BEGIN;
CREATE TEMP TABLE visits AS
SELECT (ARRAY['fr', 'de'])[1 + i % 2] AS country, i % 3 = 0 AS bought
FROM generate_series(1, 50) AS i;
SELECT length(weights) FROM mixrec_train_model('SELECT * FROM visits WHERE false', NULL, 'bought',
	options => '{"method": "stream", "epochs": 1}',
	initial_model => mixrec_prepare('visits', label => 'bought'));
ROLLBACK;
BEGIN;
CREATE TEMP TABLE visits AS
SELECT (ARRAY['fr', 'de'])[1 + i % 2] AS country, i % 3 = 0 AS bought
FROM generate_series(1, 50) AS i;
SELECT model, version FROM mixrec_train('m', 'visits', label => 'bought', epochs => 1);
SELECT * FROM mixrec_train('m', 'SELECT * FROM visits WHERE false', label => 'bought', epochs => 1,
	method => 'stream', warm_start => true);
ROLLBACK;
BEGIN;
CREATE TEMP TABLE visits AS
SELECT (ARRAY['fr', 'de'])[1 + i % 2] AS country, i % 3 = 0 AS bought
FROM generate_series(1, 50) AS i;
SELECT * FROM mixrec_train('m', 'SELECT * FROM visits LIMIT 1', label => 'bought', epochs => 1,
	method => 'stream', validation_fraction => 0.99,
	initial_model => mixrec_prepare('visits', label => 'bought'));
ROLLBACK;
