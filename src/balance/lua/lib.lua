-- Shared helpers, prepended by src/balance/scripts.ts to every script that says `--!include lib.lua`.
-- Money and units are integers held in Lua doubles: exact below 2^53. Amounts leave Lua as
-- strings via fmt(), because cjson encodes numbers with 14 significant digits.

local function fmt(n) return string.format('%.0f', n) end
local function num(v) if v == nil or v == cjson.null then return 0 end return tonumber(v) or 0 end

-- floor(a*b/c) and ceil(a*b/c) for non-negative integers without overflowing 2^53:
-- split a = q*c + r so only r*b (< b*c) is multiplied.
local function mulDivFloor(a, b, c)
  local q = math.floor(a / c)
  local r = a - q * c
  local p = r * b
  local f = math.floor(p / c)
  while f * c > p do f = f - 1 end
  while (f + 1) * c <= p do f = f + 1 end
  return q * b + f
end
local function mulDivCeil(a, b, c)
  local q = math.floor(a / c)
  local r = a - q * c
  local p = r * b
  local f = math.floor(p / c)
  while f * c > p do f = f - 1 end
  while (f + 1) * c <= p do f = f + 1 end
  if f * c < p then f = f + 1 end
  return q * b + f
end

-- Tariff t = {rate, per, first, next, fee, min}: `rate` micro-units per `per` units, billed in a
-- first increment then next increments (60/60, 30/6, 1/1), a connection fee and a minimum charge.
-- A later segment of the same rating group (after a tariff change) starts with `next` and no fee.
local function segTariff(t, isFirst)
  local first = math.max(1, num(t.first))
  local nxt = math.max(1, num(t.next))
  if not isFirst then first = nxt end
  return first, nxt, (isFirst and num(t.fee) or 0), num(t.min)
end

local function billedUnits(t, isFirst, u)
  if u <= 0 then return 0 end
  local first, nxt = segTariff(t, isFirst)
  if u <= first then return first end
  return first + math.ceil((u - first) / nxt) * nxt
end

local function cost(t, isFirst, u)
  if u <= 0 then return 0 end
  local _, _, fee, minc = segTariff(t, isFirst)
  local c = fee + mulDivCeil(billedUnits(t, isFirst, u), num(t.rate), math.max(1, num(t.per)))
  if c < minc then c = minc end
  return c
end

local UNLIMITED = 4503599627370496 -- 2^52

-- Most units u0+u a segment already holding u0 units (charged c0) can reach with `budget` more money.
local function affordableUnits(t, isFirst, u0, c0, budget)
  if budget < 0 then budget = 0 end
  local total = c0 + budget
  local first, nxt, fee, minc = segTariff(t, isFirst)
  local rate = num(t.rate)
  if rate <= 0 then
    if u0 > 0 or total >= math.max(fee, minc) then return UNLIMITED end
    return 0
  end
  local x = total - fee
  if x < 0 or total < minc then return 0 end
  local bmax = mulDivFloor(x, math.max(1, num(t.per)), rate)
  if bmax < first then return 0 end
  local aligned = first + math.floor((bmax - first) / nxt) * nxt
  local u = aligned - u0
  if u < 0 then return 0 end
  return u
end

