-- wrk script for bench/scim/run.sh: GET /scim/v2/Users?filter=userName eq "userNNNNNNN" for
-- names spread over every loaded user. Requests are formatted once in init(), then cycled.
--
-- Environment:
--   BENCH_TOKEN  bearer token with the scope scim
--   BENCH_USERS  how many users were loaded (user0000001 … userNNNNNNN)
--   BENCH_OUT    optional file that done() writes a one-line JSON summary to

local token = os.getenv("BENCH_TOKEN")
local users = tonumber(os.getenv("BENCH_USERS"))
local requests = {}
local next_index = 1

function init(args)
  local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/scim+json" }
  local seed = math.random(1, 1000000)
  for i = 1, 20000 do
    local name = string.format("user%07d", (seed + i * 7919) % users + 1)
    requests[i] = wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. name .. "%22", headers)
  end
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function done(summary, latency, requests)
  local out = os.getenv("BENCH_OUT")
  if out == nil or out == "" then
    return
  end
  local e = summary.errors
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"duration_us":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
  f:close()
end
