-- Take one username's failures from this IP off the IP counter after that username
-- logged in, and delete the pair's companion counter.
-- KEYS[1] IP failure counter, KEYS[2] companion counter of the pair (same slot).
-- ARGV[1] now (ms). The pair's count includes this request's own reservation and those
-- of the pair's requests still in flight. A concurrent success of the pair that ran
-- first has taken all of them off and deleted the companion. So a missing companion
-- leaves nothing to take off, and taking one off anyway would erase another username's
-- failure from the IP counter.
local now = tonumber(ARGV[1])
local companion = redis.call('HMGET', KEYS[2], 'c', 'e')
local own = 0
if companion[1] then
  local expires = tonumber(companion[2]) or 0
  if expires == 0 or expires > now then
    own = tonumber(companion[1]) or 0
  end
end
redis.call('DEL', KEYS[2])
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if count > 0 and own > 0 then
  local left = count - own
  if left < 0 then
    left = 0
  end
  redis.call('HSET', KEYS[1], 'c', left)
end
return count
