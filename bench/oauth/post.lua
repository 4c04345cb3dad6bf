-- wrk script for bench/oauth/run.sh: one fixed form POST with HTTP Basic client authentication.
--
-- Environment:
--   BENCH_BODY  application/x-www-form-urlencoded body (already encoded)
--   BENCH_AUTH  base64 of "client_id:client_secret"
--   BENCH_OUT   optional file that done() writes a one-line JSON summary to
--
-- No response() callback: it would make wrk hand every response to Lua and slow the client down.
-- wrk's summary.errors.status counts responses outside 2xx/3xx; neither server answers 3xx on
-- these endpoints, so it is the non-2xx count.

local body = os.getenv("BENCH_BODY") or ""
local auth = os.getenv("BENCH_AUTH") or ""

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. auth
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local out = os.getenv("BENCH_OUT")
  if out == nil or out == "" then
    return
  end
  local e = summary.errors
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
  f:close()
end
