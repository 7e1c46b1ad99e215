--!include lib.lua
-- event-charge: an immediate event (direct debit, e.g. an SMS) or a refund, all or nothing per item,
-- each item's CDR appended to the outbox in the same script.
--
-- KEYS[1] account hash   KEYS[2] buckets hash   KEYS[3] ledger hash
-- KEYS[4] shard outbox stream                   KEYS[5] idempotency key
-- ARGV[1] request JSON: {op: debit|refund|check, requestId, accountId, now, node, proto, sub, idemTtl,
--          items:[{key, rg, sid, ctx, svc, unit, dest, destName, pv, tariff, units, amount}]}
--          refund: `amount` (micro-units) when given, else the rated price of `units`.
--          check: what a debit would answer now, by the same rules (scopes, allowances, credit
--          limit), with nothing written or stored (Diameter CHECK_BALANCE).
-- Returns the answer JSON (also stored under KEYS[5]):
--   {status: ok|unknownSubscriber|outOfRange, charged, results:[{key, kind: granted|refunded|creditLimitReached|denied, units, amount}]}
--   outOfRange (not stored): an amount past LIMIT (lib.lua); nothing written.

local stored = redis.call('GET', KEYS[5])
if stored then return stored end
local req = cjson.decode(ARGV[1])
local now = num(req.now)
local check = req.op == 'check'

local function finish(answer)
  local text = cjson.encode(answer)
  if not check then redis.call('SET', KEYS[5], text, 'EX', num(req.idemTtl)) end
  return text
end

local acct = hgetall(KEYS[1])
if acct.id == nil then return finish({ status = 'unknownSubscriber', results = {} }) end
local creditLimit = num(acct.creditLimit)
local bk = loadBuckets(KEYS[2])
local results = {}
local chargedNow, refundedNow = 0, 0
-- written after the loop, once every amount is known to be in range
local cdrs = {}
local overflow = false
-- how often each item key came so far: an event may name one service twice (two MSCCs with one
-- Rating-Group), each is charged, and each CDR needs an id of its own
local seen = {}

for _, it in ipairs(req.items) do
  local units = num(it.units)
  seen[it.key] = (seen[it.key] or 0) + 1
  local idKey = it.key
  if seen[it.key] > 1 then idKey = it.key .. '#' .. seen[it.key] end
  local scopeKey = it.svc
  if not isNil(it.dest) then scopeKey = it.svc .. '|' .. it.dest end
  -- The time keeps apart two charges of one request id: a request id is answered from its stored
  -- answer for idemTtl only, and charged again after that (a client reusing its ids). The account
  -- keeps apart two accounts' events with one request id (idempotency is per account).
  local cdr = {
    id = 'ev#' .. req.requestId .. '#' .. fmt(now) .. '#' .. req.accountId .. '#' .. idKey, account = req.accountId, subscriber = req.sub,
    sessionId = req.sessionId, node = req.node, protocol = req.proto, service = it.svc, ratingGroup = it.rg,
    serviceId = it.sid, serviceContext = it.ctx, unit = it.unit, start = fmt(now), ['end'] = fmt(now),
    used = fmt(units), inputOctets = '0', outputOctets = '0', destination = it.dest, destinationName = it.destName,
    tariff = it.tariff and it.tariff.name, planVersion = it.pv, tax = '0', currency = acct.currency, overage = false,
  }
  if req.op == 'refund' then
    local amount, tax
    if it.amount ~= nil then
      amount = num(it.amount)
      tax = taxInside(it.tariff, amount)
    else
      amount, tax = costTax(it.tariff, true, units)
    end
    cdr.tax = fmt(-tax)
    local main = bk.byId['main']
    main.amount = main.amount + amount
    main.dirty = true
    refundedNow = refundedNow + amount
    if outOfRange(amount) then overflow = true end
    cdr.moneyBuckets = { main = fmt(-amount) }
    cdr.unitBuckets = {}
    cdr.unitsFromBuckets = '0'
    cdr.total = fmt(-amount)
    cdr.closeReason = 'refund'
    cdrs[#cdrs + 1] = cdr
    results[#results + 1] = { key = it.key, kind = 'refunded', units = units, amount = fmt(amount) }
  elseif acct.status ~= 'active' then
    results[#results + 1] = { key = it.key, kind = 'denied', reason = acct.status }
  else
    local fromU = min(unitsAvailable(bk, it.unit, scopeKey, now), units)
    local price, tax = costTax(it.tariff, true, units - fromU)
    if price > moneyAvailable(bk, scopeKey, now, creditLimit) then
      results[#results + 1] = { key = it.key, kind = 'creditLimitReached' }
    else
      local _, ub = takeUnits(bk, it.unit, scopeKey, now, fromU)
      local mb = {}
      if price > 0 then mb = takeMoney(bk, scopeKey, now, creditLimit, price, false) end
      local byU, byB = {}, {}
      addParts(byU, ub)
      addParts(byB, mb)
      chargedNow = chargedNow + price
      if outOfRange(price) then overflow = true end
      cdr.unitBuckets = fmtMap(byU)
      cdr.moneyBuckets = fmtMap(byB)
      cdr.unitsFromBuckets = fmt(fromU)
      cdr.total = fmt(price)
      cdr.tax = fmt(tax)
      cdr.closeReason = 'event'
      cdrs[#cdrs + 1] = cdr
      results[#results + 1] = { key = it.key, kind = 'granted', units = units, amount = fmt(price) }
    end
  end
end

if overflow or outOfRange(chargedNow) or outOfRange(refundedNow) or bucketsOutOfRange(bk) then return cjson.encode({ status = 'outOfRange' }) end
if check then return cjson.encode({ status = 'ok', results = results }) end
for _, cdr in ipairs(cdrs) do redis.call('XADD', KEYS[4], '*', 'cdr', cjson.encode(cdr)) end
saveBuckets(KEYS[2], bk)
if chargedNow ~= 0 then redis.call('HINCRBY', KEYS[3], 'charged', fmt(chargedNow)) end
if refundedNow ~= 0 then redis.call('HINCRBY', KEYS[3], 'refunds', fmt(refundedNow)) end
return finish({ status = 'ok', results = results, charged = fmt(chargedNow), refunded = fmt(refundedNow) })
