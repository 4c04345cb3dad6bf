-- wrk script for bench/oauth/run.sh: one fixed form POST with HTTP Basic client authentication.
--
-- Environment:
--   BENCH_BODY  application/x-www-form-urlencoded body (already encoded)
--   BENCH_AUTH  base64 of "client_id:client_secret"
--   BENCH_OUT   optional file that done() writes a one-line JSON summary to
--   BENCH_PROOFS, BENCH_PROOFS_WARMUP   optional files of DPoP proofs, one per line (made by
--               dpop_proofs.mjs): each request then carries the next unused proof in a DPoP
--               header (the warm-up, which has no BENCH_OUT, reads the second file). Thread i
--               of BENCH_THREADS_N takes every n-th line, so no proof is sent twice; once a
--               thread has used all of its proofs, the hub refuses its requests (non-2xx).
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

if os.getenv("BENCH_PROOFS") then
  local next_id = 0
  function setup(thread)
    thread:set("thread_id", next_id)
    next_id = next_id + 1
  end

  function init(args)
    local warm = (os.getenv("BENCH_OUT") or "") == ""
    local path = os.getenv(warm and "BENCH_PROOFS_WARMUP" or "BENCH_PROOFS")
    local threads = tonumber(os.getenv("BENCH_THREADS_N") or "1")
    proofs, used = {}, 0
    local line_no = 0
    for line in io.lines(path) do
      if line_no % threads == thread_id then
        proofs[#proofs + 1] = line
      end
      line_no = line_no + 1
    end
    headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
  end

  function request()
    used = used + 1
    headers["DPoP"] = proofs[used] or "exhausted"
    return wrk.format(nil, nil, headers, body)
  end
end

-- The shared done() (summary.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
