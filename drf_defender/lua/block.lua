-- Block a subject by hand.
-- KEYS[1] block, KEYS[2] lockout history, KEYS[3] (optional) index of blocked subjects.
-- ARGV[1] now (ms), ARGV[2] duration (ms, 0: until unblocked), ARGV[3] index member,
-- ARGV[4] display value. Returns the lockout count kept in the history.
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local lockouts = tonumber(redis.call('HGET', KEYS[2], 'c') or '0')
local ends = 0
if duration > 0 then
  ends = now + duration
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', now, 'u', ends, 'n', lockouts, 'm', 1, 'd', ARGV[4])
if duration > 0 then
  redis.call('PEXPIRE', KEYS[1], duration)
end
if KEYS[3] then
  if ends == 0 then
    redis.call('ZADD', KEYS[3], '+inf', ARGV[3])
    redis.call('PERSIST', KEYS[3])
  else
    -- The index outlives its longest block. Read before ZADD: -2 is a new index, and
    -- -1 an index that holds a block without expiry.
    local ttl = redis.call('PTTL', KEYS[3])
    redis.call('ZADD', KEYS[3], ends, ARGV[3])
    if ttl == -2 or (ttl >= 0 and ttl < duration) then
      redis.call('PEXPIRE', KEYS[3], duration)
    end
  end
end
return lockouts
