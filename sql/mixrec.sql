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

-- Scoring a row of typed columns (a model trained on them)

CREATE FUNCTION mixrec_score(model bytea, features record, mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(bytea, record, text, float8) IS
'score a row of the columns a model was trained on, by name: the probability under the blend, open, commercial or soup model';

CREATE FUNCTION mixrec_score_all(model bytea, features record, mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(bytea, record, text, float8) IS
'score a row of typed columns with a model of several outputs: one probability per output';

CREATE FUNCTION mixrec_transform(model bytea, features record) RETURNS real[]
	AS 'MODULE_PATHNAME', 'mixrec_transform' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_transform(bytea, record) IS
'the input vector a model''s MLPs see for a row of typed columns: encoded and standardised';

CREATE FUNCTION mixrec_feature_info(model bytea)
RETURNS TABLE (column_name text, type text, kind text, first_input int, inputs int,
	rows bigint, null_fraction float8, mean float8, stddev float8, scale text,
	missing_input boolean, vocabulary_size int, top_values text[], top_counts bigint[])
	AS 'MODULE_PATHNAME', 'mixrec_feature_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION mixrec_feature_info(bytea) IS
'one row per typed column of a model: its inputs, kind, statistics and most frequent values';

-- Embeddings: the tables of a model's embedded columns

CREATE FUNCTION mixrec_embeddings(model bytea, column_name text, include_special boolean DEFAULT false)
RETURNS TABLE (value text, open real[], commercial real[])
	AS 'MODULE_PATHNAME', 'mixrec_embeddings' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION mixrec_embeddings(bytea, text, boolean) IS
'the embedding of each vocabulary entry of an embedded column in the open and commercial models, in vocabulary order; with include_special, then the out-of-vocabulary and NULL rows (value NULL)';

CREATE FUNCTION mixrec_similar(model bytea, column_name text, value text, k int DEFAULT 10,
	mode text DEFAULT 'blend')
RETURNS TABLE (value text, similarity float8)
	AS 'MODULE_PATHNAME', 'mixrec_similar' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION mixrec_similar(bytea, text, text, int, text) IS
'the k vocabulary entries of an embedded column most similar to a value, by cosine similarity of their embeddings: in the open model, the commercial one, or blended with the model''s alpha';

-- The model registry

CREATE FUNCTION mixrec_shape(model bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_shape(bytea) IS
'describe a model''s shape from its header alone, without reading or checking its weights';

CREATE TABLE mixrec_models (
	name text NOT NULL CHECK (name <> ''),
	version int NOT NULL CHECK (version > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	trained_by name NOT NULL DEFAULT current_user,
	source text,
	config jsonb NOT NULL DEFAULT '{}',
	metrics jsonb NOT NULL DEFAULT '{}',
	weights bytea NOT NULL,
	active boolean NOT NULL DEFAULT false,
	PRIMARY KEY (name, version),
	-- A row whose header is not a model's would break every listing
	CONSTRAINT mixrec_models_weights_header CHECK (@extschema@.mixrec_shape(weights) IS NOT NULL)
);

-- Weights are float32 noise to a compressor: storing them uncompressed
-- saves a pglz pass (seconds, and uninterruptible, for a large model)
-- and lets mixrec_shape read a model's header without fetching the rest
ALTER TABLE mixrec_models ALTER COLUMN weights SET STORAGE EXTERNAL;

-- At most one active version per name
CREATE UNIQUE INDEX mixrec_models_active ON mixrec_models (name) WHERE active;

COMMENT ON TABLE mixrec_models IS
'mixrec model registry: every trained version of every model, one of them active per name';

-- One row per model name: the role that owns it, the role that may read
-- it besides the owner's members, and the last version number given, so
-- that numbers are never reused after mixrec_drop
CREATE TABLE mixrec_model_counters (
	name text PRIMARY KEY,
	last_version int NOT NULL CHECK (last_version >= 0),
	owner regrole NOT NULL,
	reader regrole
);

COMMENT ON TABLE mixrec_model_counters IS
'mixrec registry: each model name''s owner and reader roles and the last version number given';

-- pg_dump keeps the models
SELECT pg_catalog.pg_extension_config_dump('mixrec_models', '');
SELECT pg_catalog.pg_extension_config_dump('mixrec_model_counters', '');

-- Access to models, enforced by the tables themselves, so that it holds
-- for any role with privileges on them, whatever it runs.  A name belongs
-- to its owner role: the owner's members (and superusers, and the tables'
-- owner) may add, activate, change and drop its versions; the members of
-- its reader role may also read them, and so score with them.  Everyone
-- may see which names exist and who owns them, so that a name in use is
-- refused with its owner's name, not silently.
ALTER TABLE mixrec_model_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY mixrec_names_visible ON mixrec_model_counters FOR SELECT USING (true);
CREATE POLICY mixrec_names_claim ON mixrec_model_counters FOR INSERT
	WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY mixrec_names_change ON mixrec_model_counters FOR UPDATE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'))
	WITH CHECK (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY mixrec_names_drop ON mixrec_model_counters FOR DELETE
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));

ALTER TABLE mixrec_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY mixrec_models_read ON mixrec_models FOR SELECT
	USING (EXISTS (SELECT FROM @extschema@.mixrec_model_counters c
	               WHERE c.name OPERATOR(pg_catalog.=) mixrec_models.name
	                 AND (pg_catalog.pg_has_role(c.owner, 'USAGE')
	                      OR (c.reader IS NOT NULL AND pg_catalog.pg_has_role(c.reader, 'USAGE')))));
CREATE POLICY mixrec_models_add ON mixrec_models FOR INSERT
	WITH CHECK (EXISTS (SELECT FROM @extschema@.mixrec_model_counters c
	                    WHERE c.name OPERATOR(pg_catalog.=) mixrec_models.name
	                      AND pg_catalog.pg_has_role(c.owner, 'USAGE')));
CREATE POLICY mixrec_models_change ON mixrec_models FOR UPDATE
	USING (EXISTS (SELECT FROM @extschema@.mixrec_model_counters c
	               WHERE c.name OPERATOR(pg_catalog.=) mixrec_models.name
	                 AND pg_catalog.pg_has_role(c.owner, 'USAGE')))
	WITH CHECK (EXISTS (SELECT FROM @extschema@.mixrec_model_counters c
	                    WHERE c.name OPERATOR(pg_catalog.=) mixrec_models.name
	                      AND pg_catalog.pg_has_role(c.owner, 'USAGE')));
CREATE POLICY mixrec_models_drop ON mixrec_models FOR DELETE
	USING (EXISTS (SELECT FROM @extschema@.mixrec_model_counters c
	               WHERE c.name OPERATOR(pg_catalog.=) mixrec_models.name
	                 AND pg_catalog.pg_has_role(c.owner, 'USAGE')));

-- Rows are filtered by the policies above: each role reads the models it
-- owns or reads, nothing else; writing needs the grants README describes
GRANT SELECT ON mixrec_models, mixrec_model_counters TO PUBLIC;

-- trained_by is the server's word: the role that inserted the version.
-- Only a superuser (restoring a dump, say) may write another name in it.
CREATE FUNCTION mixrec_stamp_trained_by() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		IF TG_OP = 'INSERT' THEN
			NEW.trained_by := current_user;
		ELSE
			NEW.trained_by := OLD.trained_by;
		END IF;
	END IF;
	RETURN NEW;
END
$$;

COMMENT ON FUNCTION mixrec_stamp_trained_by() IS
'registry support: set trained_by to the role that inserts a version';

CREATE TRIGGER mixrec_models_trained_by BEFORE INSERT OR UPDATE ON mixrec_models
	FOR EACH ROW EXECUTE FUNCTION mixrec_stamp_trained_by();

-- The owner of a model name, or the error for a name the current role may
-- not change.  With lock_name, first take the lock that orders every change
-- of that name's versions (held to the end of the transaction).
CREATE FUNCTION mixrec_check_owner(model_name text, missing_ok boolean, lock_name boolean)
RETURNS regrole
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	found_owner regrole;
BEGIN
	IF lock_name THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(
			pg_catalog.hashtextextended(pg_catalog.concat('mixrec_models ', model_name), 0::bigint));
	END IF;
	SELECT c.owner INTO found_owner FROM @extschema@.mixrec_model_counters c WHERE c.name = model_name;
	IF NOT FOUND THEN
		IF missing_ok THEN
			RETURN NULL;
		END IF;
		RAISE EXCEPTION 'model "%" does not exist', model_name USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(found_owner, 'USAGE') THEN
		RAISE EXCEPTION 'permission denied for model "%"', model_name
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = pg_catalog.format('Model "%s" is owned by role %s.', model_name, found_owner),
			      HINT = 'Only members of the owner role may train, activate or drop its versions.';
	END IF;
	RETURN found_owner;
END
$$;

COMMENT ON FUNCTION mixrec_check_owner(text, boolean, boolean) IS
'registry support: the owner of a model name, or an error if the current role may not act for it';

-- Training

-- Not STRICT: domain, weight and initial_model may be NULL, and label
-- too when the options give items (a source of positives only); NULL
-- options are the defaults
CREATE FUNCTION mixrec_train_model(source text, features text, label text,
	domain text DEFAULT NULL, weight text DEFAULT NULL, options jsonb DEFAULT '{}',
	initial_model bytea DEFAULT NULL, model_name text DEFAULT NULL,
	OUT weights bytea, OUT metrics jsonb)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION mixrec_train_model(text, text, text, text, text, jsonb, bytea, text) IS
'training support: train a model on the rows of a table or query, without storing it';

-- mixrec_train runs in three steps.  The two that touch the registry are
-- PL/pgSQL functions with a pinned search_path; the training between them
-- runs in the caller's search_path, in which the source, features, label,
-- domain and weight the caller wrote must be resolved.  So mixrec_train
-- itself is a C function that calls the three by their qualified names.
CREATE FUNCTION mixrec_train_begin(model_name text, warm_start boolean, initial_model bytea)
RETURNS bytea
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	start_model bytea := initial_model;
BEGIN
	IF model_name IS NULL OR model_name = '' THEN
		RAISE EXCEPTION 'model_name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF warm_start IS NULL THEN
		RAISE EXCEPTION 'warm_start must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Refused before the work of training, not after
	PERFORM @extschema@.mixrec_check_owner(model_name, true, false);
	IF warm_start THEN
		IF initial_model IS NOT NULL THEN
			RAISE EXCEPTION 'give warm_start or initial_model, not both' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		SELECT m.weights INTO start_model FROM @extschema@.mixrec_models m
		WHERE m.name = model_name AND m.active;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'model "%" has no active version to warm-start from', model_name
				USING ERRCODE = 'undefined_object';
		END IF;
	END IF;
	RETURN start_model;
END
$$;

COMMENT ON FUNCTION mixrec_train_begin(text, boolean, bytea) IS
'training support: check that the current role may train a model name, and return the model to start from';

CREATE FUNCTION mixrec_train_store(model_name text, source text, features text, label text,
	domain text, weight text, options jsonb, warm_start boolean, from_initial_model boolean,
	trained_weights bytea, trained_metrics jsonb)
RETURNS TABLE (model text, version int, epochs_run int, train_loss float8,
	validation_loss float8, validation_auc float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	new_version int;
	last_epoch jsonb;
	keep int;
	me regrole := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)::regrole;
BEGIN
	-- Versions are numbered per name; the lock orders concurrent trainings
	-- of one name only now, at the end, so they train in parallel
	PERFORM @extschema@.mixrec_check_owner(model_name, true, true);
	INSERT INTO @extschema@.mixrec_model_counters AS c (name, last_version, owner)
	SELECT model_name, coalesce(max(m.version), 0) + 1, me
	FROM @extschema@.mixrec_models m WHERE m.name = model_name
	ON CONFLICT (name) DO UPDATE SET last_version = greatest(c.last_version, excluded.last_version - 1) + 1
	RETURNING c.last_version INTO new_version;
	UPDATE @extschema@.mixrec_models m SET active = false WHERE m.name = model_name AND m.active;
	-- Retention: keep the newest mixrec.keep_versions versions (0: all)
	keep := coalesce(nullif(pg_catalog.current_setting('mixrec.keep_versions', true), '')::int, 0);
	IF keep > 0 THEN
		DELETE FROM @extschema@.mixrec_models m
		WHERE m.name = model_name AND NOT m.active AND m.version <= new_version - keep;
	END IF;
	INSERT INTO @extschema@.mixrec_models (name, version, source, config, metrics, weights, active)
	VALUES (model_name, new_version, source,
		-- The options mixrec_train_model was given, and what is not an option
		options OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('features', features,
			'label', label, 'domain', domain, 'weight', weight, 'warm_start', warm_start,
			'initial_model', from_initial_model),
		trained_metrics, trained_weights, true);

	last_epoch := trained_metrics->'epochs'->((trained_metrics->>'best_epoch')::int - 1);
	IF last_epoch IS NULL THEN
		last_epoch := trained_metrics->'epochs'->-1;
	END IF;
	RETURN QUERY SELECT model_name, new_version, (trained_metrics->>'epochs_run')::int,
		(last_epoch->>'train_loss')::float8, (last_epoch->>'validation_loss')::float8,
		(last_epoch->>'validation_auc_blend')::float8;
END
$$;

-- mixrec_train with since: the active version's weights and watermark, if it has one: no row when
-- there is no active version or it was not trained with since
CREATE FUNCTION mixrec_train_watermark(model_name text, since text)
RETURNS TABLE (weights bytea, watermark text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	found_weights bytea;
	found_since jsonb;
BEGIN
	SELECT m.weights, m.metrics->'since' INTO found_weights, found_since
	FROM @extschema@.mixrec_models m WHERE m.name = model_name AND m.active;
	IF NOT FOUND OR found_since IS NULL OR found_since->>'watermark' IS NULL THEN
		RETURN;
	END IF;
	IF found_since->>'column' IS DISTINCT FROM since THEN
		RAISE EXCEPTION 'model "%" keeps a watermark on column "%", not "%"', model_name,
			found_since->>'column', since
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Give warm_start => false to train a new model on every row, with a watermark on the new column.';
	END IF;
	RETURN QUERY SELECT found_weights, found_since->>'watermark';
END
$$;

COMMENT ON FUNCTION mixrec_train_watermark(text, text) IS
'training support: the weights and watermark of the active version of a model trained incrementally';

COMMENT ON FUNCTION mixrec_train_store(text, text, text, text, text, text, jsonb, boolean,
	boolean, bytea, jsonb) IS
'training support: store a trained model as the new active version of a name the current role owns';

CREATE FUNCTION mixrec_train(model_name text, source text, features text DEFAULT NULL,
	label text DEFAULT NULL, domain text DEFAULT NULL, weight text DEFAULT NULL, alpha float8 DEFAULT 0.5,
	hidden int[] DEFAULT '{64}', epochs int DEFAULT 10, batch_size int DEFAULT 256,
	learning_rate float8 DEFAULT 1e-3, beta1 float8 DEFAULT 0.9, beta2 float8 DEFAULT 0.999,
	eps float8 DEFAULT 1e-8, weight_decay float8 DEFAULT 0, optimizer text DEFAULT 'adam',
	validation_fraction float8 DEFAULT 0.1, patience int DEFAULT NULL,
	standardize boolean DEFAULT true, shuffle boolean DEFAULT true,
	init text DEFAULT 'independent', seed bigint DEFAULT 42,
	warm_start boolean DEFAULT NULL, initial_model bytea DEFAULT NULL,
	on_invalid text DEFAULT 'error', method text DEFAULT 'auto',
	exclude text[] DEFAULT NULL, transform jsonb DEFAULT NULL,
	embed jsonb DEFAULT NULL, embed_optimizer text DEFAULT 'auto',
	items text DEFAULT NULL, item_id text DEFAULT NULL, negatives int DEFAULT 4,
	negative_sampling text DEFAULT 'uniform', partitions int DEFAULT NULL,
	rounds int DEFAULT NULL, since text DEFAULT NULL)
RETURNS TABLE (model text, version int, epochs_run int, train_loss float8,
	validation_loss float8, validation_auc float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;

COMMENT ON FUNCTION mixrec_train(text, text, text, text, text, text, float8, int[], int, int,
	float8, float8, float8, float8, float8, text, float8, int, boolean, boolean, text, bigint,
	boolean, bytea, text, text, text[], jsonb, jsonb, text, text, text, int, text, int, int, text) IS
'train the open and commercial models on the rows of a table, view or query and store a new active version';

-- Not STRICT: features, label, exclude and transform may be NULL
CREATE FUNCTION mixrec_prepare(source text, features text DEFAULT NULL, label text DEFAULT NULL,
	exclude text[] DEFAULT NULL, transform jsonb DEFAULT NULL, hidden int[] DEFAULT '{64}',
	alpha float8 DEFAULT 0.5, standardize boolean DEFAULT true, init text DEFAULT 'independent',
	seed bigint DEFAULT 42, embed jsonb DEFAULT NULL)
RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION mixrec_prepare(text, text, text, text[], jsonb, int[], float8, boolean,
	text, bigint, jsonb) IS
'a new model whose input transform is fitted on the typed columns of a source, for mixrec_fit';

CREATE FUNCTION mixrec_training_info(model_name text, model_version int DEFAULT NULL)
RETURNS TABLE (epoch int, train_loss float8, train_loss_open float8,
	train_loss_commercial float8, validation_loss float8, validation_loss_open float8,
	validation_loss_commercial float8, validation_auc_open float8,
	validation_auc_commercial float8, validation_auc_blend float8,
	rows_per_second float8, elapsed_ms float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	found_metrics jsonb;
BEGIN
	SELECT m.metrics INTO found_metrics FROM @extschema@.mixrec_models m
	WHERE m.name = model_name
	  AND CASE WHEN model_version IS NULL THEN m.active ELSE m.version = model_version END;
	IF NOT FOUND THEN
		IF model_version IS NULL THEN
			RAISE EXCEPTION 'model "%" has no active version', model_name USING ERRCODE = 'undefined_object';
		END IF;
		RAISE EXCEPTION 'model "%" has no version %', model_name, model_version USING ERRCODE = 'undefined_object';
	END IF;
	RETURN QUERY
	SELECT (e->>'epoch')::int, (e->>'train_loss')::float8, (e->>'train_loss_open')::float8,
		(e->>'train_loss_commercial')::float8, (e->>'validation_loss')::float8,
		(e->>'validation_loss_open')::float8, (e->>'validation_loss_commercial')::float8,
		(e->>'validation_auc_open')::float8, (e->>'validation_auc_commercial')::float8,
		(e->>'validation_auc_blend')::float8, (e->>'rows_per_second')::float8,
		(e->>'elapsed_ms')::float8
	FROM pg_catalog.jsonb_array_elements(found_metrics->'epochs') AS e
	ORDER BY 1;
END
$$;

COMMENT ON FUNCTION mixrec_training_info(text, int) IS
'one row per training epoch of a model version (the active one by default): losses, validation AUCs, speed';

-- Training as an aggregate: one epoch over the rows it sees

-- aggregate support
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features real[], label float8)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features real[], label float8,
	weight float8, domain text)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features real[], label float8,
	weight float8, domain text, options jsonb)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- The row arguments as the source has them, for mixrec_fit_rows
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features "any", label "any",
	weight "any", domain "any", options jsonb)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- Typed columns: the source's row, encoded by the model's transform
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features record, label float8)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features record, label float8,
	weight float8, domain text)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_accum(state bytea, model bytea, features record, label float8,
	weight float8, domain text, options jsonb)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_combine(a bytea, b bytea)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mixrec_fit_final(state bytea)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mixrec_merge_accum(state bytea, incoming bytea)
	RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, real[], float8) IS
