-- mixrec_init and mixrec_info, and the validation of model bytea.

-- A default model: 64 hidden units, one output, alpha 0.5
SELECT mixrec_info(mixrec_init(8));

-- Any depth, including none (logistic regression)
SELECT mixrec_info(mixrec_init(8, '{32,16,8}', 3, 0.25))->'hidden' AS hidden,
       mixrec_info(mixrec_init(8, '{32,16,8}', 3, 0.25))->'parameters' AS parameters;
SELECT mixrec_info(mixrec_init(5, '{}'))->'parameters' AS logistic_regression;

-- The same seed gives the same bytes; another seed does not
SELECT mixrec_init(8, '{16}', seed => 7) = mixrec_init(8, '{16}', seed => 7) AS same_seed_same_model,
       mixrec_init(8, '{16}', seed => 7) = mixrec_init(8, '{16}', seed => 8) AS other_seed_same_model;

-- The PRNG is portable: these bytes are pinned for every platform
SELECT md5(mixrec_init(4, '{3}', 1, 0.5, 42)) AS pinned_digest;

-- independent: two different models; shared: the same weights twice
SELECT (e->'open') = (e->'commercial') AS independent_models_equal
FROM mixrec_export(mixrec_init(4, '{3}', init => 'independent')) AS e;
SELECT (e->'open') = (e->'commercial') AS shared_models_equal
FROM mixrec_export(mixrec_init(4, '{3}', init => 'shared')) AS e;

-- Initial weights lie within +-1/sqrt(fan_in), like nn.Linear
SELECT bool_and(abs(w::float8) <= 1 / sqrt(16)) AS first_layer_bounded,
       max(abs(w::float8)) > 0.9 / sqrt(16) AS first_layer_uses_its_range
FROM mixrec_export(mixrec_init(16, '{64}')) AS e,
     jsonb_array_elements(e->'open'->'0.weight') AS r,
     jsonb_array_elements_text(r) AS w;

-- Bad arguments
SELECT mixrec_init(0);
SELECT mixrec_init(-3);
SELECT mixrec_init(8, '{0}');
SELECT mixrec_init(8, '{16,-1}');
SELECT mixrec_init(8, '{16,NULL}');
SELECT mixrec_init(8, '{{16,16}}');
SELECT mixrec_init(8, '{70000}');
SELECT mixrec_init(8, '{1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}');
SELECT mixrec_init(8, '{16}', 0);
SELECT mixrec_init(60000, '{60000}');
SELECT mixrec_init(8, alpha => 1.5);
SELECT mixrec_init(8, alpha => -0.1);
SELECT mixrec_init(8, alpha => 'NaN');
SELECT mixrec_init(8, init => 'random');
SELECT mixrec_init(NULL);
SELECT mixrec_init(8, NULL);
SELECT mixrec_init(8, alpha => NULL);
SELECT mixrec_init(8, seed => NULL);
SELECT mixrec_info(NULL);

-- Damaged, foreign and future models are errors, never crashes
SELECT mixrec_info('');
SELECT mixrec_info('\x00');
SELECT mixrec_info('hello world, not a model');
SELECT mixrec_info('\x504b03040a000000');
SELECT mixrec_info(substring(mixrec_init(4, '{3}') FROM 1 FOR 30));
SELECT mixrec_info(substring(mixrec_init(4, '{3}') FROM 1 FOR length(mixrec_init(4, '{3}')) - 1));
SELECT mixrec_info(mixrec_init(4, '{3}') || '\x00'::bytea);
SELECT mixrec_info(set_byte(mixrec_init(4, '{3}'), 60, get_byte(mixrec_init(4, '{3}'), 60) # 16));
SELECT mixrec_info(set_byte(mixrec_init(4, '{3}'), 4, 3));

-- Every truncation and every single-bit flip of a model is rejected cleanly;
-- each damaged copy is scored in one query right after the valid model, so
-- the score cache holds a valid model when the damaged bytes arrive
DO $$
DECLARE
	m bytea := mixrec_init(3, '{4}', 1, 0.3, 1);
	n int := length(m);
	rejected int := 0;
BEGIN
	FOR cut IN 0 .. n - 1 LOOP
		BEGIN
			PERFORM mixrec_info(substring(m FROM 1 FOR cut));
		EXCEPTION WHEN invalid_binary_representation THEN
			rejected := rejected + 1;
		END;
	END LOOP;
	RAISE NOTICE 'truncations rejected: % of %', rejected, n;

	rejected := 0;
	FOR b IN 0 .. 8 * n - 1 LOOP
		BEGIN
			PERFORM mixrec_score(v, '{1,2,3}'::real[])
			FROM unnest(ARRAY[m, set_bit(m, b, 1 - get_bit(m, b))]) WITH ORDINALITY AS t(v, i)
			ORDER BY i;
		EXCEPTION WHEN invalid_binary_representation THEN
			rejected := rejected + 1;
		END;
	END LOOP;
	RAISE NOTICE 'bit flips rejected: % of %', rejected, 8 * n;
END
$$;
