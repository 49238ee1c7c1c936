-- Reserve one credential check for a subject, before the password is checked.
-- KEYS[1] failure counter (hash c, e), KEYS[2] block (hash s, u, n, m, d),
-- KEYS[3] (optional) companion counter of the IP-and-username pair, in the same slot
-- ARGV[1] now (ms), ARGV[2] limit, ARGV[3] attempt window (ms, 0: no expiry)
-- Returns {status, block end, lockout count, slot, companion count}; status 0 reserved,
-- 1 blocked, 2 over the limit. A block end of 0 means the block has no expiry.
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])

local block = redis.call('HMGET', KEYS[2], 'u', 'n')
if block[1] then
  local ends = tonumber(block[1])
  if ends == 0 or ends > now then
    return {1, ends, tonumber(block[2]) or 0, 0, 0}
  end
end

local failed = redis.call('HMGET', KEYS[1], 'c', 'e')
local count = 0
if failed[1] then
  local expires = tonumber(failed[2]) or 0
  if expires == 0 or expires > now then
    count = tonumber(failed[1]) or 0
  end
end

-- LIMIT + 1 checks are already reserved: the decision is taken without another one.
if count > limit then
  return {2, 0, 0, count, 0}
end

local function bump(key, value)
  if window > 0 then
    redis.call('HSET', key, 'c', value, 'e', now + window)
    redis.call('PEXPIRE', key, window)
  else
    redis.call('HSET', key, 'c', value, 'e', 0)
    redis.call('PERSIST', key)
  end
end

count = count + 1
bump(KEYS[1], count)
local companion_count = 0
if KEYS[3] then
  local companion = redis.call('HMGET', KEYS[3], 'c', 'e')
  local previous = 0
  if companion[1] then
    local expires = tonumber(companion[2]) or 0
    if expires == 0 or expires > now then
      previous = tonumber(companion[1]) or 0
    end
  end
  companion_count = previous + 1
  bump(KEYS[3], companion_count)
end
return {0, 0, 0, count, companion_count}
