#!/usr/bin/env bash
# pg_dump keeps the registry: after a dump and a restore (custom format with
# pg_restore, plain SQL with psql), every version of every model is there
# with the same weights and the same active flag, scores by name are the
# same, and the version counters continue where they were.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

src=mixrec_it_dump_src
custom=mixrec_it_dump_custom
plain=mixrec_it_dump_plain
for db in $src $custom $plain; do
    psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db"
done
psql -X -q -d postgres -c "CREATE DATABASE $src"
q $src "CREATE EXTENSION mixrec"
q $src "CREATE TABLE items AS
        SELECT i AS id, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[] AS features,
               sin(i) + cos(2 * i) > 0 AS label,
               CASE WHEN i % 3 = 0 THEN 'commercial' ELSE 'open' END AS tier
        FROM generate_series(1, 2000) AS i"

train() {
    # train DATABASE NAME SEED: a new version, printed
    q "$1" "SET client_min_messages = warning;
            SELECT version FROM mixrec_train('$2', 'items', 'features', 'label', domain => 'tier',
                                             hidden => '{8}', epochs => 2, seed => $3)"
}

# clicks: versions 1 and 2, with 1 active (not simply the newest)
# views: versions 1 and 2, 1 active, 2 dropped, so that its counter (2) is
# ahead of its newest stored version (1)
setup="$(train $src clicks 1),$(train $src clicks 2),$(q $src "SELECT mixrec_activate('clicks', 1)")"
setup+=",$(train $src views 3),$(train $src views 4),$(q $src "SELECT mixrec_activate('views', 1)")"
setup+=",$(q $src "SELECT mixrec_drop('views', 2)")"
ok $([ "$setup" = "1,2,1,1,2,1,1" ]; echo $?) "the source has clicks 1 and 2 (1 active) and views 1 (2 dropped): $setup"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pg_dump -Fc -d $src -f "$tmp/dump.custom" 2>"$tmp/dump.err"
ok $? "pg_dump -Fc succeeds"
pg_dump -Fp -d $src -f "$tmp/dump.sql" 2>>"$tmp/dump.err"
ok $? "pg_dump in plain SQL succeeds"
ok $(grep -q 'COPY public.mixrec_models ' "$tmp/dump.sql" && grep -q 'COPY public.mixrec_model_counters ' "$tmp/dump.sql"; echo $?) \
    "the dump carries the rows of mixrec_models and mixrec_model_counters"

psql -X -q -d postgres -c "CREATE DATABASE $custom" -c "CREATE DATABASE $plain"
pg_restore --exit-on-error -d $custom "$tmp/dump.custom" >"$tmp/restore.log" 2>&1
ok $? "pg_restore restores the custom dump without errors"
psql -X -q -v ON_ERROR_STOP=1 -d $plain -f "$tmp/dump.sql" >>"$tmp/restore.log" 2>&1
ok $? "psql restores the plain dump without errors"
grep -E 'ERROR|error' "$tmp/restore.log" | head -n 5 | while read -r line; do diag "$line"; done

# What must survive, each as one value per database
checks=(
    "(name, version, active) rows|SELECT string_agg(format('%s:%s:%s', name, version, active), ' ' ORDER BY name, version) FROM mixrec_models"
    "weights, by md5 per version|SELECT string_agg(format('%s:%s:%s', name, version, md5(weights)), ' ' ORDER BY name, version) FROM mixrec_models"
    "whole registry rows (created_at, trained_by, source, config, metrics)|SELECT md5(string_agg(m::text, E'\\n' ORDER BY name, version)) FROM mixrec_models AS m"
    "version counters|SELECT string_agg(format('%s:%s', name, last_version), ' ' ORDER BY name) FROM mixrec_model_counters"
    "mixrec_model_versions|SELECT md5(string_agg(v::text, E'\\n' ORDER BY name, version)) FROM mixrec_model_versions AS v"
    "scores by name with the active versions|SELECT string_agg(format('%s,%s', mixrec_score('clicks', features), mixrec_score('views', features)), ' ' ORDER BY id) FROM items WHERE id % 20 = 0"
    "scores of every version by number|SELECT string_agg(format('%s,%s,%s', mixrec_score('clicks', features, version => 1), mixrec_score('clicks', features, version => 2), mixrec_score('views', features, 'open', version => 1)), ' ' ORDER BY id) FROM items WHERE id % 20 = 0"
    "training report of the active version|SELECT string_agg(format('%s:%s:%s', epoch, train_loss, validation_auc_blend), ' ' ORDER BY epoch) FROM mixrec_training_info('clicks')"
)
for check in "${checks[@]}"; do
    what=${check%%|*}
    sql=${check#*|}
    expected=$(q $src "$sql" 2>&1)
    for db in $custom $plain; do
        got=$(q $db "$sql" 2>&1)
        ok $([ -n "$expected" ] && [ "$got" = "$expected" ]; echo $?) "$what: the same after restoring into $db"
        if [ "$got" != "$expected" ]; then
            diag "expected: ${expected:0:200}"
            diag "got:      ${got:0:200}"
        fi
    done
done
diag "registry: $(q $src "SELECT string_agg(format('%s:%s:%s', name, version, active), ' ' ORDER BY name, version) FROM mixrec_models")"

# The scores above are not all alike: the versions differ
ok $([ "$(q $src "SELECT count(*) FROM items WHERE mixrec_score('clicks', features, version => 1)
                                               <> mixrec_score('clicks', features, version => 2)")" = 2000 ]; echo $?) \
    "clicks versions 1 and 2 score every row differently"

# Training continues the numbering: clicks gets 3 after its 1 and 2, views
# gets 3 after its counter's 2 (a lost counter would give it 2 again)
for db in $custom $plain; do
    next="$(train $db clicks 5),$(train $db views 6)"
    ok $([ "$next" = "3,3" ]; echo $?) "in $db, the next trainings get clicks 3 and views 3 ($next)"
    ok $([ "$(q $db "SELECT string_agg(format('%s:%s', name, version), ' ' ORDER BY name) FROM mixrec_models WHERE active")" = "clicks:3 views:3" ]; echo $?) \
        "in $db, the new versions are the active ones"
done

for db in $src $custom $plain; do
    psql -X -q -d postgres -c "DROP DATABASE $db"
done
done_testing