'aggregate support: add one row to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, real[], float8, float8, text) IS
'aggregate support: add one row to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, real[], float8, float8, text, jsonb) IS
'aggregate support: add one row to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, record, float8) IS
'aggregate support: add one row of typed columns to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, record, float8, float8, text) IS
'aggregate support: add one row of typed columns to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, record, float8, float8, text, jsonb) IS
'aggregate support: add one row of typed columns to a training state';
COMMENT ON FUNCTION mixrec_fit_accum(bytea, bytea, "any", "any", "any", "any", jsonb) IS
'aggregate support: add one row, of any column types the training source may have, to a training state';
COMMENT ON FUNCTION mixrec_fit_combine(bytea, bytea) IS
'aggregate support: average two training states, weighted by the rows each has seen';
COMMENT ON FUNCTION mixrec_fit_final(bytea) IS
'aggregate support: train the rows left in a training state and return its model';
COMMENT ON FUNCTION mixrec_merge_accum(bytea, bytea) IS
'aggregate support: merge one more training state';

CREATE AGGREGATE mixrec_fit(model bytea, features real[], label float8) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit(model bytea, features real[], label float8, weight float8,
	domain text) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit(model bytea, features real[], label float8, weight float8,
	domain text, options jsonb) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_fit(bytea, real[], float8) IS
