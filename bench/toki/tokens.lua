-- wrk script: each thread sends the request tokens of its own session, in order, once each
-- (TOKI_TOKENS_DIR/<thread>.txt from `toki_bench tokens`); without TOKI_TOKENS_DIR, a plain
-- GET (the layer-off run). Requests are formatted in init(), before the timed run, so that
-- wrk's per-request Lua work is one table lookup in both runs: wrk shares the machine's
-- cores with the server, and formatting a unique 100-byte header per request would double
-- wrk's CPU and show up as "layer overhead".
local counter = 0
local tokens_dir = os.getenv("TOKI_TOKENS_DIR")
local path = os.getenv("TOKI_PATH") or "/v1/hello"

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  requests = {}
  next_request = 1
  if tokens_dir and tokens_dir ~= "" then
    for line in io.lines(tokens_dir .. "/" .. id .. ".txt") do
      requests[#requests + 1] = wrk.format("GET", path, { oscartoki = line })
    end
  else
    requests[1] = wrk.format("GET", path, {})
  end
end

function request()
  -- Running out would replay tokens (refused 401, reported as non-2xx): run.sh makes
  -- enough of them.
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end