-- Buckets: hash field id → JSON {id, kind, amount (string), scope (array|nil), priority, from, to}.
local function loadBuckets(key)
  local raw = redis.call('HGETALL', key)
  local list, byId = {}, {}
  for i = 1, #raw, 2 do
    local b = cjson.decode(raw[i + 1])
    b.amount = num(b.amount)
    b.priority = num(b.priority)
    b.dirty = false
    list[#list + 1] = b
    byId[b.id] = b
  end
  table.sort(list, function(a, b)
    if a.priority ~= b.priority then return a.priority < b.priority end
    local ea = (a['to'] ~= nil and a['to'] ~= cjson.null) and num(a['to']) or UNLIMITED * 4
    local eb = (b['to'] ~= nil and b['to'] ~= cjson.null) and num(b['to']) or UNLIMITED * 4
    if ea ~= eb then return ea < eb end
    return a.id < b.id
  end)
  return { list = list, byId = byId }
end

local function saveBuckets(key, bk)
  for _, b in ipairs(bk.list) do
    if b.dirty then
      b.dirty = nil
      local amount = b.amount
      b.amount = fmt(amount)
      redis.call('HSET', key, b.id, cjson.encode(b))
      b.amount = amount
      b.dirty = false
    end
  end
end

local function inScope(b, svc)
  if b.scope == nil or b.scope == cjson.null then return true end
  if type(b.scope) ~= 'table' or #b.scope == 0 then return true end
  for _, s in ipairs(b.scope) do if s == svc or s == '*' then return true end end
  return false
end

local function usable(b, kind, svc, now)
  if b.kind ~= kind then return false end
  if b.from ~= nil and b.from ~= cjson.null and num(b.from) > now then return false end
  if b['to'] ~= nil and b['to'] ~= cjson.null and num(b['to']) <= now then return false end
  return inScope(b, svc)
end

-- Units available in unit buckets of this kind and scope.
local function unitsAvailable(bk, kind, svc, now)
  local s = 0
  for _, b in ipairs(bk.list) do
    if usable(b, kind, svc, now) and b.amount > 0 then s = s + b.amount end
  end
  return s
end

-- Take up to `want` units from unit buckets; returns taken and {{id, n}, …}.
local function takeUnits(bk, kind, svc, now, want)
  local parts, taken = {}, 0
  for _, b in ipairs(bk.list) do
    if taken >= want then break end
    if usable(b, kind, svc, now) and b.amount > 0 then
      local n = math.min(b.amount, want - taken)
      b.amount = b.amount - n
      b.dirty = true
      taken = taken + n
      parts[#parts + 1] = { b.id, n }
    end
  end
  return taken, parts
end

-- Money the account can still commit for this service: positive scoped money buckets plus the
-- main bucket down to minus the credit limit.
local function moneyAvailable(bk, svc, now, creditLimit)
  local s = 0
  for _, b in ipairs(bk.list) do
    if usable(b, 'money', svc, now) then
      if b.id == 'main' then
        s = s + b.amount + creditLimit
      elseif b.amount > 0 then
        s = s + b.amount
      end
    end
  end
  if s < 0 then s = 0 end
  return s
end

-- Take `amount` of money. Within limits first; with `force` the rest goes onto the main bucket
-- even past the credit limit (usage that really happened is never dropped). Returns parts, over.
local function takeMoney(bk, svc, now, creditLimit, amount, force)
  local parts, left = {}, amount
  local main = bk.byId['main']
  for _, b in ipairs(bk.list) do
    if left <= 0 then break end
    if b.id ~= 'main' and usable(b, 'money', svc, now) and b.amount > 0 then
      local n = math.min(b.amount, left)
      b.amount = b.amount - n
      b.dirty = true
      left = left - n
      parts[#parts + 1] = { b.id, n }
    end
  end
  local over = 0
  if left > 0 and main ~= nil then
    local room = main.amount + creditLimit
    if room < 0 then room = 0 end
    local n = math.min(room, left)
    if force then
      over = left - n
      n = left
    end
    if n > 0 then
      main.amount = main.amount - n
      main.dirty = true
      left = left - n
      parts[#parts + 1] = { 'main', n }
    end
  end
  return parts, left, over
end

-- Give back reserved units/money to the buckets they came from (main when a bucket is gone).
local function giveBack(bk, parts)
  for _, p in ipairs(parts or {}) do
    local b = bk.byId[p[1]] or bk.byId['main']
    if b ~= nil then
      b.amount = b.amount + num(p[2])
      b.dirty = true
    end
  end
end

local function sumParts(parts)
  local s = 0
  for _, p in ipairs(parts or {}) do s = s + num(p[2]) end
  return s
end

local function addParts(into, parts)
  for _, p in ipairs(parts) do into[p[1]] = num(into[p[1]]) + num(p[2]) end
end

local function hgetall(key)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end

-- Amount tables for CDRs: bucket id → string.
local function fmtMap(m)
  local out = {}
  for k, v in pairs(m or {}) do out[k] = fmt(v) end
  return out
end

-- Outstanding granted units per unit type, accumulated by a script and added to the shard stats
-- (the ocs_reserved_units metric) once at its end.
local grantedDelta = {}
local function noteGranted(unit, n)
  if unit ~= nil and n ~= 0 then grantedDelta[unit] = (grantedDelta[unit] or 0) + n end
end
local function flushGranted(statsKey)
  for unit, d in pairs(grantedDelta) do
    if d ~= 0 then redis.call('HINCRBY', statsKey, 'granted:' .. unit, fmt(d)) end
  end
end

local function releaseReservation(bk, rg)
  local money = 0
  if rg.res ~= nil and rg.res ~= cjson.null then
    noteGranted(rg.unit, -num(rg.res.n))
    giveBack(bk, rg.res.ub)
    giveBack(bk, rg.res.mb)
    money = sumParts(rg.res.mb)
  end
  rg.res = nil
  return money
end

-- One CDR per rating group that saw usage or money, appended to the shard's outbox stream in the
-- same script as the debit (transactional outbox). Returns how many were written.
local function writeCdrs(outboxKey, sess, acct, now, node, reason)
  local n = 0
  local keysSorted = {}
  for k, _ in pairs(sess.rgs) do keysSorted[#keysSorted + 1] = k end
  table.sort(keysSorted)
  for _, k in ipairs(keysSorted) do
    local rg = sess.rgs[k]
    if num(rg.used) > 0 or num(rg.charged) ~= 0 then
      local cdr = {
        id = sess.id .. '#' .. fmt(sess.start) .. '#' .. k,
        account = sess.acct, subscriber = sess.sub, sessionId = sess.id, node = node, protocol = sess.proto,
        service = rg.svc, ratingGroup = rg.rg, serviceId = rg.sid, serviceContext = rg.ctx, unit = rg.unit,
        start = fmt(sess.start), ['end'] = fmt(now), used = fmt(num(rg.used)),
        inputOctets = fmt(num(rg.inO)), outputOctets = fmt(num(rg.outO)),
        unitsFromBuckets = fmt(num(rg.bu)), unitBuckets = fmtMap(rg.byU),
        destination = rg.dest, destinationName = rg.destName, tariff = rg.tname, planVersion = rg.pv,
        moneyBuckets = fmtMap(rg.byB), total = fmt(num(rg.charged)), tax = '0', currency = acct.currency,
        closeReason = reason, overage = (rg.overuse == true) or num(rg.over) > 0,
      }
      redis.call('XADD', outboxKey, '*', 'cdr', cjson.encode(cdr))
      n = n + 1
    end
  end
  return n
end
