-- wrk script for scripts/faults.sh soak: rotates through request bodies (one JSON body a line in
-- the file named by the BODIES environment variable), and counts per thread the non-2xx responses
-- and the 2xx responses whose body carries GraphQL "errors" (every body is checked). The first
-- few failing bodies are appended to $BODIES.failures. Prints one line `soak-lua: ...` at the end.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(os.getenv("BODIES")) do
    if #line > 0 then table.insert(bodies, line) end
  end
  n = id % #bodies
  non2xx = 0
  gqlerrors = 0
  nodata = 0
  checked = 0
  logged = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/graphql-response+json"
end

function request()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end

function response(status, headers, body)
  checked = checked + 1
  local bad = false
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    bad = true
  elseif string.find(body, '"errors"', 1, true) then
    gqlerrors = gqlerrors + 1
    bad = true
  elseif not string.find(body, '{"data":{', 1, true) then
    nodata = nodata + 1
    bad = true
  end
  if bad and logged < 5 then
    logged = logged + 1
    local f = io.open(os.getenv("BODIES") .. ".failures", "a")
    if f then
      f:write(status, " ", string.sub(body, 1, 400), "\n")
      f:close()
    end
  end
end

function done(summary, latency, requests)
  local t_non2xx, t_gql, t_nodata, t_checked = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    t_non2xx = t_non2xx + thread:get("non2xx")
    t_gql = t_gql + thread:get("gqlerrors")
    t_nodata = t_nodata + thread:get("nodata")
    t_checked = t_checked + thread:get("checked")
  end
  io.write(string.format(
    "soak-lua: requests=%d checked=%d non2xx=%d graphql_errors=%d no_data=%d socket_errors=%d timeouts=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    summary.requests, t_checked, t_non2xx, t_gql, t_nodata,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
