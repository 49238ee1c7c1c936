-- wrk script: POST /login/ with the requests of one benchmark workload.
-- Request i logs in as user (i mod USERS) from client address i of 198.18.0.0/15,
-- sent in X-Forwarded-For as the one trusted proxy would; run wrk with one thread so
-- that i counts every request. Parameters come from the environment:
-- BENCH_WORKLOAD (success, mixed, failure, blocked), BENCH_FIRST, BENCH_USERS,
-- BENCH_ATTACKER_IP, BENCH_PASSWORD, BENCH_WRONG_PASSWORD.
local workload = os.getenv("BENCH_WORKLOAD")
local first = tonumber(os.getenv("BENCH_FIRST"))
local users = tonumber(os.getenv("BENCH_USERS"))
local attacker = os.getenv("BENCH_ATTACKER_IP")
local password = os.getenv("BENCH_PASSWORD")
local wrong = os.getenv("BENCH_WRONG_PASSWORD")
local clients = 131070
local counter = 0

local function client_ip(i)
  local n = i % clients
  return string.format("198.%d.%d.%d", 18 + math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
end

local function succeeds(i)
  if workload == "success" then return true end
  if workload == "mixed" then return i % 10 < 7 end
  return false
end

request = function()
  local i = first + counter
  counter = counter + 1
  local secret = succeeds(i) and password or wrong
  local ip = (workload == "blocked") and attacker or client_ip(i)
  local body = string.format('{"username":"user%06d","password":"%s"}', i % users, secret)
  local headers = {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}
  return wrk.format("POST", "/login/", headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
