-- wrk script of tests/benchmarks/bench_binary.py: POSTs the body file given after `--`, with the header
-- Inference-Header-Content-Length when a length follows it (the binary tensor data extension) and no Content-Type,
-- as tritonclient sends; prints statuses, req/s and latency percentiles as one JSON line when the run ends.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  local headers = {}
  if args[2] then
    headers["Inference-Header-Content-Length"] = args[2]
  end
  prepared = wrk.format("POST", nil, headers, body)
  statuses = {}
end

function request()
  return prepared
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  io.write(string.format(
    '{"seconds": %.3f, "statuses": {%s}, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "socket_errors": %d}\n',
    summary.duration / 1e6, table.concat(parts, ", "), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
