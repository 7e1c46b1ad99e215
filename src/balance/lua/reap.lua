--!include lib.lua
-- reap: close a session whose reservations lapsed (validity + grace passed without a report):
-- release what it holds and write the CDR of what was reported. Re-checks the deadline inside the
-- script, so two reapers racing on the same member release it once. The index (KEYS[7]) may say
-- earlier than the session's deadline (session hash field dl): then the member is moved, not reaped.
--
-- KEYS[1] account hash   KEYS[2] buckets hash   KEYS[3] ledger hash   KEYS[4] session hash
-- KEYS[5] account sessions set   KEYS[6] account re-auth set   KEYS[7] shard expiry zset
-- KEYS[8] shard outbox stream   KEYS[9] shard stats hash
-- ARGV[1] expiry member "accountId|sessionId"   ARGV[2] now (ms)   ARGV[3] node id
-- Returns 1 when this call reaped the session, 0 when there was nothing (left) to do.

local score = redis.call('ZSCORE', KEYS[7], ARGV[1])
local now = tonumber(ARGV[2])
if not score or tonumber(score) > now then return 0 end
-- An update moves the session's deadline (field dl) without touching this index: the index only
-- says when to look. A session reported on since is put back at its real deadline.
local dl = tonumber(redis.call('HGET', KEYS[4], 'dl') or '')
if dl and dl > now then
  redis.call('ZADD', KEYS[7], dl, ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[7], ARGV[1])
local all = redis.call('HGETALL', KEYS[4])
if #all == 0 then return 0 end
local sess = nil
local rgs = {}
for i = 1, #all, 2 do
  if all[i] == 'm' then sess = cjson.decode(all[i + 1])
  elseif string.sub(all[i], 1, 2) == 'r:' then
    local k = string.sub(all[i], 3)
    rgs[k] = decodeRg(all[i + 1], k)
  end
end
if sess == nil then
  redis.call('DEL', KEYS[4])
  return 0
end
sess.rgs = rgs
-- The member is "accountId|sessionId" (account ids hold no '|'); the stored meta leaves both out.
local bar = string.find(ARGV[1], '|', 1, true)
sess.acct = string.sub(ARGV[1], 1, bar - 1)
sess.id = string.sub(ARGV[1], bar + 1)
local acct = hgetall(KEYS[1])
local bk = loadBuckets(KEYS[2])
local released = 0
for _, rg in pairs(sess.rgs) do released = released + releaseReservation(bk, rg) end
writeCdrs(KEYS[8], sess, acct, now, ARGV[3], 'reaped')
saveBuckets(KEYS[2], bk)
flushGranted(KEYS[9])
if released ~= 0 then
  redis.call('HINCRBY', KEYS[1], 'reserved', fmt(-released))
  redis.call('HINCRBY', KEYS[9], 'reserved', fmt(-released))
end
redis.call('HINCRBY', KEYS[9], 'sessions:' .. (sess.proto or '-'), -1)
redis.call('DEL', KEYS[4])
redis.call('SREM', KEYS[5], sess.id)
redis.call('SREM', KEYS[6], sess.id)
return 1
