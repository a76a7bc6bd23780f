-- mixrec.threads: BLAS threads never take the backend's signals.
LOAD 'mixrec';
SHOW mixrec.threads;

-- BLAS worker threads of this backend and whether each blocks every signal
-- PostgreSQL uses: all of signals 1 to 31 but SIGKILL and SIGSTOP, which
-- cannot be blocked, so bits 0 to 30 of the mask read 7ffbfeff (the bits
-- above belong to real-time signals, two of which glibc manages itself)
CREATE TEMP VIEW blas_workers AS
SELECT tid, (('x' || right(substring(pg_read_file('/proc/self/task/' || tid || '/status')
                                     FROM 'SigBlk:\s*([0-9a-f]+)'), 8))::bit(32) & x'7fffffff')
            = x'7ffbfeff' AS blocks_all_signals
FROM pg_ls_dir('/proc/self/task') AS tid
WHERE tid::int <> pg_backend_pid();

-- With one thread (the default) the backend has no BLAS workers at all
SELECT mixrec_score(mixrec_init(64, '{256}'), array_fill(1, ARRAY[64])::real[]) > 0 AS scored;
SELECT count(*) AS workers FROM blas_workers;

-- With two, the worker blocks every signal, so cancel and timeout reach
-- the backend's own thread
SET mixrec.threads = 2;
SELECT count(*) AS workers, bool_and(blocks_all_signals) AS workers_block_all_signals FROM blas_workers;
SELECT mixrec_score(mixrec_init(64, '{256}'), array_fill(1, ARRAY[64])::real[]) > 0 AS scored;
RESET mixrec.threads;
SELECT pg_sleep(0.1);
SELECT count(*) AS workers FROM blas_workers;

SET mixrec.threads = 0;
SET mixrec.threads = 65;
SET mixrec.nonexistent = 1;
