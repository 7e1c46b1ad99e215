--!include lib.lua
-- topup: credit the main money bucket and record it in the ledger.
--
-- KEYS[1] account hash   KEYS[2] buckets hash   KEYS[3] ledger hash   KEYS[4] account re-auth set
-- KEYS[5] idempotency key (optional request id; a repeat returns the first answer)
-- ARGV[1] amount (micro-units, > 0)   ARGV[2] idempotency ttl (s)
-- Returns JSON {status: ok|unknownAccount|outOfRange, main, reauth:[sessionId…]} — the sessions to re-authorize;
-- outOfRange (not stored): the main bucket would pass LIMIT (lib.lua).

local stored = redis.call('GET', KEYS[5])
if stored then return stored end
if redis.call('HEXISTS', KEYS[1], 'id') == 0 then return cjson.encode({ status = 'unknownAccount' }) end
local amount = tonumber(ARGV[1])
local main = cjson.decode(redis.call('HGET', KEYS[2], 'main'))
local after = num(main.amount) + amount
if outOfRange(after) then return cjson.encode({ status = 'outOfRange' }) end
main.amount = fmt(after)
redis.call('HSET', KEYS[2], 'main', cjson.encode(main))
redis.call('HINCRBY', KEYS[3], 'topups', ARGV[1])
local answer = cjson.encode({ status = 'ok', main = fmt(after), reauth = redis.call('SMEMBERS', KEYS[4]) })
redis.call('SET', KEYS[5], answer, 'EX', tonumber(ARGV[2]))
return answer