'train one epoch of mini-batch Adam over the rows, starting from a model; returns the model';
COMMENT ON AGGREGATE mixrec_fit(bytea, real[], float8, float8, text) IS
'train one epoch of mini-batch Adam over the rows, with sample weights and domains; returns the model';
COMMENT ON AGGREGATE mixrec_fit(bytea, real[], float8, float8, text, jsonb) IS
'train one epoch of mini-batch Adam over the rows, with weights, domains and options; returns the model';

CREATE AGGREGATE mixrec_fit(model bytea, features record, label float8) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit(model bytea, features record, label float8, weight float8,
	domain text) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit(model bytea, features record, label float8, weight float8,
	domain text, options jsonb) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_fit(bytea, record, float8) IS
'train one epoch over rows of typed columns (a model from mixrec_prepare, or trained on them); returns the model';
COMMENT ON AGGREGATE mixrec_fit(bytea, record, float8, float8, text) IS
'train one epoch over rows of typed columns, with sample weights and domains; returns the model';
COMMENT ON AGGREGATE mixrec_fit(bytea, record, float8, float8, text, jsonb) IS
'train one epoch over rows of typed columns, with weights, domains and options; returns the model';

CREATE AGGREGATE mixrec_fit_state(model bytea, features real[], label float8) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit_state(model bytea, features real[], label float8, weight float8,
	domain text) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit_state(model bytea, features real[], label float8, weight float8,
	domain text, options jsonb) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_fit_state(bytea, real[], float8) IS
