--!include lib.lua
-- session-charge: one step of a session (initiate, update, terminate): for each rating group,
-- release its reservation, debit the reported usage, and (unless terminating) reserve the next
-- grant. Terminate releases everything left and appends the session's CDRs to the outbox.
--
-- KEYS[1] account hash      KEYS[2] buckets hash     KEYS[3] ledger hash
-- KEYS[4] session hash      KEYS[5] account sessions set
-- KEYS[6] account re-auth set                          KEYS[7] shard expiry zset
-- KEYS[8] shard outbox stream                         KEYS[9] idempotency key
-- KEYS[10] shard stats hash (reserved money, open sessions per protocol: for metrics)
-- KEYS[11] the front end's own record of the session (payload `at`; any key of the slot otherwise)
-- ARGV[1] request JSON: {op, sessionId, requestId, sq (sequence in the session, optional), accountId, now, node, proto, sub, validity, grace,
--          rp (the rating inputs the caller rated with, checked against the account: plan id, time zone,
--          country, tax region and segment, each followed by \31 but the last, absent ones empty), idemTtl, closeReason, rt (the front end's route to the client, kept as field rt), items:[{key, rg, sid, ctx, svc, unit, dest, destName, pv,
--          tariff:{id,name,rate,per,first,next,fee,min}, used:[{u, i, o, a}], req, dq, val, cap}]}
--          used.a: usage after a Tariff-Time-Change (rated with `tariff`; other usage with the grant's tariff);
--          val: grant validity (s) when a tariff boundary is near; cap: max units before it.
--          req: -1 = no new grant wanted, 0 = the default quota `dq`, N = N units.
--          fup: fair usage {lim (octets per cycle), act: restrict|redirect|price, t (tariff past the
--          limit, for price), fid (Filter-Id), url (redirect)}; req.cy = the billing cycle id now.
--          at (update or terminate of one item only): the caller's record of the session, KEYS[11]: {e: {i, o, u}
--          the item's inO/outO/used it last saw, r: fields to read (r[1]: set and non-empty when
--          the record is closed), w: field/value pairs to write, t: expiry to set (ms)}.
-- Returns the answer JSON (stored in the session hash, or under KEYS[9] once the session is gone, so
-- a retransmission gets it again):
--   {status: ok|unknownSubscriber|unknownSession|stalePlan|staleRequest|outOfRange, charged, closed, cdrs,
--    results:[{key, kind: granted|creditLimitReached|denied|committed, units, validity,
--              finalUnit, fup: {a, f, r} once the fair-usage limit is passed}]}
--   (the quota threshold of a grant is the caller's percentage of its units: not in the answer)
--   With `at`: {status: stateChanged} and nothing done when the record is closed or the item's
--   counters are not those the caller saw (another node took a report since); otherwise the answer,
--   a newline, and {f: the fields read, before the write; c: [inO, outO, used] after this request}.

local req = cjson.decode(ARGV[1])
local now = num(req.now)
local validity = num(req.validity)

-- Idempotency. A live session keeps the answers to its last two requests in its own hash
-- (q: their request ids, a0/a1: the answers): a retransmission — even one overtaken by the next
-- request — gets its first answer again, and an active session holds two answers, not one key per
-- request. Answers outside a live session (its closing request, an unknown session or subscriber)
-- are kept under KEYS[9] for idemTtl.
-- The session hash keeps one field per rating group, so an update reads and rewrites only the
-- rating groups it reports on: m = meta JSON (written once), r:<key> = rating group state (MessagePack, see encodeRg),
-- fl = JSON set of rating groups holding a final unit or refused, u = last update time,
-- dl = when the reaper may close the session (u + validity + grace), rt = the front end's route to
-- the client (for a RAR/ASR from any node).
-- One HMGET brings the meta, the flags, the request ids answered and every rating group reported on;
-- a stored answer is read only for a retransmission.
local items = req.items
local fieldNames = { 'm', 'fl', 'q', 'sq' }
for i = 1, #items do fieldNames[#fieldNames + 1] = 'r:' .. items[i].key end
local sf = redis.call('HMGET', KEYS[4], unpack(fieldNames))
local RG0 = 4
-- q = <slot of the latest answer: 0|1><latest request id>\0<the one before>: the next answer goes
-- into the other slot, so an update writes one answer and never copies the previous one.
local qSlot, qLatest = nil, nil
if sf[1] then
  if sf[3] then
    qSlot = string.byte(sf[3], 1) - 48
    local sep = string.find(sf[3], '\0', 2, true)
    qLatest = string.sub(sf[3], 2, (sep or 0) - 1)
    if qLatest == req.requestId then return redis.call('HGET', KEYS[4], 'a' .. qSlot) end
    if sep and string.sub(sf[3], sep + 1) == req.requestId then return redis.call('HGET', KEYS[4], 'a' .. (1 - qSlot)) end
  end
  -- A request numbered below the latest one (sq) and not among the two answers above is a late
  -- copy, e.g. from a node that stalled while its client failed over: it must not charge again.
  if req.sq ~= nil and sf[4] and num(req.sq) < num(sf[4]) then return cjson.encode({ status = 'staleRequest', results = {} }) end
else
  local stored = redis.call('GET', KEYS[9])
  if stored then return stored end
  -- A session closed within idemTtl leaves its latest request number (sq; the hash holds nothing
  -- else): a late copy of one of its requests (a CCR-I from a node that stalled with it) must not
  -- open it again. Its closing request's own copy got its stored answer just above.
  if req.sq ~= nil and sf[4] and num(req.sq) <= num(sf[4]) then return cjson.encode({ status = 'staleRequest', results = {} }) end
end

-- The currency (for CDRs) only when the session closes, the fair-usage counters only with a cycle id:
-- each field read costs ~1k instructions.
local af
if req.op ~= 'terminate' and req.cy == nil then
  af = redis.call('HMGET', KEYS[1], 'id', 'plan', 'status', 'creditLimit', 'timezone', 'country', 'taxRegion', 'segment')
else
  af = redis.call('HMGET', KEYS[1], 'id', 'plan', 'status', 'creditLimit', 'timezone', 'country', 'taxRegion', 'segment', 'currency', 'fupC', 'fupO')
end
if not af[1] then return keepAnswer(KEYS[9], req.idemTtl, { status = 'unknownSubscriber', results = {} }) end
-- The caller rated with a cached plan id, time zone, country, tax region and segment; if the account
-- changed any of them, it must re-rate. Nothing is stored under the idempotency key for this answer.
-- They come as one string: five JSON fields cost ~3k instructions more to decode and compare.
if req.rp ~= nil and req.rp ~= (af[2] or '') .. '\31' .. (af[5] or '') .. '\31' .. (af[6] or '') .. '\31' .. (af[7] or '') .. '\31' .. (af[8] or '') then
  return cjson.encode({ status = 'stalePlan' })
end
local creditLimit = num(af[4])
local active = af[3] == 'active'
-- Octets counted against the fair-usage limit in this billing cycle (a new cycle starts at 0).
local fupO = 0
if req.cy ~= nil and af[10] == req.cy then fupO = num(af[11]) end
local fupO0 = fupO

local sess = nil
local isNew = false
if sf[1] then
  -- An update needs only the session's identity (known from the request); the meta JSON (start,
  -- subscriber, protocol) is decoded when the session closes and its CDRs are written.
  if req.op == 'update' then
    sess = { id = req.sessionId, acct = req.accountId, rgs = {} }
  else
    sess = cjson.decode(sf[1])
    sess.id = req.sessionId
    sess.acct = req.accountId
    sess.rgs = {}
  end
