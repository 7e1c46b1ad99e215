--!include lib.lua
-- cycle-renew: start an account's billing cycle once: charge the plan's recurring fees (each with
-- its CDR in the outbox, like any debit), grant the cycle's allowances as unit buckets valid for
-- the cycle, drop allowance buckets of long-gone cycles, and schedule the next renewal.
--
-- KEYS[1] account hash   KEYS[2] buckets hash   KEYS[3] ledger hash   KEYS[4] shard outbox stream
-- KEYS[5] shard cycle zset (accountId scored by its next renewal time)   KEYS[6] account re-auth set
-- ARGV[1] JSON {accountId, plan, pv, cycle, start, end, now, node, retryAt,
--               fees:[{name, gross, tax}], bundles:[{name, kind, amount, scope, priority}]}
-- Returns JSON {status: renewed|current|insufficient|unknownAccount|stalePlan, charged, reauth:[sessionId…]}
-- `insufficient`: the balance cannot pay the fees; nothing changes, the renewal is retried at
-- retryAt (and after a top-up): no allowance without its fee.

local req = cjson.decode(ARGV[1])
local now = num(req.now)
local af = redis.call('HMGET', KEYS[1], 'id', 'plan', 'creditLimit', 'currency', 'cycle')
if not af[1] then
  redis.call('ZREM', KEYS[5], req.accountId)
  return cjson.encode({ status = 'unknownAccount' })
end
if af[2] ~= req.plan then return cjson.encode({ status = 'stalePlan' }) end
if af[5] == req.cycle then
  redis.call('ZADD', KEYS[5], num(req['end']), req.accountId)
  return cjson.encode({ status = 'current' })
end
local creditLimit = num(af[3])
local bk = loadBuckets(KEYS[2])

local total = 0
for _, f in ipairs(req.fees or {}) do total = total + num(f.gross) end
if total > 0 and total > moneyAvailable(bk, '', now, creditLimit) then
  redis.call('HSET', KEYS[1], 'cycleDue', req.cycle)
  redis.call('ZADD', KEYS[5], num(req.retryAt), req.accountId)
  return cjson.encode({ status = 'insufficient' })
end

for _, f in ipairs(req.fees or {}) do
  local gross = num(f.gross)
  if gross > 0 then
    local parts = takeMoney(bk, '', now, creditLimit, gross, false)
    local byB = {}
    addParts(byB, parts)
    redis.call('XADD', KEYS[4], '*', 'cdr', cjson.encode({
      id = 'fee#' .. req.accountId .. '#' .. req.cycle .. '#' .. f.name, account = req.accountId,
      sessionId = 'fee:' .. req.cycle, node = req.node, protocol = 'api', service = 'fee:' .. f.name, unit = 'events',
      start = fmt(num(req.start)), ['end'] = fmt(now), used = '1', inputOctets = '0', outputOctets = '0',
      unitsFromBuckets = '0', unitBuckets = {}, moneyBuckets = fmtMap(byB), tariff = f.name, planVersion = req.pv,
      total = fmt(gross), tax = fmt(num(f.tax)), currency = af[4], closeReason = 'recurring-fee', overage = false,
    }))
  end
end

-- Allowances of cycles that ended more than a day ago are removed (a reservation taken from one
-- lives for its validity only, so none can still point at it).
for _, b in ipairs(bk.list) do
  if string.sub(b.id, 1, 7) == 'bundle:' and not isNil(b['to']) and num(b['to']) <= now - 86400000 then
    redis.call('HDEL', KEYS[2], b.id)
    bk.byId[b.id] = nil
    b.dirty = false
  end
end
local granted = false
for _, b in ipairs(req.bundles or {}) do
  local id = 'bundle:' .. b.name .. ':' .. req.cycle
  local bucket = { id = id, kind = b.kind, amount = fmt(num(b.amount)), scope = b.scope, priority = num(b.priority),
                   from = num(req.start), ['to'] = num(req['end']) }
  if redis.call('HSETNX', KEYS[2], id, cjson.encode(bucket)) == 1 then granted = true end
end

saveBuckets(KEYS[2], bk)
if total > 0 then redis.call('HINCRBY', KEYS[3], 'charged', fmt(total)) end
redis.call('HSET', KEYS[1], 'cycle', req.cycle)
redis.call('HDEL', KEYS[1], 'cycleDue')
redis.call('ZADD', KEYS[5], num(req['end']), req.accountId)
local reauth = {}
if granted then reauth = redis.call('SMEMBERS', KEYS[6]) end
return cjson.encode({ status = 'renewed', charged = fmt(total), reauth = reauth })
