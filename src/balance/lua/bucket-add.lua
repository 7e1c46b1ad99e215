--!include lib.lua
-- bucket-add: add a balance bucket (money or units) to an account; money counts in the ledger as an adjustment.
--
-- KEYS[1] account hash   KEYS[2] buckets hash   KEYS[3] ledger hash
-- ARGV[1] bucket JSON {id, kind, amount (string), scope, priority, from, to}
-- Returns 1 on success, 0 when the account is unknown, -1 when the bucket id exists.

if redis.call('HEXISTS', KEYS[1], 'id') == 0 then return 0 end
local b = cjson.decode(ARGV[1])
if redis.call('HSETNX', KEYS[2], b.id, ARGV[1]) == 0 then return -1 end
if b.kind == 'money' then redis.call('HINCRBY', KEYS[3], 'adjustments', b.amount) end
return 1
