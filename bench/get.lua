-- wrk script for bench/compare.sh's OData questions: GETs the path (with its query) in ODATA_PATH,
-- checks every response (non-2xx; 2xx without an OData "value" or with an "error"), counts the
-- requests sent (completed ones plus those still in flight when wrk stops), and prints the same
-- parseable line as post.lua (graphql_errors counts the bad 2xx answers):
--   wrk-result: requests=N sent=M duration_s=S rps=R p50_ms=X p99_ms=Y non2xx=A graphql_errors=B socket_errors=C timeouts=D
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path = os.getenv("ODATA_PATH")
  wrk.method = "GET"
  wrk.headers["Accept"] = "application/json"
  sent = 0
  non2xx = 0
  gqlerrors = 0
end

function request()
  sent = sent + 1
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif string.sub(body, 1, 9) == '{"error":' or not string.find(body, '"value":', 1, true) then
    gqlerrors = gqlerrors + 1
  end
end

function done(summary, latency, requests)
  local t_non2xx, t_bad, t_sent = 0, 0, 0
  for _, thread in ipairs(threads) do
    t_sent = t_sent + thread:get("sent")
    t_non2xx = t_non2xx + thread:get("non2xx")
    t_bad = t_bad + thread:get("gqlerrors")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "wrk-result: requests=%d sent=%d duration_s=%.3f rps=%.2f p50_ms=%.2f p99_ms=%.2f non2xx=%d graphql_errors=%d socket_errors=%d timeouts=%d\n",
    summary.requests, t_sent, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    t_non2xx, t_bad,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end
