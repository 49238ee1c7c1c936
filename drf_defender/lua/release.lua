-- Give back a reservation that was not followed by a failure.
-- KEYS[1] failure counter, KEYS[2] (optional) companion counter of the IP-and-username
-- pair, in the same slot. With a companion, the IP counter goes down only while the
-- companion still contains the reservation, because a concurrent success of the same
-- pair may have taken it off both counters already. A counter that reaches zero is
-- deleted, so that a client that only ever succeeds leaves no keys behind.
local function take_one(key, count)
  if count > 1 then
    redis.call('HINCRBY', key, 'c', -1)
  else
    redis.call('DEL', key)
  end
end

if KEYS[2] then
  local companion = tonumber(redis.call('HGET', KEYS[2], 'c') or '0')
  if companion <= 0 then
    return 0
  end
  take_one(KEYS[2], companion)
end
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if count > 0 then
  take_one(KEYS[1], count)
end
return count
