-- Shared helpers, prepended by src/balance/scripts.ts to every script that says `--!include lib.lua`.
-- Redis's Lua libraries and builtins as upvalues instead of globals: a global is a hash lookup in
-- the globals table at every use, an upvalue an index, and the charging step uses them several
-- hundred times (~5 % fewer instructions per charging call: BENCHMARKS.md). A function library sees only
-- `redis` while it loads, so the others are bound at its first call (bindGlobals, from
-- resetCallState) and, in a script sent by EVAL, at once (luaLib in scripts.ts appends the call).
-- Likewise, to save instructions, the charging path loops with `for i = 1, #t`, not ipairs, whose iterator is a
-- call into C per element (~2.5 % of a CCR-U's instructions), and reads numbers it knows to be numbers
-- or absent with `x or 0`, not num(): a call into Lua and one into C, ~900 instructions each time.
-- What things cost in Redis's Lua, counted with `npm run profile:script -- --instructions`: a Lua
-- function call ~450 machine instructions, a call into C ~300–500 (type() ~500: it interns its
-- answer), fmt() ~2.6k, a redis.call ~14k.
local function builtins()
  return cjson, cmsgpack, math, string, table, tonumber, tostring, type, ipairs, pairs, next, unpack, error
end
local cjson, cmsgpack, math, string, table, tonumber, tostring, type, ipairs, pairs, next, unpack, error
local NULL, floor, ceil, max, min
local function bindGlobals()
  cjson, cmsgpack, math, string, table, tonumber, tostring, type, ipairs, pairs, next, unpack, error = builtins()
  NULL, floor, ceil, max, min = cjson.null, math.floor, math.ceil, math.max, math.min
end
-- Money and units are integers held in Lua doubles: exact below 2^53. Amounts leave Lua as
-- strings via fmt(), because cjson encodes numbers with 14 significant digits.

-- Integers (all money and counts) go through '%d', which glibc prints with plain integer code; '%.0f'
-- takes its multi-precision float path, several times slower (a few % of Redis's CPU per interim).
-- Both print the same digits for an integer below 2^53; anything else keeps '%.0f'.
local function fmt(n)
  if n % 1 == 0 and n < 9007199254740992 and n > -9007199254740992 then return string.format('%d', n) end
  return string.format('%.0f', n)
end
local function num(v) if v == nil or v == NULL then return 0 end return tonumber(v) or 0 end

-- floor(a*b/c) and ceil(a*b/c) for non-negative integers without overflowing 2^53:
-- split a = q*c + r so only r*b (< b*c) is multiplied. Below 2^53 the float quotient is off by at
-- most one, so one correction step each way is exact — and a script can never spin on huge input.
local function mulDivFloor(a, b, c)
  local q = floor(a / c)
  local r = a - q * c
  local p = r * b
  local f = floor(p / c)
  if f * c > p then f = f - 1 end
  if (f + 1) * c <= p then f = f + 1 end
  return q * b + f
end
local function mulDivCeil(a, b, c)
  local q = floor(a / c)
  local r = a - q * c
  local p = r * b
  local f = floor(p / c)
  if f * c > p then f = f - 1 end
  if (f + 1) * c <= p then f = f + 1 end
  if f * c < p then f = f + 1 end
  return q * b + f
end

-- floor(a/c) for non-negative integers, corrected for the rounding of the float division (one step
-- suffices below 2^53; beyond it amounts are meaningless anyway and must not make a script spin).
local function idiv(a, c)
  local f = floor(a / c)
  if f * c > a then f = f - 1 end
  if (f + 1) * c <= a then f = f + 1 end
  return f
end

-- a*b/c rounded half up to a multiple of q, exactly (a < 2^53; b, c ≤ ~2e6; q divides 10^6).
-- a = h*c + l, so a*b/c = h*b + l*b/c with l*b small; then the integer part I and the remainder
-- R/c are rounded to quanta without ever forming a*b.
local function mulDivRoundQ(a, b, c, q)
  local h = idiv(a, c)
  local l = a - h * c
  local lb = l * b
  local fl = idiv(lb, c)
  local i = h * b + fl
  local r = lb - fl * c
  local qa = idiv(i, q)
  local qb = i - qa * q
  return (qa + idiv(2 * (qb * c + r) + q * c, 2 * q * c)) * q
end

local function isNil(v) return v == nil or v == NULL end

-- Tariff t = {rate, per, first, next, fee, min, tiers?, tx?, ti?, q?}: `rate` micro-units per `per`
-- units, billed in a first increment then next increments (60/60, 30/6, 1/1), a connection fee
-- and a minimum charge; tiers = [{from, rate, per}] change the price from `from` billed units on;
-- tx = tax in ppm (ti = 1: prices include it); q = currency quantum (charges round up to it).
-- A later segment of the same rating group (after a tariff change) starts with `next` and no fee.
-- The same arithmetic as src/rating/cost.ts, exactly (cross-checked in test/unit/lua-cost.test.ts).
-- A tariff's fields are numbers or absent (src/rating/plan.ts LuaTariff), so they are read directly,
-- absent (or JSON null) as the default: num() on each, a Lua call and a C call, made one price
-- ~15k machine instructions, and an update makes three.
local function segTariff(t, isFirst)
  local nxt, minc = t.next, t.min
  if nxt == nil or nxt == NULL or nxt < 1 then nxt = 1 end
  if minc == nil or minc == NULL then minc = 0 end
  if not isFirst then return nxt, nxt, 0, minc end
  local first, fee = t.first, t.fee
  if first == nil or first == NULL or first < 1 then first = 1 end
  if fee == nil or fee == NULL then fee = 0 end
  return first, nxt, fee, minc
end

-- rate, and per (at least 1)
local function ratePer(t)
  local rate, per = t.rate, t.per
  if rate == nil or rate == NULL then rate = 0 end
  if per == nil or per == NULL or per < 1 then per = 1 end
  return rate, per
end

-- Billed units for u units of a segment whose first and next increments are first and nxt.
local function billedUnits(first, nxt, u)
  if u <= 0 then return 0 end
  if u <= first then return first end
  return first + ceil((u - first) / nxt) * nxt
end

local function simpleTariff(t)
  local tiers, tx, q = t.tiers, t.tx, t.q
  return (tiers == nil or tiers == NULL or #tiers == 0) and (tx == nil or tx == NULL or tx == 0) and (q == nil or q == NULL or q <= 1)
end

-- Net price of b billed units (fee included, before the minimum and rounding).
local function netRaw(t, fee, b)
  local tiers = t.tiers
  local c, lo, rate, per = fee, 0, ratePer(t)
  if isNil(tiers) or #tiers == 0 then return fee + mulDivCeil(b, rate, per) end
  for i = 1, #tiers do
    local hi = num(tiers[i].from)
    if b <= hi then return c + mulDivCeil(b - lo, rate, per) end
    if hi > lo then c = c + mulDivCeil(hi - lo, rate, per); lo = hi end
    rate = num(tiers[i].rate)
    per = max(1, num(tiers[i].per))
  end
  return c + mulDivCeil(b - lo, rate, per)
end

-- gross (what is debited) and the tax inside it, for u units of a segment.
local function costParts(t, isFirst, u)
  if u <= 0 then return 0, 0 end
  local first, nxt, fee, minc = segTariff(t, isFirst)
  local c = netRaw(t, fee, billedUnits(first, nxt, u))
  if c < minc then c = minc end
  local q = num(t.q)
  if q > 1 then
    local f = idiv(c, q)
    if f * q < c then f = f + 1 end
    c = f * q
  end
  local tx = num(t.tx)
  if tx <= 0 then return c, 0 end
  if q < 1 then q = 1 end
  if num(t.ti) == 1 then
    local net = mulDivRoundQ(c, 1000000, 1000000 + tx, q)
    return c, c - net
  end
  local tax = mulDivRoundQ(c, tx, 1000000, q)
  return c + tax, tax
end

local function cost(t, isFirst, u)
  if simpleTariff(t) then
    if u <= 0 then return 0 end
    local first, nxt, fee, minc = segTariff(t, isFirst)
    local rate, per = ratePer(t)
    local c = fee + mulDivCeil(billedUnits(first, nxt, u), rate, per)
    if c < minc then c = minc end
    return c
  end
  local g = costParts(t, isFirst, u)
  return g
end

-- gross and the tax inside it (0 for tariffs without tax).
local function costTax(t, isFirst, u)
  if simpleTariff(t) then return cost(t, isFirst, u), 0 end
  return costParts(t, isFirst, u)
end

-- The tax inside an amount charged or refunded outside the segment arithmetic (a refund by amount).
local function taxInside(t, amount)
  local tx = num(t and t.tx)
  if tx <= 0 or amount <= 0 then return 0 end
  local q = max(1, num(t.q))
  return amount - mulDivRoundQ(amount, 1000000, 1000000 + tx, q)
end

local UNLIMITED = 4503599627370496 -- 2^52

-- Money and unit counts must stay exact, and Lua numbers are doubles: exact to 2^53. A request whose
-- amounts (a charge, a segment's running cost, a bucket after it, a cumulative count) would pass
-- LIMIT is refused before the script writes anything (status outOfRange): it is no real usage but a
-- broken or hostile counter, and charging it inexactly would break the money audit.
local LIMIT = UNLIMITED
local function outOfRange(x) return x ~= nil and (x > LIMIT or x < -LIMIT) end
local function bucketsOutOfRange(bk)
  local list = bk.list
  for i = 1, #list do local b = list[i]; if b.dirty and outOfRange(b.amount) then return true end end
  return false
end

-- Most units u0+u a segment already holding u0 units (charged c0) can reach with `budget` more money.
local function affordableUnits(t, isFirst, u0, c0, budget)
  if budget < 0 then budget = 0 end
  local total = c0 + budget
  local first, nxt, fee, minc = segTariff(t, isFirst)
  local rate, per = ratePer(t)
  if simpleTariff(t) then
    if rate <= 0 then
      if u0 > 0 or total >= max(fee, minc) then return UNLIMITED end
      return 0
    end
    local x = total - fee
    if x < 0 or total < minc then return 0 end
    local bmax = mulDivFloor(x, per, rate)
    if bmax < first then return 0 end
    local aligned = first + floor((bmax - first) / nxt) * nxt
    local u = aligned - u0
    if u < 0 then return 0 end
    return u
  end
  -- Tiers, tax or a currency quantum: search over aligned amounts first + k*next (cost is monotone).
  local function fits(k)
    local c = cost(t, isFirst, first + k * nxt)
    return c < UNLIMITED and c <= total
  end
  if not fits(0) then return 0 end
  local kmax = floor((UNLIMITED - first) / nxt)
  -- a starting guess from the plain per-unit price with tax on top
  local guess = 1
  if rate > 0 then
    local tx = num(t.tx)
    local net = total
    if tx > 0 and num(t.ti) ~= 1 then net = mulDivFloor(total, 1000000, 1000000 + tx) end
    local b = mulDivFloor(max(0, net - fee), per, rate)
    guess = max(1, floor((b - first) / nxt))
  end
  local lo, hi
  if guess > kmax then guess = kmax end
  if fits(guess) then
    lo, hi = guess, guess * 2 + 1
    while hi <= kmax and fits(hi) do lo = hi; hi = hi * 2 + 1 end
    if hi > kmax then
      if fits(kmax) then return UNLIMITED end
      hi = kmax
    end
  else
    lo, hi = 0, guess
  end
  -- invariant: fits(lo), not fits(hi)
  while hi - lo > 1 do
    local mid = floor((lo + hi) / 2)
    if fits(mid) then lo = mid else hi = mid end
  end
  local u = first + lo * nxt - u0
  if u < 0 then return 0 end
  return u
end

-- Buckets: hash field id → JSON {id, kind, amount (string), scope (array|nil), priority, from, to}.
local function loadBuckets(key)
  local raw = redis.call('HGETALL', key)
  local list, byId, units = {}, {}, false
  for i = 1, #raw, 2 do
    local b = cjson.decode(raw[i + 1])
    b.amount = num(b.amount)
    b.dirty = false
    list[#list + 1] = b
    byId[b.id] = b
    if b.kind ~= 'money' then units = true end
  end
  -- most accounts hold one bucket: no comparator closure, no sort call
  if #list > 1 then
    for i = 1, #list do list[i].priority = num(list[i].priority) end
    table.sort(list, function(a, b)
      if a.priority ~= b.priority then return a.priority < b.priority end
      local ea = (a['to'] ~= nil and a['to'] ~= NULL) and num(a['to']) or UNLIMITED * 4
      local eb = (b['to'] ~= nil and b['to'] ~= NULL) and num(b['to']) or UNLIMITED * 4
      if ea ~= eb then return ea < eb end
      return a.id < b.id
    end)
  end
  -- units: whether any bucket holds units (most accounts hold money only: the unit scans are skipped)
  return { list = list, byId = byId, units = units }
end

local function saveBuckets(key, bk)
  local list = bk.list
  for i = 1, #list do
    local b = list[i]
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

-- svc is the service name, or `name|destination` when the usage has a called number. A scope
-- entry is a service name, '*', or `name:prefix` (an allowance for some destinations only).
local function inScope(b, svc)
  if b.scope == nil or b.scope == NULL then return true end
  if type(b.scope) ~= 'table' or #b.scope == 0 then return true end
  local name, dest = svc, nil
  local bar = string.find(svc, '|', 1, true)
  if bar then name = string.sub(svc, 1, bar - 1); dest = string.sub(svc, bar + 1) end
  for _, s in ipairs(b.scope) do
    if s == name or s == '*' then return true end
    if dest ~= nil then
      local colon = string.find(s, ':', 1, true)
      if colon and string.sub(s, 1, colon - 1) == name then
        local prefix = string.sub(s, colon + 1)
        if string.sub(dest, 1, #prefix) == prefix then return true end
      end
    end
  end
  return false
end

local function usable(b, kind, svc, now)
  if b.kind ~= kind then return false end
  if b.from ~= nil and b.from ~= NULL and num(b.from) > now then return false end
  if b['to'] ~= nil and b['to'] ~= NULL and num(b['to']) <= now then return false end
  return inScope(b, svc)
end

-- Units available in unit buckets of this kind and scope.
local function unitsAvailable(bk, kind, svc, now)
  local s = 0
  local list = bk.list
  for i = 1, #list do
    local b = list[i]
    if usable(b, kind, svc, now) and b.amount > 0 then s = s + b.amount end
  end
  return s
end

-- Takes n units (or money) from bucket b, noted in parts.
local function takeFrom(b, n, parts)
  b.amount = b.amount - n
  b.dirty = true
  parts[#parts + 1] = { b.id, n }
end

-- Take up to `want` units from unit buckets; returns taken and {{id, n}, …}. `held` (optional: the
-- {{id, n}, …} a grant reserved, each n lowered by what is taken) goes first, whether or not its
-- buckets are still valid: units granted while an allowance was valid are paid from it when the
-- client reports them after it ended, not in money past the credit limit.
local function takeUnits(bk, kind, svc, now, want, held)
  local parts, taken = {}, 0
  if held ~= nil and held ~= NULL then
    for i = 1, #held do
      if taken >= want then break end
      local p = held[i]
      local b = bk.byId[p[1]]
      if b ~= nil and p[2] > 0 and b.amount > 0 then
        local n = min(p[2], b.amount, want - taken)
        takeFrom(b, n, parts)
        p[2] = p[2] - n
        taken = taken + n
      end
    end
  end
  local list = bk.list
  for i = 1, #list do
    local b = list[i]
    if taken >= want then break end
    if usable(b, kind, svc, now) and b.amount > 0 then
      local n = min(b.amount, want - taken)
      takeFrom(b, n, parts)
      taken = taken + n
    end
  end
  return taken, parts
end

-- The earliest end (ms) of the buckets named in parts ({{id, n}, …}); nil when none ends.
local function earliestEnd(bk, parts)
  local e = nil
  for i = 1, #parts do
    local b = bk.byId[parts[i][1]]
    if b ~= nil and b['to'] ~= nil and b['to'] ~= NULL then
      local to = num(b['to'])
      if e == nil or to < e then e = to end
    end
  end
  return e
end

-- Money the account can still commit for this service: positive scoped money buckets plus the
-- main bucket down to minus the credit limit.
local function moneyAvailable(bk, svc, now, creditLimit)
  local s = 0
  local list = bk.list
  for i = 1, #list do
    local b = list[i]
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
  local list = bk.list
  for i = 1, #list do
    local b = list[i]
    if left <= 0 then break end
    if b.id ~= 'main' and usable(b, 'money', svc, now) and b.amount > 0 then
      local n = min(b.amount, left)
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
    local n = min(room, left)
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

-- Give back reserved units/money to the buckets they came from (money to main when its bucket is
-- gone; units of a removed allowance are not turned into money).
local function giveBack(bk, parts, isMoney)
  if parts == nil then return end
  for i = 1, #parts do
    local p = parts[i]
    local b = bk.byId[p[1]]
    if b == nil and isMoney then b = bk.byId['main'] end
    if b ~= nil then
      b.amount = b.amount + p[2]
      b.dirty = true
    end
  end
end

local function sumParts(parts)
  local s = 0
  if parts == nil then return 0 end
  for i = 1, #parts do s = s + parts[i][2] end
  return s
end

local function addParts(into, parts)
  for i = 1, #parts do local p = parts[i]; into[p[1]] = (into[p[1]] or 0) + p[2] end
end

-- The answer to a request that leaves no live session to keep it (session-charge.lua), kept under
-- its idempotency key for ttl seconds so that a retransmission gets it again; returns it as text.
local function keepAnswer(key, ttl, answer)
  local text = cjson.encode(answer)
  redis.call('SET', key, text, 'EX', num(ttl))
  return text
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
-- Per-call state back to empty: a script gets a fresh lib on every call, a function (scripts.ts
-- FUNCTION_SCRIPTS) shares it between calls.
-- The libraries are bound at a library's first call: its globals do not change between calls.
local function resetCallState()
  if cjson == nil then bindGlobals() end
  grantedDelta = {}
end
local function noteGranted(unit, n)
  if unit ~= nil and n ~= 0 then grantedDelta[unit] = (grantedDelta[unit] or 0) + n end
end
local function flushGranted(statsKey)
  for unit, d in pairs(grantedDelta) do
    if d ~= 0 then redis.call('HINCRBY', statsKey, 'granted:' .. unit, fmt(d)) end
  end
end

-- Rating-group state is stored as MessagePack (in Redis's Lua about twice as cheap to pack and unpack
-- as JSON, and a third smaller) and holds no defaults: counters at zero, empty maps and false flags
-- stay nil, and a tariff is compacted (no name, no default fields) when it enters the state, so
-- encodeRg packs the table as it is. At every update this is the costliest step of the script.
local function compactTariff(t)
  if isNil(t) then return nil end
  local c = { id = t.id, rate = t.rate, per = t.per }
  if num(t.first) > 1 then c.first = t.first end
  if num(t.next) > 1 then c.next = t.next end
  if num(t.fee) ~= 0 then c.fee = t.fee end
  if num(t.min) ~= 0 then c.min = t.min end
  if not isNil(t.tiers) and #t.tiers > 0 then c.tiers = t.tiers end
  if num(t.tx) ~= 0 then c.tx = t.tx end
  if num(t.ti) ~= 0 then c.ti = t.ti end
  if num(t.q) > 1 then c.q = t.q end
  return c
end

-- key: the rating group's key, its field name in the session hash (r:<key>): not stored in the state.
local function encodeRg(rg)
  local key = rg.key
  rg.key = nil
  local packed = cmsgpack.pack(rg)
  rg.key = key
  return packed
end

-- A state written before MessagePack is JSON: it starts with '{', which a packed map never does.
local function decodeRg(packed, key)
  local rg
  if string.byte(packed, 1) == 123 then rg = cjson.decode(packed) else rg = cmsgpack.unpack(packed) end
  rg.key = key
  return rg
end

local function releaseReservation(bk, rg)
  local money = 0
  if rg.res ~= nil and rg.res ~= NULL then
    noteGranted(rg.unit, -(rg.res.n or 0))
    giveBack(bk, rg.res.ub, false)
    giveBack(bk, rg.res.mb, true)
    money = sumParts(rg.res.mb)
  end
  rg.res = nil
  return money
end

-- One CDR per rating group that saw usage or money, appended to the shard's outbox stream in the
-- same script as the debit (transactional outbox). Returns how many were written.
local function writeCdrs(outboxKey, sess, acct, now, node, reason)
  local n = 0
  -- <session>#<start>#<the account's session number>#<account>#<rating group key>; sessions opened
  -- before the number existed: <session>#<start>#<account>#<rating group key>. The account is in it
  -- because session ids are only unique per account here (two subscribers' clients may use one, and a
  -- first session's number is 1 on every account): the billing store keeps one row per CDR id.
  local cdrIdBase = sess.id .. '#' .. fmt(sess.start)
  if sess.n ~= nil and sess.n ~= NULL then cdrIdBase = cdrIdBase .. '#' .. fmt(num(sess.n)) end
  cdrIdBase = cdrIdBase .. '#' .. sess.acct
  local keysSorted = {}
  for k, _ in pairs(sess.rgs) do keysSorted[#keysSorted + 1] = k end
  table.sort(keysSorted)
  for _, k in ipairs(keysSorted) do
    local rg = sess.rgs[k]
    if num(rg.used) > 0 or num(rg.charged) ~= 0 then
      local cdr = {
        id = cdrIdBase .. '#' .. k,
        account = sess.acct, subscriber = sess.sub, sessionId = sess.id, node = node, protocol = sess.proto,
        service = rg.svc, ratingGroup = rg.rg, serviceId = rg.sid, serviceContext = rg.ctx, unit = rg.unit,
        start = fmt(sess.start), ['end'] = fmt(now), used = fmt(num(rg.used)),
        inputOctets = fmt(num(rg.inO)), outputOctets = fmt(num(rg.outO)),
        unitsFromBuckets = fmt(num(rg.bu)), unitBuckets = fmtMap(rg.byU),
        destination = rg.dest, destinationName = rg.destName, tariff = rg.tname, planVersion = rg.pv,
        moneyBuckets = fmtMap(rg.byB), total = fmt(num(rg.charged)), tax = fmt(num(rg.tax)), currency = acct.currency,
        closeReason = reason, overage = (rg.overuse == true) or num(rg.over) > 0,
      }
      redis.call('XADD', outboxKey, '*', 'cdr', cjson.encode(cdr))
      n = n + 1
    end
  end
  return n
end
