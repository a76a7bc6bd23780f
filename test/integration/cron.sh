#!/usr/bin/env bash
# Scheduled retraining with the real pg_cron: a job runs mixrec_train and a
# new version becomes active.  The cluster preloads pg_cron with
# cron.database_name = 'postgres' and cron.use_background_workers = on.
set -uo pipefail
cd "$(dirname "$0")"
. ./tap.sh

db=postgres
q $db "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION IF NOT EXISTS mixrec"
q $db "DROP TABLE IF EXISTS cron_clicks;
       CREATE TABLE cron_clicks AS
       SELECT ARRAY[sin(i), cos(i), i % 7]::real[] AS features, sin(i) > 0 AS label
       FROM generate_series(1, 2000) AS i"
q $db "DELETE FROM mixrec_models WHERE name = 'cron_model'"

job=$(q $db "SELECT cron.schedule('mixrec-retrain', '* * * * *',
              \$\$SELECT mixrec_train('cron_model', 'cron_clicks', 'features', 'label', epochs => 2)\$\$)")
ok $([ -n "$job" ]; echo $?) "pg_cron accepts a mixrec_train job (job $job)"

# Jobs run at the start of a minute: wait up to 90 seconds
version=""
for _ in $(seq 1 90); do
    version=$(q $db "SELECT version FROM mixrec_models WHERE name = 'cron_model' AND active")
    [ -n "$version" ] && break
    sleep 1
done
ok $([ -n "$version" ]; echo $?) "pg_cron ran the job and a new version is active (version ${version:-none})"
status=$(q $db "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY start_time DESC LIMIT 1")
ok $([ "$status" = succeeded ] || [ "$status" = running ]; echo $?) "the job's run is recorded as ${status:-missing}"
trained_by=$(q $db "SELECT trained_by FROM mixrec_models WHERE name = 'cron_model' AND active")
ok $([ "$trained_by" = postgres ]; echo $?) "the job trained as the role that scheduled it (${trained_by:-none})"

q $db "SELECT cron.unschedule($job)" >/dev/null
q $db "DROP TABLE cron_clicks; DELETE FROM mixrec_models WHERE name = 'cron_model'"
done_testing
