-- wrk script: booking commands, POST /ts/bookings through the gateway, each by a new
-- traveller, round-robin over a range of trains.
--
-- Arguments (after --): first train id, number of trains, a tag that keeps travellers unique
-- across runs, and optionally "sale" for the flash sale: once a thread hears "No seats left"
-- it slows to one request per connection per second, so the refusals after the sale do not
-- swamp its latencies; the harness ends the run once every booking's answer (which waits for
-- the read models, unlike a refusal) is in. done() prints one line, "wrk-result key=value
-- ...", for the harness.

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  first_train = tonumber(args[1])
  trains = tonumber(args[2])
  tag = args[3]
  sale = args[4] == "sale"
  sent = 0
  sold_out = false
  statuses = {}
end

function delay()
  if sold_out then return 1000 end
  return 0
end

function request()
  sent = sent + 1
  local train = first_train + sent % trains
  -- Many client addresses (from the benchmarking range, RFC 2544), so the gateway's
  -- per-client rate limit applies as it would to many users, not to one.
  local client = string.format("198.18.%d.%d", thread_no, sent % 250)
  local body = string.format('{"train_id":%d,"user_credentials":"%s-%d-%d"}',
    train, tag, thread_no, sent)
  return wrk.format("POST", "/ts/bookings",
    { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = client }, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if sale and status == 409 and body:find("No seats left", 1, true) then
    sold_out = true
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local e = summary.errors
  local line = string.format("wrk-result duration_us=%d requests=%d p50_us=%d p99_us=%d socket_errors=%d",
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout)
  for status, n in pairs(counts) do
    line = line .. string.format(" status_%s=%d", status, n)
  end
  io.write(line .. "\n")
end
