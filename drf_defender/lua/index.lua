-- Add a blocked subject to the index of its scope and kind, on a Redis Cluster where the
-- index may live in another slot than the subject's keys.
-- KEYS[1] index. ARGV[1] block end (ms, 0: no expiry), ARGV[2] member,
-- ARGV[3] block duration (ms).
local ends = tonumber(ARGV[1])
local duration = tonumber(ARGV[3])
if ends == 0 then
  redis.call('ZADD', KEYS[1], '+inf', ARGV[2])
  redis.call('PERSIST', KEYS[1])
  return 1
end
-- The index outlives its longest block. Read before ZADD: -2 is a new index, and -1 an
-- index that holds a block without expiry.
local ttl = redis.call('PTTL', KEYS[1])
redis.call('ZADD', KEYS[1], ends, ARGV[2])
if ttl == -2 or (ttl >= 0 and ttl < duration) then
  redis.call('PEXPIRE', KEYS[1], duration)
end
return 1
