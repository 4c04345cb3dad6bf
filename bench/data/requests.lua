-- wrk script for bench/data/run.sh. Requests are formatted once in init(), then cycled, so the
-- load tool spends its CPU on sending, not on Lua string work.
--
-- Environment:
--   BENCH_MODE   get | filter | create | list | expand1 | expandN | search | apply | batch
--   BENCH_TOKEN  bearer token
--   BENCH_IDS    file of ids (modes get, batch)
--   BENCH_ORG_IDS file of organization ids (mode expandN)
--   BENCH_OUT    optional file that done() writes a one-line JSON summary to
--   BENCH_BASE   the service root's path [/api] (bench/data/cap/run.sh points it at CAP's)

local mode = os.getenv("BENCH_MODE")
local token = os.getenv("BENCH_TOKEN")
local base = os.getenv("BENCH_BASE") or "/api"
local requests = {}
local next_index = 1

function init(args)
  local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
  local seed = math.random(1, 1000000)
  local function lines(path)
    local out = {}
    for line in io.lines(path) do
      out[#out + 1] = line
    end
    return out
  end
  if mode == "get" then
    local ids = lines(os.getenv("BENCH_IDS"))
    for i = 1, 20000 do
      local id = ids[(seed + i * 7919) % #ids + 1]
      requests[i] = wrk.format("GET", base .. "/Contact(" .. id .. ")", headers)
    end
  elseif mode == "list" or mode == "expand1" then
    -- 100 lastNames of 10 rows each: 1,000 contacts through the index.
    local expand = mode == "expand1" and "&$expand=organization" or ""
    for i = 1, 2000 do
      local from = (seed + i * 7919) % 99900
      requests[i] = wrk.format("GET", string.format(
        "/api/Contact?$filter=lastName%%20ge%%20'L%06d'%%20and%%20lastName%%20lt%%20'L%06d'%s",
        from, from + 100, expand), headers)
    end
  elseif mode == "expandN" then
    local ids = lines(os.getenv("BENCH_ORG_IDS"))
    for i = 1, 5000 do
      local id = ids[(seed + i * 7919) % #ids + 1]
      requests[i] = wrk.format("GET", "/api/Organization(" .. id .. ")?$expand=contacts", headers)
    end
  elseif mode == "search" then
    for i = 1, 20000 do
      requests[i] = wrk.format("GET", string.format("/api/Contact?$search=L%06d", (seed + i * 7919) % 100000), headers)
    end
  elseif mode == "apply" then
    requests[1] = wrk.format("GET",
      "/api/Contact?$apply=groupby((city),aggregate($count%20as%20n,score%20with%20average%20as%20mean))", headers)
  elseif mode == "batch" then
    local ids = lines(os.getenv("BENCH_IDS"))
    headers["Content-Type"] = "application/json"
    for i = 1, 2000 do
      local parts = {}
      for j = 1, 20 do
        local id = ids[(seed + (i * 20 + j) * 7919) % #ids + 1]
        parts[j] = string.format('{"id":"%d","method":"GET","url":"Contact(%s)"}', j, id)
      end
      requests[i] = wrk.format("POST", "/api/$batch", headers, '{"requests":[' .. table.concat(parts, ",") .. ']}')
    end
  elseif mode == "filter" then
    for i = 1, 20000 do
      local name = string.format("L%06d", (seed + i * 7919) % 100000)
      requests[i] = wrk.format("GET", base .. "/Contact?$filter=lastName%20eq%20'" .. name .. "'", headers)
    end
  else
    headers["Content-Type"] = "application/json"
    for i = 1, 2000 do
      local body = string.format(
        '{"firstName":"New%d","lastName":"N%06d","email":"new%d@example.com","city":"Delft","score":%d}',
        i, (seed + i) % 1000000, i, i % 101)
      requests[i] = wrk.format("POST", "/api/Contact", headers, body)
    end
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