'like mixrec_fit, but returns the training state itself, to be merged with mixrec_merge';
COMMENT ON AGGREGATE mixrec_fit_state(bytea, real[], float8, float8, text) IS
'like mixrec_fit, but returns the training state itself, to be merged with mixrec_merge';
COMMENT ON AGGREGATE mixrec_fit_state(bytea, real[], float8, float8, text, jsonb) IS
'like mixrec_fit, but returns the training state itself, to be merged with mixrec_merge';

CREATE AGGREGATE mixrec_fit_state(model bytea, features record, label float8) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit_state(model bytea, features record, label float8, weight float8,
	domain text) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE mixrec_fit_state(model bytea, features record, label float8, weight float8,
	domain text, options jsonb) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_fit_state(bytea, record, float8) IS
'like mixrec_fit over typed columns, but returns the training state itself';
COMMENT ON AGGREGATE mixrec_fit_state(bytea, record, float8, float8, text) IS
'like mixrec_fit over typed columns, but returns the training state itself';
COMMENT ON AGGREGATE mixrec_fit_state(bytea, record, float8, float8, text, jsonb) IS
'like mixrec_fit over typed columns, but returns the training state itself';

-- What streamed training runs once per epoch: the source's columns go in as
-- they are, and the datum layer converts them as training in memory does
CREATE AGGREGATE mixrec_fit_rows(model bytea, features "any", label "any", weight "any",
	domain "any", options jsonb) (
	SFUNC = mixrec_fit_accum, STYPE = bytea, COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_fit_rows(bytea, "any", "any", "any", "any", jsonb) IS
'training support: mixrec_fit_state over a training source''s own columns (numeric arrays, boolean or numeric labels, text or boolean domains)';

CREATE AGGREGATE mixrec_merge(state bytea) (
	SFUNC = mixrec_merge_accum, STYPE = bytea, FINALFUNC = mixrec_fit_final,
	COMBINEFUNC = mixrec_fit_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE mixrec_merge(bytea) IS
'average training states (from mixrec_fit_state, on shards or workers) into one model, weighted by rows';

CREATE FUNCTION mixrec_state_info(state bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_state_info(bytea) IS
'describe a training state: rows seen and skipped, Adam steps, mean training loss';

CREATE FUNCTION mixrec_holdout(features anyarray, seed bigint) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_holdout(anyarray, bigint) IS
'training support: a row''s place in [0, 1) from a hash of its features; streamed training holds out the rows below validation_fraction';

CREATE FUNCTION mixrec_holdout(features record, seed bigint) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_holdout_row' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_holdout(record, bigint) IS
'training support: a row''s place in [0, 1) from a hash of its typed feature columns, given as ROW(...) in the order trained; streamed training holds out the rows below validation_fraction';

-- Scoring with a registered model

CREATE FUNCTION mixrec_score(model_name text, features real[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(text, real[], text, float8, int) IS
'score a feature vector with a registered model: its active version (read once per query) or the given version';

CREATE FUNCTION mixrec_score(model_name text, features float8[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(text, float8[], text, float8, int) IS
'score a feature vector with a registered model: its active version (read once per query) or the given version';

CREATE FUNCTION mixrec_score_all(model_name text, features real[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(text, real[], text, float8, int) IS
'score a feature vector with a registered model of several outputs';

CREATE FUNCTION mixrec_score_all(model_name text, features float8[], mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(text, float8[], text, float8, int) IS
'score a feature vector with a registered model of several outputs';

CREATE FUNCTION mixrec_score(model_name text, features record, mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8
	AS 'MODULE_PATHNAME', 'mixrec_score_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score(text, record, text, float8, int) IS
'score a row of typed columns with a registered model: its active version (read once per query) or the given version';

CREATE FUNCTION mixrec_score_all(model_name text, features record, mode text DEFAULT 'blend',
	alpha float8 DEFAULT NULL, version int DEFAULT NULL) RETURNS float8[]
	AS 'MODULE_PATHNAME', 'mixrec_score_all_name' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_score_all(text, record, text, float8, int) IS
'score a row of typed columns with a registered model of several outputs';

CREATE FUNCTION mixrec_transform(model_name text, features record) RETURNS real[]
	AS 'MODULE_PATHNAME', 'mixrec_transform_name' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION mixrec_transform(text, record) IS
'the input vector the active version of a registered model sees for a row of typed columns';

CREATE FUNCTION mixrec_feature_info(model_name text, version int DEFAULT NULL)
RETURNS TABLE (column_name text, type text, kind text, first_input int, inputs int,
	rows bigint, null_fraction float8, mean float8, stddev float8, scale text,
	missing_input boolean, vocabulary_size int, top_values text[], top_counts bigint[])
	AS 'MODULE_PATHNAME', 'mixrec_feature_info_name' LANGUAGE C STABLE PARALLEL SAFE ROWS 20;

COMMENT ON FUNCTION mixrec_feature_info(text, int) IS
'one row per typed column of a registered model (its active version, or the given one)';

-- Not STRICT: version may be NULL (the active version)
CREATE FUNCTION mixrec_embeddings(model_name text, column_name text, version int DEFAULT NULL,
	include_special boolean DEFAULT false)
RETURNS TABLE (value text, open real[], commercial real[])
	AS 'MODULE_PATHNAME', 'mixrec_embeddings_name' LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

COMMENT ON FUNCTION mixrec_embeddings(text, text, int, boolean) IS
'the embedding of each vocabulary entry of an embedded column of a registered model (its active version, or the given one)';

-- Not STRICT: version may be NULL (the active version)
CREATE FUNCTION mixrec_similar(model_name text, column_name text, value text, k int DEFAULT 10,
	mode text DEFAULT 'blend', version int DEFAULT NULL)
RETURNS TABLE (value text, similarity float8)
	AS 'MODULE_PATHNAME', 'mixrec_similar_name' LANGUAGE C STABLE PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION mixrec_similar(text, text, text, int, text, int) IS
'the k vocabulary entries of an embedded column of a registered model most similar to a value, by cosine similarity of their embeddings';

-- A model's weights by name, read once: the value to hand to the scoring
-- functions that take a model, for example in a MATERIALIZED CTE that a
-- distributed engine runs on its coordinator and sends to the shards as
-- a constant (README, "Scaling out")
CREATE FUNCTION mixrec_model(model_name text, model_version int DEFAULT NULL) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	found_weights bytea;
BEGIN
	SELECT m.weights INTO found_weights FROM @extschema@.mixrec_models m
	WHERE m.name = model_name
	  AND CASE WHEN model_version IS NULL THEN m.active ELSE m.version = model_version END;
	IF NOT FOUND THEN
		IF model_version IS NULL THEN
			RAISE EXCEPTION 'model "%" has no active version', model_name USING ERRCODE = 'undefined_object';
		END IF;
		RAISE EXCEPTION 'model "%" has no version %', model_name, model_version USING ERRCODE = 'undefined_object';
	END IF;
	RETURN found_weights;
END
$$;

COMMENT ON FUNCTION mixrec_model(text, int) IS
'the weights of a model version (the active one by default), as a value for the functions that take a model';

-- Store a model trained by the aggregates (mixrec_fit, mixrec_merge) as
-- the new active version of a name, as mixrec_train stores its models;
-- epochs, if given, is what mixrec_training_info shows: one object per
-- epoch, such as mixrec_state_info of the epoch's state with its number
CREATE FUNCTION mixrec_store(model_name text, weights bytea, epochs jsonb DEFAULT NULL,
	source text DEFAULT NULL)
RETURNS TABLE (model text, version int, epochs_run int, train_loss float8,
	validation_loss float8, validation_auc float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
	model_info jsonb;
BEGIN
	IF model_name IS NULL OR model_name = '' THEN
		RAISE EXCEPTION 'model_name must not be NULL or empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF weights IS NULL THEN
		RAISE EXCEPTION 'weights must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Validated in full (lengths, checksums, finiteness) before it is stored
	model_info := @extschema@.mixrec_info(weights);
	IF epochs IS NOT NULL AND (pg_catalog.jsonb_typeof(epochs) <> 'array' OR EXISTS (
			SELECT FROM pg_catalog.jsonb_array_elements(epochs) AS e WHERE pg_catalog.jsonb_typeof(e) <> 'object')) THEN
		RAISE EXCEPTION 'epochs must be a JSON array of objects, one per epoch'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = pg_catalog.format('Got: %s', pg_catalog.left(epochs::text, 200));
	END IF;
	RETURN QUERY SELECT * FROM @extschema@.mixrec_train_store(model_name, source, NULL, NULL, NULL, NULL,
		pg_catalog.jsonb_build_object('method', 'aggregate'), false, false, weights,
		pg_catalog.jsonb_build_object('method', 'aggregate',
			'epochs', coalesce(epochs, '[]'::jsonb),
			'epochs_run', coalesce(pg_catalog.jsonb_array_length(epochs), 0),
			'steps', model_info->'optimizer'->'step'));
END
$$;

COMMENT ON FUNCTION mixrec_store(text, bytea, jsonb, text) IS
'store a model trained by the aggregates as the new active version of a name the current role owns';

-- Model lifecycle

CREATE FUNCTION mixrec_activate(model_name text, model_version int) RETURNS int
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF model_name IS NULL OR model_version IS NULL THEN
		RAISE EXCEPTION 'model_name and model_version must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.mixrec_check_owner(model_name, false, true);
	PERFORM 1 FROM @extschema@.mixrec_models m WHERE m.name = model_name AND m.version = model_version;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no version %', model_name, model_version USING ERRCODE = 'undefined_object';
	END IF;
	UPDATE @extschema@.mixrec_models m SET active = false
	WHERE m.name = model_name AND m.active AND m.version <> model_version;
	UPDATE @extschema@.mixrec_models m SET active = true
	WHERE m.name = model_name AND m.version = model_version;
	RETURN model_version;
END
$$;

COMMENT ON FUNCTION mixrec_activate(text, int) IS
'make a version of a model the active one (a rollback, or a roll forward); returns the version';

CREATE FUNCTION mixrec_drop(model_name text, model_version int DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	dropped int;
BEGIN
	IF model_name IS NULL THEN
		RAISE EXCEPTION 'model_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.mixrec_check_owner(model_name, false, true);
	IF model_version IS NULL THEN
		DELETE FROM @extschema@.mixrec_models m WHERE m.name = model_name;
		GET DIAGNOSTICS dropped = ROW_COUNT;
		DELETE FROM @extschema@.mixrec_model_counters c WHERE c.name = model_name;
		RETURN dropped;
	END IF;
	IF EXISTS (SELECT FROM @extschema@.mixrec_models m
	           WHERE m.name = model_name AND m.version = model_version AND m.active) THEN
		RAISE EXCEPTION 'version % of model "%" is active', model_version, model_name
			USING ERRCODE = 'object_in_use',
			      HINT = 'Activate another version with mixrec_activate first, or drop every version with mixrec_drop(name).';
	END IF;
	DELETE FROM @extschema@.mixrec_models m WHERE m.name = model_name AND m.version = model_version;
	GET DIAGNOSTICS dropped = ROW_COUNT;
	IF dropped = 0 THEN
		RAISE EXCEPTION 'model "%" has no version %', model_name, model_version USING ERRCODE = 'undefined_object';
	END IF;
	RETURN dropped;
END
$$;

COMMENT ON FUNCTION mixrec_drop(text, int) IS
'drop one inactive version of a model, or, without a version, every version and the name; returns how many versions were dropped';

CREATE FUNCTION mixrec_set_owner(model_name text, new_owner regrole) RETURNS regrole
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF model_name IS NULL OR model_name = '' OR new_owner IS NULL THEN
		RAISE EXCEPTION 'model_name and new_owner must not be NULL or empty' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- As ALTER ... OWNER TO: the new owner must be a role one can act as
	IF NOT pg_catalog.pg_has_role(new_owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be able to act as role % to make it the owner of model "%"', new_owner, model_name
			USING ERRCODE = 'insufficient_privilege',
			      HINT = pg_catalog.format('Only a member of role %s can give it models.', new_owner);
	END IF;
	IF @extschema@.mixrec_check_owner(model_name, true, true) IS NULL THEN
		-- Claim a name before its first version: that version is then the owner's
		INSERT INTO @extschema@.mixrec_model_counters (name, last_version, owner)
		VALUES (model_name, 0, new_owner);
	ELSE
		UPDATE @extschema@.mixrec_model_counters c SET owner = new_owner WHERE c.name = model_name;
	END IF;
	RETURN new_owner;
END
$$;

COMMENT ON FUNCTION mixrec_set_owner(text, regrole) IS
'give a model name, with all its versions, to another role (a group role, to share it); a new name is claimed';

CREATE FUNCTION mixrec_set_reader(model_name text, reader regrole) RETURNS regrole
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF model_name IS NULL THEN
		RAISE EXCEPTION 'model_name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@.mixrec_check_owner(model_name, false, true);
	UPDATE @extschema@.mixrec_model_counters c SET reader = mixrec_set_reader.reader WHERE c.name = model_name;
	RETURN reader;
END
$$;

COMMENT ON FUNCTION mixrec_set_reader(text, regrole) IS
'let the members of a role read and score every version of a model (NULL: only the owner''s members)';

-- security_invoker: the view shows each role the rows of mixrec_models that
-- its row-level security lets that role read, not what the view's owner sees
CREATE VIEW mixrec_model_versions WITH (security_invoker = true) AS
SELECT m.name, m.version, m.active, m.created_at, c.owner, m.trained_by, m.source,
	(s.shape->>'input_dim')::int AS input_dim,
	s.shape->'hidden' AS hidden,
	(s.shape->>'alpha')::float8 AS alpha,
	m.metrics->>'method' AS method,
	(m.metrics->>'epochs_run')::int AS epochs,
	(m.metrics->'epochs'->(coalesce((m.metrics->>'best_epoch')::int, (m.metrics->>'epochs_run')::int) - 1)
		->>'validation_auc_blend')::float8 AS validation_auc,
	(s.shape->>'bytes')::bigint AS bytes,
	m.metrics->'since'->>'watermark' AS watermark
FROM @extschema@.mixrec_models m
LEFT JOIN @extschema@.mixrec_model_counters c ON c.name OPERATOR(pg_catalog.=) m.name
CROSS JOIN LATERAL (SELECT @extschema@.mixrec_shape(m.weights) AS shape) s;

COMMENT ON VIEW mixrec_model_versions IS
'the model versions the current role may read, without their weights: owner, shape, training method, epochs, validation AUC, size';

GRANT SELECT ON mixrec_model_versions TO PUBLIC;

-- Batch and top-k scoring

CREATE FUNCTION mixrec_predict(model_name text, source text, id text,
	features text DEFAULT NULL, mode text DEFAULT 'blend', alpha float8 DEFAULT NULL, version int DEFAULT NULL)
RETURNS TABLE (id text, score float8, score_open float8, score_commercial float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

COMMENT ON FUNCTION mixrec_predict(text, text, text, text, text, float8, int) IS
'score every row of a table, view or query in blocks, with one matrix product per layer and block';

CREATE FUNCTION mixrec_recommend(model_name text, users text, items text, user_id text,
	item_id text, user_features text DEFAULT NULL, item_features text DEFAULT NULL,
	k int DEFAULT 10,
	exclude text DEFAULT NULL, mode text DEFAULT 'blend', alpha float8 DEFAULT NULL,
	version int DEFAULT NULL)
RETURNS TABLE (user_id text, item_id text, rank int, score float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1000;

COMMENT ON FUNCTION mixrec_recommend(text, text, text, text, text, text, text, int, text, text, float8, int) IS
'the k best items for each user: every candidate scored in blocks on user features || item features, excluded pairs left out';

-- Explaining scores

-- Not STRICT, so that a NULL argument is an error naming it, and names is
-- NULL for features named "1", "2", ...
CREATE FUNCTION mixrec_explain(model bytea, features real[], top_k int DEFAULT 5,
	mode text DEFAULT 'blend', method text DEFAULT 'integrated_gradients', steps int DEFAULT 50,
	names text[] DEFAULT NULL)
RETURNS TABLE (feature text, open float8, commercial float8, blend float8,
	baseline_score float8, score float8)
	AS 'MODULE_PATHNAME', 'mixrec_explain' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION mixrec_explain(bytea, real[], int, text, text, int, text[]) IS
'the top_k features of a feature vector by absolute attribution of its score (probability units, summing to score - baseline_score)';

-- Not STRICT: a NULL argument is an error naming it
CREATE FUNCTION mixrec_explain(model bytea, features record, top_k int DEFAULT 5,
	mode text DEFAULT 'blend', method text DEFAULT 'integrated_gradients', steps int DEFAULT 50)
RETURNS TABLE (feature text, open float8, commercial float8, blend float8,
	baseline_score float8, score float8)
	AS 'MODULE_PATHNAME', 'mixrec_explain' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION mixrec_explain(bytea, record, int, text, text, int) IS
'the top_k columns of a row of typed columns by absolute attribution of its score (probability units, summing to score - baseline_score)';

-- Not STRICT: names and version may be NULL (the active version)
CREATE FUNCTION mixrec_explain(model_name text, features real[], top_k int DEFAULT 5,
	mode text DEFAULT 'blend', method text DEFAULT 'integrated_gradients', steps int DEFAULT 50,
	names text[] DEFAULT NULL, version int DEFAULT NULL)
RETURNS TABLE (feature text, open float8, commercial float8, blend float8,
	baseline_score float8, score float8)
	AS 'MODULE_PATHNAME', 'mixrec_explain_name' LANGUAGE C STABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION mixrec_explain(text, real[], int, text, text, int, text[], int) IS
'the top_k features of a feature vector by absolute attribution of its score under a registered model';

-- Not STRICT: version may be NULL (the active version)
CREATE FUNCTION mixrec_explain(model_name text, features record, top_k int DEFAULT 5,
	mode text DEFAULT 'blend', method text DEFAULT 'integrated_gradients', steps int DEFAULT 50,
	version int DEFAULT NULL)
RETURNS TABLE (feature text, open float8, commercial float8, blend float8,
	baseline_score float8, score float8)
	AS 'MODULE_PATHNAME', 'mixrec_explain_name' LANGUAGE C STABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION mixrec_explain(text, record, int, text, text, int, int) IS
'the top_k columns of a row of typed columns by absolute attribution of its score under a registered model';

-- Not STRICT: features (NULL for a model of typed columns), names and
-- version may be NULL
CREATE FUNCTION mixrec_global_explain(model_name text, source text, sample int DEFAULT 1000,
	method text DEFAULT 'integrated_gradients', steps int DEFAULT 20, features text DEFAULT NULL,
	names text[] DEFAULT NULL, mode text DEFAULT 'blend', version int DEFAULT NULL)
RETURNS TABLE (feature text, open float8, commercial float8, blend float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 20;

COMMENT ON FUNCTION mixrec_global_explain(text, text, int, text, int, text, text[], text, int) IS
'mean absolute attribution of each feature over a sample of a source''s rows (the first sample rows by a hash of their features)';

-- Evaluation

CREATE FUNCTION mixrec_evaluate(model_name text, source text, features text DEFAULT NULL,
	label text DEFAULT NULL, domain text DEFAULT NULL, user_id text DEFAULT NULL, k int DEFAULT 10,
	version int DEFAULT NULL)
RETURNS TABLE (model text, metric text, value float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 25;

COMMENT ON FUNCTION mixrec_evaluate(text, text, text, text, text, text, int, int) IS
'log loss, AUC and accuracy of the open, commercial and blended models; precision, recall and NDCG at k over users';

-- Not STRICT: a NULL version is the active one
CREATE FUNCTION mixrec_drift(model_name text, source text, version int DEFAULT NULL)
RETURNS TABLE (column_name text, kind text, train_mean float8, train_stddev float8,
	new_mean float8, new_stddev float8, mean_shift float8, train_null_fraction float8,
	new_null_fraction float8, new_oov_fraction float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 20;

COMMENT ON FUNCTION mixrec_drift(text, text, int) IS
'how the rows of a source differ from a typed-column model''s training rows: means, deviations, NULLs and unseen categories per column';

-- Not STRICT: user_features and item_features are NULL for a model of typed
-- columns, version is NULL for the active version
CREATE FUNCTION mixrec_evaluate_ranking(model_name text, train text, test text, user_id text,
	item_id text, items text, k int DEFAULT 10, user_features text DEFAULT NULL,
	item_features text DEFAULT NULL, mode text DEFAULT 'blend', version int DEFAULT NULL)
RETURNS TABLE (metric text, model float8, popularity float8)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 5;

COMMENT ON FUNCTION mixrec_evaluate_ranking(text, text, text, text, text, text, int, text, text, text, int) IS
'recall, NDCG, hit rate and coverage at k of the model''s top k for each user of test (its train items excluded), and of the most popular items of train';
