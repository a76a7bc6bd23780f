-- mixrec_recommend: a user_id expression that closes its parenthesis and
-- adds columns, so the assembled statement returns more columns, of other
-- types, than the C code reads.  Must be an error, not a crash.  Needs
-- SELECT, INSERT, UPDATE on the registry tables (what README.md tells a
-- trainer to grant); leaves nothing behind.
BEGIN;
CREATE TEMP TABLE users AS
SELECT u AS user_id, ARRAY[sin(u), cos(u)]::real[] AS features FROM generate_series(1, 12) AS u;
CREATE TEMP TABLE items AS
SELECT i AS item_id, ARRAY[sin(i * 2), cos(i * 3)]::real[] AS features FROM generate_series(1, 40) AS i;
SELECT model, version FROM mixrec_train('ui',
    'SELECT u.features || i.features AS f, (u.user_id + i.item_id) % 2 = 0 AS y FROM users u, items i',
    'f', 'y', hidden => '{4}', epochs => 1);
SELECT count(*) FROM mixrec_recommend('ui', 'users', 'items', 'user_id', '1), (2), (3',
    'features', 'features', 3);
ROLLBACK;
