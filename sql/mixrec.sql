-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION mixrec" to load this file. \quit

-- Models

CREATE FUNCTION mixrec_init(input_dim int, hidden int[] DEFAULT '{64}',
	output_dim int DEFAULT 1, alpha float8 DEFAULT 0.5, seed bigint DEFAULT 42,
	init text DEFAULT 'independent') RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_init(int, int[], int, float8, bigint, text) IS
'create an untrained model: open and commercial MLPs initialised like nn.Linear from a seed';

CREATE FUNCTION mixrec_info(model bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_info(bytea) IS
'describe a model: format version, shape, alpha, parameter counts, standardisation and optimizer state';

-- Interchange with PyTorch

CREATE FUNCTION mixrec_export(model bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_export(bytea) IS
'export a model''s weights as JSON whose "open" and "commercial" objects are nn.Sequential state_dicts';

CREATE FUNCTION mixrec_import(model jsonb) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_import(jsonb) IS
'build a model from the JSON interchange form written by mixrec_export or by PyTorch';

-- Scoring

CREATE FUNCTION mixrec_score(model bytea, features real[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(bytea, real[], text, float8) IS
'score a feature vector: the probability under the blend, open, commercial or soup model';

CREATE FUNCTION mixrec_score(model bytea, features float8[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(bytea, float8[], text, float8) IS
'score a feature vector: the probability under the blend, open, commercial or soup model';

CREATE FUNCTION mixrec_score_all(model bytea, features real[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(bytea, real[], text, float8) IS
'score a feature vector with a model of several outputs: one probability per output';

CREATE FUNCTION mixrec_score_all(model bytea, features float8[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(bytea, float8[], text, float8) IS
'score a feature vector with a model of several outputs: one probability per output';
