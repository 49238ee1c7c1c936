-- Everything that a login's begin() sends to a single Redis server, in one script call:
-- give back waiting releases, reserve a check on each subject, read the version of the
-- run-time lists and append waiting access-log entries. Only for servers without
-- cluster mode, where one script may touch keys of any slot.
--
-- The loader puts the release and reserve scripts before this text as the functions
-- release_script(KEYS, ARGV) and reserve_script(KEYS, ARGV).
--
-- KEYS: the lists version key, the attempt stream key, then the keys of each release
-- and of each reservation, in order.
-- ARGV starts with the number of releases, reservations and entries, and the stream's
-- MAXLEN. The key count of each release follows. Each reservation then adds its key
-- count, now (ms), limit and attempt window (ms). Each entry comes last, as a JSON
-- object of strings.
-- Returns {version or false, reply of each reservation...}.
local releases = tonumber(ARGV[1])
local reservations = tonumber(ARGV[2])
local entries = tonumber(ARGV[3])
local maxlen = ARGV[4]
local key_at = 3
local arg_at = 5

local function take_keys(count)
  local keys = {}
  for i = 1, count do
    keys[i] = KEYS[key_at]
    key_at = key_at + 1
  end
  return keys
end

for _ = 1, releases do
  local count = tonumber(ARGV[arg_at])
  arg_at = arg_at + 1
  release_script(take_keys(count), {})
end

local replies = {}
for i = 1, reservations do
  local count = tonumber(ARGV[arg_at])
  local args = {ARGV[arg_at + 1], ARGV[arg_at + 2], ARGV[arg_at + 3]}
  arg_at = arg_at + 4
  replies[i] = reserve_script(take_keys(count), args)
end

for _ = 1, entries do
  local fields = {}
  for name, value in pairs(cjson.decode(ARGV[arg_at])) do
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
  arg_at = arg_at + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', unpack(fields))
end

local result = {redis.call('GET', KEYS[1])}
for i = 1, reservations do
  result[i + 1] = replies[i]
end
return result