end

if sess == nil then
  if req.op == 'update' then return keepAnswer(KEYS[9], req.idemTtl, { status = 'unknownSession', results = {} }) end
  local anyUsage = false
  for _, it in ipairs(items) do
    for _, u in ipairs(it.used or {}) do if num(u.u) > 0 then anyUsage = true end end
  end
  if req.op == 'terminate' and not anyUsage then
    -- e.g. Kamailio's CCR-T after a refused CCR-I: answer it, change nothing.
    local results = {}
    for _, it in ipairs(req.items) do results[#results + 1] = { key = it.key, kind = 'committed' } end
    return keepAnswer(KEYS[9], req.idemTtl, { status = 'ok', results = results, charged = '0', closed = false, cdrs = 0 })
  end
  -- The session id and account are in the key: the stored meta leaves them out. n, the account's
  -- session number, keeps the CDR ids of two sessions apart that share id and start (a Session-Id
  -- used again within a millisecond): the billing store keeps one row per CDR id.
  local n = redis.call('HINCRBY', KEYS[1], 'sn', 1)
  redis.call('HSET', KEYS[4], 'm', cjson.encode({ sub = req.sub, proto = req.proto, start = now, n = n }))
  sess = { id = req.sessionId, acct = req.accountId, sub = req.sub, proto = req.proto, start = now, n = n, rgs = {} }
  isNew = true
end
-- A front end that keeps its own record of the session (RADIUS: the cumulative NAS counters) reads
-- and writes it here, in the same step as the charge, so that a report needs one round trip; the
-- counters it computed its usage from are checked first.
local atRec = nil
-- (a terminate too, of a session that was open: a Stop computed from counters another node has
-- moved since must not charge that usage twice; a late terminate of a reaped session has no counters to check)
if req.at ~= nil and (req.op == 'update' or (req.op == 'terminate' and not isNew)) then
  atRec = redis.call('HMGET', KEYS[11], unpack(req.at.r))
  if atRec[1] and atRec[1] ~= '' then return cjson.encode({ status = 'stateChanged' }) end
  local it = req.items[1]
  local rg = nil
  if sf[1 + RG0] then rg = decodeRg(sf[1 + RG0], it.key) end
  local e = req.at.e
  local ei, eo, eu = (e.i or 0) + 0, (e.o or 0) + 0, (e.u or 0) + 0
  if rg == nil then
    if ei ~= 0 or eo ~= 0 or eu ~= 0 then return cjson.encode({ status = 'stateChanged' }) end
  elseif (rg.inO or 0) ~= ei or (rg.outO or 0) ~= eo or (rg.used or 0) ~= eu then
    return cjson.encode({ status = 'stateChanged' })
  else
    sess.rgs[it.key] = rg
  end
end
local touched = {}
local flags = {}
if sf[2] then flags = cjson.decode(sf[2]) end
local wasFlagged = next(flags) ~= nil

local bk = loadBuckets(KEYS[2])
local reservedDelta = 0
local chargedNow = 0
local results = {}
-- set when an amount or count passes LIMIT (lib.lua): the request is then refused, nothing written
local overflow = false

for idx = 1, #items do
  local it = items[idx]
  local rg = sess.rgs[it.key]
  if rg == nil and sf[idx + RG0] then rg = decodeRg(sf[idx + RG0], it.key) end
  if rg == nil then
    -- counters, bucket maps and flags start nil (no defaults in the stored state, see encodeRg)
    rg = { key = it.key, rg = it.rg, sid = it.sid, ctx = it.ctx, svc = it.svc, unit = it.unit, dest = it.dest, destName = it.destName }
  end
  sess.rgs[it.key] = rg
  touched[#touched + 1] = it.key
  rg.pv = it.pv
  -- what bucket scopes match: the service, and its destination for destination-limited allowances
  local scopeKey = rg.svc
  if rg.dest ~= nil and rg.dest ~= NULL then scopeKey = rg.svc .. '|' .. rg.dest end
  rg.tname = it.tariff and it.tariff.name or rg.tname
  local grantedBefore = 0
  -- Usage is rated with the tariff its grant was made under (a report arriving just after a
  -- band change still covers units granted before it); only usage the client marks as after a
  -- Tariff-Time-Change takes the tariff valid now.
  local grantTariff = nil
  if rg.res ~= nil and rg.res ~= NULL then
    grantedBefore = rg.res.n or 0
    if rg.res.t ~= nil and rg.res.t ~= NULL then grantTariff = rg.res.t
    elseif rg.seg ~= nil then grantTariff = rg.seg.t end
  end
  -- The unit buckets the last grant came from pay for its usage first (takeUnits' `held`).
  local held = nil
  if rg.res ~= nil and rg.res ~= NULL then held = rg.res.ub end
  reservedDelta = reservedDelta - releaseReservation(bk, rg)

  -- Fair usage: octets past the cycle limit are priced with the fair-usage tariff (action price),
  -- so a report crossing the limit is split in two pieces.
  local fup = it.fup
  if fup == NULL then fup = nil end
  local pieces = {}
  local used = it.used or {}
  for i = 1, #used do
    local u = used[i]
    local units = (u.u or 0) + 0
    if units > 0 then
      if fup ~= nil then
        local below = max(0, min(units, num(fup.lim) - fupO))
        fupO = fupO + units
        if fup.act == 'price' and not isNil(fup.t) and below < units then
          if below > 0 then pieces[#pieces + 1] = { u = below, a = u.a } end
          pieces[#pieces + 1] = { u = units - below, ft = fup.t }
        else
          pieces[#pieces + 1] = { u = units, a = u.a }
        end
      else
        pieces[#pieces + 1] = { u = units, a = u.a }
      end
      local ui, uo = u.i, u.o
      if ui ~= nil and ui ~= 0 then rg.inO = (rg.inO or 0) + ui end
      if uo ~= nil and uo ~= 0 then rg.outO = (rg.outO or 0) + uo end
    end
  end

  -- Debit what was used, segment by segment (a Tariff-Time-Change splits usage in two).
  local usedNow = 0
  for i = 1, #pieces do
    local u = pieces[i]
    local units = u.u
    if units > 0 then
      usedNow = usedNow + units
      rg.used = (rg.used or 0) + units
      local taken, parts = 0, nil
      if bk.units then taken, parts = takeUnits(bk, rg.unit, scopeKey, now, units, held) end
      if parts ~= nil and #parts > 0 then
        if rg.byU == nil then rg.byU = {} end
        addParts(rg.byU, parts)
        rg.bu = (rg.bu or 0) + taken
      end
      local m = units - taken
      if m > 0 then
        -- Only the current tariff segment is kept: cumulative units and money under one tariff,
        -- so increments apply to the segment's running total; a new tariff starts a new one.
        local seg = rg.seg
        local t = it.tariff
        if u.ft ~= nil then
          t = u.ft
        elseif u.a == nil then
          if grantTariff ~= nil then t = grantTariff elseif seg ~= nil then t = seg.t end
        end
        if seg == nil or seg.t.id ~= t.id then
          seg = { t = compactTariff(t), first = (num(rg.nseg) == 0) or nil, u = 0, c = 0 }
          rg.seg = seg
          rg.nseg = num(rg.nseg) + 1
        end
        local newC, newX = costTax(seg.t, seg.first, seg.u + m)
        local delta = newC - seg.c
        local oldX = seg.x or 0
        if newX ~= oldX then
          rg.tax = (rg.tax or 0) + newX - oldX
          seg.x = newX
        end
        seg.u = seg.u + m
        seg.c = newC
        if newC > LIMIT or newC < -LIMIT or seg.u > LIMIT then overflow = true end
        if delta > 0 then
          local mparts, _, over = takeMoney(bk, scopeKey, now, creditLimit, delta, true)
          if #mparts > 0 then
            if rg.byB == nil then rg.byB = {} end
            addParts(rg.byB, mparts)
          end
          rg.charged = (rg.charged or 0) + delta
          if over > 0 then rg.over = (rg.over or 0) + over end
          chargedNow = chargedNow + delta
        end
      end
    end
  end
  if usedNow > grantedBefore then rg.overuse = true end
  -- (used, inO and outO only grow from 0; charged and tax may go below it)
  local charged, tax = rg.charged or 0, rg.tax or 0
  if (rg.used or 0) > LIMIT or (rg.inO or 0) > LIMIT or (rg.outO or 0) > LIMIT or charged > LIMIT or charged < -LIMIT or tax > LIMIT or tax < -LIMIT then
    overflow = true
  end

  local itReq = it.req or 0
  local want = itReq
  if want == 0 then want = it.dq or 0 end
  local fupCrossed = fup ~= nil and fupO >= num(fup.lim)
  -- Below the fair-usage limit a grant stops at it, so the crossing falls on a grant boundary.
  if fup ~= nil and not fupCrossed and want > num(fup.lim) - fupO then want = num(fup.lim) - fupO end
  -- A tariff boundary ahead: no more units than fit before it.
  if it.cap ~= nil and it.cap ~= NULL and want > num(it.cap) then want = num(it.cap) end
  if req.op == 'terminate' or itReq < 0 then
    results[#results + 1] = { key = it.key, kind = 'committed' }
  elseif not active then
    results[#results + 1] = { key = it.key, kind = 'denied', reason = af[3] }
    rg.refused = true
  else
    -- Grant sizing: unit buckets of the right scope first, then money at the rated price,
    -- capped by what the balance affords (postpaid: down to minus the credit limit).
    local t = it.tariff
    if fupCrossed and fup.act == 'price' and not isNil(fup.t) then t = fup.t end
    local seg = rg.seg
    local su, sc, sfirst = 0, 0, ((rg.nseg or 0) == 0)
    if seg ~= nil and seg.t.id == t.id then su, sc, sfirst = seg.u, seg.c, seg.first end
    local availU = 0
    if bk.units then availU = unitsAvailable(bk, rg.unit, scopeKey, now) end
    local fromU = min(availU, want)
    local rest = want - fromU
    local avM = moneyAvailable(bk, scopeKey, now, creditLimit)
    local money = 0
    local final = false
    if rest > 0 then
      money = cost(t, sfirst, su + rest) - sc
      if money > avM then
        rest = min(rest, affordableUnits(t, sfirst, su, sc, avM))
        money = rest > 0 and (cost(t, sfirst, su + rest) - sc) or 0
        final = true
      end
    end
    if money < 0 then money = 0 end
    local grant = fromU + rest
    if grant <= 0 then
      results[#results + 1] = { key = it.key, kind = 'creditLimitReached' }
      rg.refused = true
      rg.fui = nil
    else
      local ub = nil
      if fromU > 0 then
        local _, parts = takeUnits(bk, rg.unit, scopeKey, now, fromU)
        ub = parts
      end
      local mb = {}
      if money > 0 then mb = takeMoney(bk, scopeKey, now, creditLimit, money, false) end
      reservedDelta = reservedDelta + sumParts(mb)
      -- The grant's tariff is stored only when it is not the current segment's (it is then needed
      -- to rate the usage reported against this grant).
      rg.res = { n = grant }
      if ub ~= nil and #ub > 0 then rg.res.ub = ub end
      if #mb > 0 then rg.res.mb = mb end
      if seg == nil or seg.t.id ~= t.id then rg.res.t = compactTariff(t) end
      noteGranted(rg.unit, grant)
      -- The last affordable units: nothing left in unit buckets and no money for one more increment.
      -- What is left follows from what was available: takeUnits took fromU of availU, and takeMoney
      -- (never forced here) exactly `money`, which not being final means avM covered.
      if not final and availU == fromU and affordableUnits(t, sfirst, su + rest, sc + money, avM - money) == 0 then
        final = true
      end
      rg.fui = final or nil
      rg.refused = nil
      -- A grant from an allowance is valid no longer than the allowance: the client reports when it
      -- ends, and what it uses after that is rated anew.
      local gv = (it.val ~= nil and it.val ~= NULL) and it.val or validity
      if ub ~= nil and #ub > 0 then
        local ends = earliestEnd(bk, ub)
        if ends ~= nil then gv = min(gv, max(1, ceil((ends - now) / 1000))) end
      end
      results[#results + 1] = {
        key = it.key, kind = 'granted', units = grant, validity = gv, finalUnit = final or nil,
      }
      if fupCrossed then results[#results].fup = { a = fup.act, f = fup.fid, r = fup.url } end
    end
  end
end

if overflow or outOfRange(chargedNow) or outOfRange(fupO) or bucketsOutOfRange(bk) then
  -- The meta of a session this request would have opened is the only write so far.
  if isNew then redis.call('DEL', KEYS[4]) end
  return cjson.encode({ status = 'outOfRange' })
end

local closed = false
local cdrs = 0
local chargedText = nil
if chargedNow ~= 0 then chargedText = fmt(chargedNow) end
local answerText = nil
local member = sess.acct .. '|' .. sess.id
if req.op == 'terminate' then
  -- Every rating group of the session, not only those in this request.
  local all = redis.call('HGETALL', KEYS[4])
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 'r:' then
      local k = string.sub(f, 3)
      if sess.rgs[k] == nil then sess.rgs[k] = decodeRg(all[i + 1], k) end
    end
  end
  for _, rg in pairs(sess.rgs) do reservedDelta = reservedDelta - releaseReservation(bk, rg) end
  cdrs = writeCdrs(KEYS[8], sess, { currency = af[9] }, now, req.node, req.closeReason or 'terminated')
  redis.call('DEL', KEYS[4])
  -- (numbered requests only: Diameter; see the stale check at the top)
  if req.sq ~= nil then
    local lastSq = num(req.sq)
    if sf[4] and num(sf[4]) > lastSq then lastSq = num(sf[4]) end
    redis.call('HSET', KEYS[4], 'sq', fmt(lastSq))
    redis.call('EXPIRE', KEYS[4], fmt(num(req.idemTtl)))
  end
  redis.call('SREM', KEYS[5], sess.id)
  redis.call('SREM', KEYS[6], sess.id)
  redis.call('ZREM', KEYS[7], member)
  if not isNew then redis.call('HINCRBY', KEYS[10], 'sessions:' .. (sess.proto or '-'), -1) end
  closed = true
else
  local deadline = now + (validity + (req.grace or 0)) * 1000
  local fields = { 'u', fmt(now), 'dl', fmt(deadline) }
  for i = 1, #touched do
    local k = touched[i]
    local rg = sess.rgs[k]
    if rg.fui or rg.refused then flags[k] = true else flags[k] = nil end
    fields[#fields + 1] = 'r:' .. k
    fields[#fields + 1] = encodeRg(rg)
  end
  local reauth = next(flags) ~= nil
  if reauth or wasFlagged then
    fields[#fields + 1] = 'fl'
    fields[#fields + 1] = reauth and cjson.encode(flags) or '{}'
  end
  -- Stored with the session: defaults (status ok, nothing charged, not closed, no CDRs, finalUnit
  -- false: a grant's result leaves it out) left out, the caller reads them as such.
  answerText = cjson.encode({ results = results, charged = chargedText })
  -- (slot digits and field names as constants: a number in a concatenation is printed with '%.14g')
  local answerField = 'a0'
  local q = '0' .. req.requestId
  if qSlot == 0 then
    answerField = 'a1'
    q = '1' .. req.requestId .. '\0' .. qLatest
  elseif qSlot == 1 then
    q = '0' .. req.requestId .. '\0' .. qLatest
  end
  fields[#fields + 1] = 'q'
  fields[#fields + 1] = q
  if req.sq ~= nil and num(req.sq) >= num(sf[4]) then
    fields[#fields + 1] = 'sq'
    fields[#fields + 1] = fmt(num(req.sq))
  end
  fields[#fields + 1] = answerField
  fields[#fields + 1] = answerText
  if req.rt ~= nil then
    fields[#fields + 1] = 'rt'
    fields[#fields + 1] = req.rt
  end
  redis.call('HSET', KEYS[4], unpack(fields))
  if isNew then
    redis.call('SADD', KEYS[5], sess.id)
    redis.call('HINCRBY', KEYS[10], 'sessions:' .. (sess.proto or '-'), 1)
  end
  if reauth ~= wasFlagged or isNew then
    if reauth then redis.call('SADD', KEYS[6], sess.id) else redis.call('SREM', KEYS[6], sess.id) end
  end
  -- The reaper's index holds a lower bound of the deadline: written when the session opens, and
  -- moved forward by the reaper itself when it finds `dl` (written above) later than the index
  -- said. An update so spares one ZADD into a shard-wide sorted set.
  if isNew then redis.call('ZADD', KEYS[7], deadline, member) end
end
-- (with a terminate, the front end's closed mark goes with the close: no node can take a late
-- report of the session for an open one in between)
if atRec ~= nil then
  if #req.at.w > 0 then redis.call('HSET', KEYS[11], unpack(req.at.w)) end
  if req.at.t ~= nil then redis.call('PEXPIRE', KEYS[11], fmt(num(req.at.t))) end
end

saveBuckets(KEYS[2], bk)
flushGranted(KEYS[10])
if reservedDelta ~= 0 then
  redis.call('HINCRBY', KEYS[1], 'reserved', fmt(reservedDelta))
  redis.call('HINCRBY', KEYS[10], 'reserved', fmt(reservedDelta))
end
if chargedText ~= nil then redis.call('HINCRBY', KEYS[3], 'charged', chargedText) end
if req.cy ~= nil and (fupO ~= fupO0 or af[10] ~= req.cy) then redis.call('HSET', KEYS[1], 'fupC', req.cy, 'fupO', fmt(fupO)) end

if answerText ~= nil then
  if atRec ~= nil then
    local rg = sess.rgs[req.items[1].key]
    return answerText .. '\n' .. cjson.encode({ f = atRec, c = { fmt(rg.inO or 0), fmt(rg.outO or 0), fmt(rg.used or 0) } })
  end
  return answerText
end
return keepAnswer(KEYS[9], req.idemTtl, { status = 'ok', results = results, charged = chargedText or '0', closed = closed, cdrs = cdrs })
