-- Give back a reservation that was not followed by a failure.
-- KEYS[1] failure counter. Never lets the count go below zero.
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if count > 0 then
  redis.call('HINCRBY', KEYS[1], 'c', -1)
end
return count
