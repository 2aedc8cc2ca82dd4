-- The public network page counts the jobs finished in the last ten minutes on every view (and
-- every refresh of its island): without an index on finished_at that is a scan of every job
-- ever recorded (~45 ms on PGlite at 100,000 jobs; see web/bench/dashboard_bench.ts).
create index if not exists jobs_finished on jobs (finished_at);
