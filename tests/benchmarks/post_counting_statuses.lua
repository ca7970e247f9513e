-- wrk script of the benchmarks (bench_overload.py, bench_binary.py): POSTs the body file given after `--` with the
-- headers that follow it ("Name: value" each), counts answers by HTTP status and prints them with the latency
-- percentiles of every answer as one JSON line when the run ends.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  local headers = {}
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
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
