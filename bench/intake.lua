-- wrk script: every request a distinct customer submission (its own address and
-- idempotency key), as a burst of real reports would be. Counts answers by status.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  -- Distinct keys on every run against the same data directory.
  math.randomseed(os.time() * 100 + id)
  run = math.random(1, 1e9)
end

function request()
  counter = counter + 1
  local key = string.format("bench-%d-%d-%d", run, id, counter)
  local body = string.format([[{"company":"Grupo Norte","contact_name":"Luis Gómez","email":"c%d-%d-%d@norte.mx","phone":"81 1234 5678","support_type":"falla_servicio","description":"Los checadores de la planta no registran entradas desde la mañana; el personal no puede checar.","idempotency_key":"%s"}]], run, id, counter, key)
  return wrk.format("POST", "/tickets", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("JSON {\"requests\":%d,\"created\":%d,\"other\":%d,\"seconds\":%.3f,\"per_second\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"errors\":%d}\n",
    summary.requests, c, o, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
