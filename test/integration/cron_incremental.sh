#!/usr/bin/env bash
# Scheduled incremental retraining with the real pg_cron: a job runs
# mixrec_train(..., since => 'id'); a run after new rows stores a version
# trained on them alone with a higher watermark, a run without new rows
# stores nothing and succeeds.  The cluster preloads pg_cron with
# cron.database_name = 'postgres' and cron.use_background_workers = on.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=postgres
train="SELECT mixrec_train('cron_inc', 'cron_inc_clicks', 'features', 'label', epochs => 2, since => 'id')"
q $db "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION IF NOT EXISTS mixrec"
q $db "SET client_min_messages = warning; DROP TABLE IF EXISTS cron_inc_clicks;
       CREATE TABLE cron_inc_clicks AS
       SELECT i AS id, ARRAY[sin(i), cos(i), i % 7]::real[] AS features, sin(i) > 0 AS label
       FROM generate_series(1, 2000) AS i"
# Versions are numbered from 1 again once the name's counter is gone
q $db "DELETE FROM mixrec_models WHERE name = 'cron_inc'; DELETE FROM mixrec_model_counters WHERE name = 'cron_inc'"

# The first run, by hand: every row, watermark 2000
q $db "SET client_min_messages = warning; $train" >/dev/null
first=$(q $db "SELECT (metrics->>'rows') || ' ' || watermark FROM mixrec_models JOIN mixrec_model_versions USING (name, version)
               WHERE name = 'cron_inc' AND version = 1")
ok $([ "$first" = "2000 2000" ]; echo $?) "the first run read every row and stored watermark 2000 (${first:-none})"

# New rows, then the job
q $db "INSERT INTO cron_inc_clicks
       SELECT i, ARRAY[sin(i), cos(i), i % 7]::real[], sin(i) > 0 FROM generate_series(2001, 2150) AS i"
job=$(q $db "SELECT cron.schedule('mixrec-incremental', '* * * * *', \$\$$train\$\$)")
ok $([ -n "$job" ]; echo $?) "pg_cron accepts an incremental mixrec_train job (job $job)"

# Jobs run at the start of a minute: wait up to 90 seconds
version=""
for _ in $(seq 1 90); do
    version=$(q $db "SELECT version FROM mixrec_models WHERE name = 'cron_inc' AND active AND version > 1")
    [ -n "$version" ] && break
    sleep 1
done
ok $([ "$version" = 2 ]; echo $?) "the job stored version 2 (${version:-none})"
second=$(q $db "SELECT (metrics->>'rows') || ' ' || watermark || ' ' || (metrics->'since'->>'previous_watermark')
                FROM mixrec_models JOIN mixrec_model_versions USING (name, version)
                WHERE name = 'cron_inc' AND version = 2")
ok $([ "$second" = "150 2150 2000" ]; echo $?) "it read the 150 new rows only, and the watermark went from 2000 to 2150 (${second:-none})"
epochs=$(q $db "SELECT count(*) FROM mixrec_training_info('cron_inc')")
ok $([ "$epochs" = 2 ]; echo $?) "mixrec_training_info shows the job's 2 epochs (${epochs:-none})"
steps=$(q $db "SELECT (mixrec_info(weights)->'optimizer'->>'step')::int > (SELECT (mixrec_info(weights)->'optimizer'->>'step')::int
                                                                          FROM mixrec_models WHERE name = 'cron_inc' AND version = 1)
               FROM mixrec_models WHERE name = 'cron_inc' AND version = 2")
ok $([ "$steps" = t ]; echo $?) "version 2 continued version 1's Adam steps"

# Wait for the run after it (no new rows) to finish: up to 90 seconds more.
# The runs are told apart by their order (runid), not by comparing their
# start_time with the version's created_at: pg_cron's launcher records a
# run's start_time, which can come after the run's own transaction began
# (the training run then passed for the run after it, once on 18.6)
for _ in $(seq 1 90); do
    now=$(q $db "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND end_time IS NOT NULL")
    [ "$now" -ge 2 ] && break
    sleep 1
done
last=$(q $db "SELECT status || ' ' || return_message FROM cron.job_run_details WHERE jobid = $job
              ORDER BY runid OFFSET 1 LIMIT 1")
ok $([ "$last" = "succeeded SELECT 0" ]; echo $?) "the run without new rows succeeded and returned no row (${last:-missing})"
first_run=$(q $db "SELECT status || ' ' || return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")
ok $([ "$first_run" = "succeeded SELECT 1" ]; echo $?) "the run that trained succeeded and returned one row (${first_run:-missing})"
versions=$(q $db "SELECT count(*) || ' ' || max(version) FROM mixrec_models WHERE name = 'cron_inc'")
ok $([ "$versions" = "2 2" ]; echo $?) "and stored no new version (${versions})"

q $db "SELECT cron.unschedule($job)" >/dev/null
q $db "DROP TABLE cron_inc_clicks; SELECT mixrec_drop('cron_inc')" >/dev/null
done_testing
