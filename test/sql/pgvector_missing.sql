-- Features of type vector where pgvector's extension is not created in the
-- database: where pgvector is not installed (Debian 12) or is installed but
-- not created, the output is the same.  test/integration/pgvector.sh tests
-- vector features where the extension is created.

SET client_min_messages = warning;

SELECT count(*) AS vector_created FROM pg_extension WHERE extname = 'vector';

-- pgvector's type does not exist: PostgreSQL's message, before mixrec runs
SELECT mixrec_score(mixrec_init(3, '{4}'), '[1,2,3]'::vector);
SELECT mixrec_train('pgv_missing', 'SELECT ''[1,2,3]''::vector AS v, true AS y', 'v', 'y');

-- A type named vector that is not pgvector's: mixrec says what is missing,
-- on every path that reads feature columns
CREATE DOMAIN vector AS real[];
CREATE TABLE pgv_rows AS
SELECT i, ARRAY[i, i * 2, 1]::vector AS v, ARRAY[i, i * 2, 1]::real[] AS a, i % 2 = 0 AS y
FROM generate_series(1, 20) AS i;
SELECT mixrec_train('pgv_missing', 'pgv_rows', 'v', 'y', epochs => 1);
SELECT mixrec_train('pgv_missing', 'SELECT v, y FROM pgv_rows', 'v', 'y', epochs => 1);
SELECT version FROM mixrec_train('pgv_missing', 'pgv_rows', 'a', 'y', epochs => 1);
SELECT metric FROM mixrec_evaluate('pgv_missing', 'pgv_rows', 'v', 'y') LIMIT 1;
SELECT count(*) FROM mixrec_predict('pgv_missing', 'pgv_rows', 'i', 'v');
SELECT mixrec_fit_rows(mixrec_init(3, '{4}'), v, y, 1.0::float8, NULL::text, NULL::jsonb)
FROM pgv_rows;

-- The real[] column of the same values trains and scores as before
SELECT count(*) FROM mixrec_predict('pgv_missing', 'pgv_rows', 'i', 'a');

DROP TABLE pgv_rows;
DROP DOMAIN vector;
SELECT mixrec_drop('pgv_missing');
