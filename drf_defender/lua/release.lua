-- Give back a reservation that was not followed by a failure.
-- KEYS[1] failure counter, KEYS[2] (optional) companion counter of the IP-and-username
-- pair, in the same slot. With a companion, the IP counter goes down only while the
-- companion still contains the reservation, because a concurrent success of the same
-- pair may have taken it off both counters already. Never lets a count go below zero.
if KEYS[2] then
  local companion = tonumber(redis.call('HGET', KEYS[2], 'c') or '0')
  if companion <= 0 then
    return 0
  end
  redis.call('HINCRBY', KEYS[2], 'c', -1)
end
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if count > 0 then
  redis.call('HINCRBY', KEYS[1], 'c', -1)
end
return count
