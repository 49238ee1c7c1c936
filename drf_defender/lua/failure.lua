-- Confirm a reserved slot as a failure; a slot above the limit starts a block.
-- KEYS[1] failure counter, KEYS[2] block, KEYS[3] lockout history (hash c, e),
-- KEYS[4] (optional) index of blocked subjects, in the same server only.
-- ARGV[1] now (ms), ARGV[2] slot, ARGV[3] limit, ARGV[4] lockout memory (ms),
-- ARGV[5] index member, ARGV[6] display value, ARGV[7..] lockout durations (ms, 0: no expiry)
-- Returns {status, block end, lockout count}; status 0 counted, 1 blocked now,
-- 2 blocked already.
local now = tonumber(ARGV[1])
local slot = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local memory = tonumber(ARGV[4])

if slot <= limit then
  return {0, 0, 0}
end

local block = redis.call('HMGET', KEYS[2], 'u', 'n')
if block[1] then
  local ends = tonumber(block[1])
  if ends == 0 or ends > now then
    return {2, ends, tonumber(block[2]) or 0}
  end
end

local history = redis.call('HMGET', KEYS[3], 'c', 'e')
local lockouts = 0
if history[1] then
  local expires = tonumber(history[2]) or 0
  if expires == 0 or expires > now then
    lockouts = tonumber(history[1]) or 0
  end
end
lockouts = lockouts + 1
if memory > 0 then
  redis.call('HSET', KEYS[3], 'c', lockouts, 'e', now + memory)
  redis.call('PEXPIRE', KEYS[3], memory)
else
  redis.call('HSET', KEYS[3], 'c', lockouts, 'e', 0)
  redis.call('PERSIST', KEYS[3])
end

local durations = #ARGV - 6
local duration = tonumber(ARGV[6 + math.min(lockouts, durations)])
local ends = 0
if duration > 0 then
  ends = now + duration
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 's', now, 'u', ends, 'n', lockouts, 'm', 0, 'd', ARGV[6])
if duration > 0 then
  redis.call('PEXPIRE', KEYS[2], duration)
end

-- One more failure after the block ends starts the next, escalated, block.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'c', limit)
end

if KEYS[4] then
  if ends == 0 then
    redis.call('ZADD', KEYS[4], '+inf', ARGV[5])
    redis.call('PERSIST', KEYS[4])
  else
    -- The index outlives its longest block. Read before ZADD: -2 is a new index, and
    -- -1 an index that holds a block without expiry.
    local ttl = redis.call('PTTL', KEYS[4])
    redis.call('ZADD', KEYS[4], ends, ARGV[5])
    if ttl == -2 or (ttl >= 0 and ttl < duration) then
      redis.call('PEXPIRE', KEYS[4], duration)
    end
  end
end
return {1, ends, lockouts}
