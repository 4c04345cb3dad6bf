-- wrk script for bench/oauth/refresh.sh: refresh-token grants, each with a live refresh token.
--
-- Refresh tokens rotate (RFC 9700 §4.14): each is good once, and its answer carries the next.
-- Thread i of BENCH_THREADS_N takes every n-th line of BENCH_TOKENS (the warm-up, which has no
-- BENCH_OUT, reads BENCH_TOKENS_WARMUP) into a pool; request() takes a token from the pool and
-- response() puts the answer's new token back, so every request uses a token once. The pool
-- must hold more tokens than the thread has connections. An answer without a token shrinks
-- the pool; once empty, requests carry "exhausted" and are refused (non-2xx).
--
-- Environment: BENCH_AUTH (base64 of "client_id:client_secret"), BENCH_TOKENS,
-- BENCH_TOKENS_WARMUP, BENCH_THREADS_N, BENCH_OUT (optional JSON summary, as post.lua writes).

local auth = os.getenv("BENCH_AUTH") or ""

local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local warm = (os.getenv("BENCH_OUT") or "") == ""
  local path = os.getenv(warm and "BENCH_TOKENS_WARMUP" or "BENCH_TOKENS")
  local threads = tonumber(os.getenv("BENCH_THREADS_N") or "1")
  pool = {}
  local line_no = 0
  for line in io.lines(path) do
    if line_no % threads == thread_id then
      pool[#pool + 1] = line
    end
    line_no = line_no + 1
  end
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. auth,
    ["Accept"] = "application/json",
  }
end

function request()
  local token = table.remove(pool) or "exhausted"
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = string.match(body, '"refresh_token":"([^"]+)"')
  if token then
    pool[#pool + 1] = token
  end
end

-- The shared done() (summary.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
