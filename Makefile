# mixrec: PGXS build of the extension, plus the core unit tests and the
# one-command targets `make test` and `make demo`.

EXTENSION = mixrec
EXTVERSION = 0.1.0

MODULE_big = mixrec
OBJS = \
	src/mixrec.o \
	src/options.o \
	src/agg.o \
	src/budget.o \
	src/model_bytea.o \
	src/evaluate.o \
	src/evaluate_ranking.o \
	src/interchange.o \
	src/embeddings_sql.o \
	src/json.o \
	src/registry.o \
	src/score.o \
	src/datum.o \
	src/pgvector.o \
	src/record_check.o \
	src/typed_columns.o \
	src/typed_values.o \
	src/vocabulary.o \
	src/source.o \
	src/serve.o \
	src/train_memory.o \
	src/train_log.o \
	src/train_negatives.o \
	src/item_catalogue.o \
	src/train_source.o \
	src/train_stream.o \
	src/train_version.o \
	src/train_since.o \
	src/drift.o \
	src/train_typed.o \
	src/transform_fit.o \
	src/transform_bind.o \
	src/transform_sql.o \
	src/explain_sql.o \
	src/core/status.o \
	src/core/crc32c.o \
	src/core/random.o \
	src/core/kernels.o \
	src/core/mlp.o \
	src/core/loss.o \
	src/core/adam.o \
	src/core/standardize.o \
	src/core/model.o \
	src/core/model_format.o \
	src/core/transform.o \
	src/core/predict.o \
	src/core/score_kernels.o \
	src/core/score_plan.o \
	src/core/sort.o \
	src/core/metrics.o \
	src/core/train.o \
	src/core/fit.o \
	src/core/explain.o

DATA = $(wildcard sql/*--*--*.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

TESTS = $(wildcard test/sql/*.sql)
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# A packager may point these at another BLAS build (OpenBLAS's cblas.h API)
BLAS_CFLAGS ?=
BLAS_LIBS ?= -lopenblas

PG_CPPFLAGS += -Iinclude $(BLAS_CFLAGS)
SHLIB_LINK += $(BLAS_LIBS) -lm

CORE_SRCS = $(patsubst %.o,%.c,$(filter src/core/%,$(OBJS)))
CORE_TEST_SRCS = test/core/test_core.c test/core/fixture.c
CORE_TEST_CFLAGS = -std=c11 -g -Wall -Wextra -Werror -fno-math-errno -Iinclude -Itest/core $(BLAS_CFLAGS)
EXTRA_CLEAN = test/core/test_core test/core/test_core_sanitized test/fuzz/fuzz_model
FUZZ_CC ?= clang
FUZZ_RUNS ?= 300000

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies here: an object must be rebuilt when
# any header it may include changes (a declaration's kind may change, e.g.
# a function becoming a function pointer)
$(OBJS): $(wildcard src/*.h include/mixrec/*.h)

# The element-wise loops: -O2's cost model leaves loops with a remainder
# scalar; see src/core/kernels.c.  Without -fno-math-errno, sqrtf may set
# errno, so Adam's update loop stays scalar (nothing in mixrec reads errno
# after a square root)
src/core/kernels.o src/core/score_kernels.o: CFLAGS += -O3 -fno-math-errno

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

# The numeric core as a plain C program, without PostgreSQL
test/core/test_core: $(CORE_SRCS) $(CORE_TEST_SRCS) $(wildcard include/mixrec/*.h test/core/*.h)
	$(CC) $(CORE_TEST_CFLAGS) -O2 -o $@ $(CORE_TEST_SRCS) $(CORE_SRCS) $(BLAS_LIBS) -lm

# The same, under AddressSanitizer and UndefinedBehaviorSanitizer
test/core/test_core_sanitized: $(CORE_SRCS) $(CORE_TEST_SRCS) $(wildcard include/mixrec/*.h test/core/*.h)
	$(CC) $(CORE_TEST_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $(CORE_TEST_SRCS) $(CORE_SRCS) $(BLAS_LIBS) -lm

# The core under libFuzzer with AddressSanitizer and UBSan: reading models
# and training states from arbitrary bytes (see test/fuzz/fuzz_model.c)
test/fuzz/fuzz_model: test/fuzz/fuzz_model.c $(CORE_SRCS) $(wildcard include/mixrec/*.h)
	$(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude $(BLAS_CFLAGS) -o $@ test/fuzz/fuzz_model.c $(CORE_SRCS) $(BLAS_LIBS) -lm

# A fixed number of runs from a fixed seed, after the inputs of past crashes
fuzz: test/fuzz/fuzz_model
	test/fuzz/fuzz_model test/fuzz/regressions/*
	corpus=$$(mktemp -d) && test/fuzz/fuzz_model -seed=1 -runs=$(FUZZ_RUNS) -max_len=4096 \
		$$corpus test/fuzz/regressions; status=$$?; rm -rf $$corpus; exit $$status

.PHONY: core-check test test-versions demo bench bench-typed bench-embed bench-partitions bench-explain fuzz citus

core-check: test/core/test_core test/core/test_core_sanitized
	test/core/test_core test/fixtures/torch_reference.txt
	test/core/test_core_sanitized test/fixtures/torch_reference.txt

# Set up everything on a fresh Debian 12 machine, then run every test
test:
	bash test/run.sh

# The build and the server-dependent tests against other PostgreSQL major
# versions, each in a Debian root of the release that ships it (needs root
# and Debian's archive; see scripts/versions.sh)
PG_VERSIONS ?= 17 18
test-versions:
	PG_VERSIONS="$(PG_VERSIONS)" bash scripts/versions.sh

demo:
	bash demo/run.sh

# Benchmarks: each prints ratios against a reference measured in the same run
bench:
	bash bench/train.sh
	bash bench/score.sh
	bash bench/parallel.sh
	bash bench/partitions.sh
	bash bench/typed.sh
	bash bench/embed.sh

bench-typed:
	bash bench/typed.sh

bench-embed:
	bash bench/embed.sh

bench-partitions:
	bash bench/partitions.sh

# BENCH_EXPLAIN_DATA: a directory with the demo's movies.csv and ratings.csv
bench-explain:
	bash bench/explain.sh $(if $(BENCH_EXPLAIN_DATA),--data $(BENCH_EXPLAIN_DATA))

# Build and install Citus from a source work tree, for test/integration/citus.sh:
# make citus CITUS_SRC=dir (see scripts/build_citus.sh)
citus:
	PG_CONFIG="$(PG_CONFIG)" bash scripts/build_citus.sh "$(CITUS_SRC)"
