-- wrk script for bench/gateway/run.sh: one GET, with a bearer token when BENCH_BEARER is set;
-- done() (bench/oauth/summary.lua) writes the summary to BENCH_OUT.
local bearer = os.getenv("BENCH_BEARER")
wrk.method = "GET"
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../oauth/summary.lua")
