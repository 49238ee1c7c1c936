-- Give back reservations that were not followed by a failure, for one or more subjects.
-- KEYS contains one group of keys per subject. A group is the subject's failure counter,
-- then optionally the companion counter of the IP-and-username pair, in the same slot.
-- ARGV[i] is the number of keys (1 or 2) of group i. Without ARGV, all KEYS form one group.
-- With a companion, the IP counter goes down only while the companion still contains
-- the reservation, because a concurrent success of the same pair may have taken it off
-- both counters already. A counter that reaches zero is deleted, so that a client that
-- only ever succeeds leaves no keys behind.
-- Returns the count found in the last group's failure counter before the release.
local function take_one(key, count)
  if count > 1 then
    redis.call('HINCRBY', key, 'c', -1)
  else
    redis.call('DEL', key)
  end
end

local function release(failed, companion)
  if companion then
    local companion_count = tonumber(redis.call('HGET', companion, 'c') or '0')
    if companion_count <= 0 then
      return 0
    end
    take_one(companion, companion_count)
  end
  local count = tonumber(redis.call('HGET', failed, 'c') or '0')
  if count > 0 then
    take_one(failed, count)
  end
  return count
end

if #ARGV == 0 then
  return release(KEYS[1], KEYS[2])
end
local result = 0
local position = 1
for group = 1, #ARGV do
  local size = tonumber(ARGV[group])
  local companion = nil
  if size > 1 then
    companion = KEYS[position + 1]
  end
  result = release(KEYS[position], companion)
  position = position + size
end
return result
