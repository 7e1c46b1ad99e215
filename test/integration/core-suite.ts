import type { Test } from 'tap'
import { makeAccount, makeCore, allCdrs, money, TEST_OPTS, type Core } from '../helpers/core.js'
import type { RedisClient } from '../../src/balance/connect.js'
import type { ChargeAnswer, ItemOutcome } from '../../src/core/types.js'
import { keys, radiusKeys } from '../../src/balance/keys.js'
import { decodeRatingGroup } from '../../src/balance/store.js'

/** The charging-core suite, run against a single Redis (core-session.test.ts) and a 3-master Cluster (core-cluster.test.ts). */
export function coreSuite(t: Test, env: () => { core: Core; client: RedisClient }): void {
  const VOICE = '32260@3gpp.org'
  const DATA = '32251@3gpp.org'
  const SMS = '32274@3gpp.org'

  function ok(a: ChargeAnswer): Extract<ChargeAnswer, { kind: 'ok' }> {
    if (a.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(a)}`)
    return a
  }
  const first = (a: ChargeAnswer): ItemOutcome => ok(a).outcomes[0]

  t.test('voice session I → U → T: reservations, 60/1 increments, balances at each step, one CDR', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const sid = 'voice-1'
    const i = await env().core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter',
      items: [{ serviceContext: `ext.01.001.8.${VOICE}`, ratingGroup: 100, requested: 'default' }] })
    t.match(first(i), { kind: 'granted', unit: 'seconds', units: 60, validity: 900, finalUnit: false, threshold: 12 })
    // 60 s at 0.10/min is reserved out of the balance.
    t.same(await money(env().core.store, accountId), { balance: 900_000n, reserved: 100_000n })

    const u = await env().core.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities: [], protocol: 'diameter',
      items: [{ serviceContext: VOICE, ratingGroup: 100, requested: 'default', used: [{ units: 30 }] }] })
    t.match(first(u), { kind: 'granted', units: 60 })
    // 30 s used bills the 60 s first increment (0.10); 60 s more brings the call to 90 s = 0.15.
    t.equal(ok(u).charged, 100_000n)
    t.same(await money(env().core.store, accountId), { balance: 850_000n, reserved: 50_000n })

    const term = await env().core.charging.terminate({ sessionId: sid, requestId: `${sid}/2`, identities: [], protocol: 'diameter',
      items: [{ serviceContext: VOICE, ratingGroup: 100, used: [{ units: 45 }] }] })
    t.equal(ok(term).closed, true)
    t.equal(ok(term).cdrs, 1)
    // 75 s in all at 1 s increments after the first minute: 0.125.
    t.same(await money(env().core.store, accountId), { balance: 875_000n, reserved: 0n })
    const cdrs = (await allCdrs(env().client)).filter((c) => c.sessionId === sid)
    t.equal(cdrs.length, 1)
    t.match(cdrs[0], { account: accountId, total: '125000', used: '75', service: 'voice', closeReason: 'terminated', overage: false, unit: 'seconds' })
    t.same(cdrs[0].moneyBuckets, { main: '125000' })
    t.same(await env().core.store.listSessions(accountId), [])
    // The index entry stays for the idempotency window (a retransmission without identities finds the account).
    const ttl = await env().client.ttl(keys.sessionIndex(sid))
    t.ok(ttl > 0 && ttl <= TEST_OPTS.idempotencySeconds, `the index entry expires within the idempotency window (${ttl} s)`)
  })

  t.test('rating-group state: MessagePack without defaults; a JSON state written before it is updated and closed exactly', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const { charging, store } = env().core
    const sid = 'voice-upgrade'
    await charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter',
      items: [{ serviceContext: VOICE, ratingGroup: 100, requested: 'default' }] })
    const rgField = async (): Promise<[string, Buffer]> => {
      const h = await env().client.hgetallBuffer(keys.session(accountId, sid))
      const names = Object.keys(h).filter((f) => f.startsWith('r:'))
      t.equal(names.length, 1, 'one rating group in the session')
      return [names[0], h[names[0]]]
    }
    const [name, packed] = await rgField()
    t.not(packed[0], 0x7b, 'stored as MessagePack, not JSON')
    const opened = decodeRatingGroup(packed)
    t.match(opened, { unit: 'seconds', svc: 'voice', res: { n: 60, mb: [['main', 100_000]] } })
    // Nothing at its default is stored: no zero counters, empty maps or false flags.
    for (const k of ['used', 'inO', 'outO', 'charged', 'bu', 'over', 'tax', 'nseg', 'byB', 'byU', 'fui', 'refused', 'key']) t.notOk(k in opened, `no ${k}`)

    // The state as the JSON-storing version wrote it: an upgrade must not lose or double a charge.
    await env().client.hset(keys.session(accountId, sid), name, JSON.stringify(opened))
    const [listed] = await store.listSessions(accountId)
    t.match(listed.rgs, { [name.slice(2)]: { res: { n: 60 } } }, 'listed from the JSON state')
    const u = await charging.update({ sessionId: sid, requestId: `${sid}/1`, identities: [], protocol: 'diameter',
      items: [{ serviceContext: VOICE, ratingGroup: 100, requested: 'default', used: [{ units: 30 }] }] })
    t.equal(ok(u).charged, 100_000n, 'the JSON reservation released, the first minute charged')
    t.same(await money(store, accountId), { balance: 850_000n, reserved: 50_000n })
    const [, repacked] = await rgField()
    t.not(repacked[0], 0x7b, 'written back as MessagePack')
    const updated = decodeRatingGroup(repacked)
    t.match(updated, { used: 30, charged: 100_000, nseg: 1, byB: { main: 100_000 }, seg: { first: true, u: 30, c: 100_000 }, res: { n: 60 } })
    // A voice call has no octets, no unit buckets, no overdraft and no tax: none of it is stored.
    for (const k of ['inO', 'outO', 'bu', 'over', 'tax', 'byU', 'fui', 'refused', 'key']) t.notOk(k in updated, `no ${k} after the update`)
    t.notOk('x' in (updated.seg as object) || 'name' in ((updated.seg as { t: object }).t), 'the segment keeps a compact tariff and no zero tax')
    const term = await charging.terminate({ sessionId: sid, requestId: `${sid}/2`, identities: [], protocol: 'diameter',
      items: [{ serviceContext: VOICE, ratingGroup: 100, used: [{ units: 45 }] }] })
    t.equal(ok(term).cdrs, 1)
    t.same(await money(store, accountId), { balance: 875_000n, reserved: 0n })
    const cdr = (await allCdrs(env().client)).find((c) => c.sessionId === sid)!
    t.match(cdr, { total: '125000', used: '75', unitBuckets: {}, moneyBuckets: { main: '125000' }, overage: false, tax: '0', unitsFromBuckets: '0' })
  })

  t.test('two rating groups in one request: one out of credit, the other granted from its unit bucket', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 0n, plan: 'demo' })
    await env().core.store.addBucket(accountId, { kind: 'octets', amount: 1_000_000n, priority: 10, scope: ['data'] })
    const a = await env().core.charging.initiate({ sessionId: 'two-rg', requestId: 'two-rg/0', identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter',
      items: [
        { serviceContext: DATA, ratingGroup: 10, requested: 'default' },
        { serviceContext: VOICE, ratingGroup: 20, requested: 'default' },
      ] })
    const [data, voice] = ok(a).outcomes
    // Only 1,000,000 octets in the bucket and no money: the grant is capped and is the final unit.
    t.match(data, { kind: 'granted', unit: 'octets', units: 1_000_000, finalUnit: true })
    t.match(voice, { kind: 'creditLimitReached' })
    const buckets = await env().core.store.buckets(accountId)
    t.equal(buckets.find((b) => b.kind === 'octets')!.amount, 0n, 'the granted octets are held out of the bucket')
  })

  t.test('unit buckets before money; priority then earliest expiry; expired and future buckets unused', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const now = Date.now()
    await env().core.store.addBucket(accountId, { id: 'late', kind: 'seconds', amount: 100n, priority: 5, to: now + 86_400_000 })
    await env().core.store.addBucket(accountId, { id: 'soon', kind: 'seconds', amount: 30n, priority: 5, to: now + 3_600_000 })
    await env().core.store.addBucket(accountId, { id: 'prio', kind: 'seconds', amount: 10n, priority: 1 })
    await env().core.store.addBucket(accountId, { id: 'expired', kind: 'seconds', amount: 1000n, priority: 0, to: now - 1 })
    await env().core.store.addBucket(accountId, { id: 'future', kind: 'seconds', amount: 1000n, priority: 0, from: now + 3_600_000 })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const r = await env().core.charging.initiate({ sessionId: 'ub', requestId: 'ub/0', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, requested: 60 }] })
    t.match(first(r), { kind: 'granted', units: 60 })
    const term = await env().core.charging.terminate({ sessionId: 'ub', requestId: 'ub/1', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, used: [{ units: 50 }] }] })
    t.equal(ok(term).charged, 0n, 'no money while unit buckets cover the usage')
    const b = Object.fromEntries((await env().core.store.buckets(accountId)).map((x) => [x.id, x.amount]))
    t.same(b, { prio: 0n, soon: 0n, late: 90n, expired: 1000n, future: 1000n, main: 1_000_000n })
    const cdr = (await allCdrs(env().client)).find((c) => c.sessionId === 'ub')!
    t.same(cdr.unitBuckets, { prio: '10', soon: '30', late: '10' })
    t.equal(cdr.total, '0')
  })

  t.test('usage beyond the grant is still charged, into overdraft, and flagged on the CDR', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 100_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const i = await env().core.charging.initiate({ sessionId: 'over', requestId: 'over/0', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, requested: 'default' }] })
    t.match(first(i), { kind: 'granted', units: 60, finalUnit: true })
    await env().core.charging.terminate({ sessionId: 'over', requestId: 'over/1', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, used: [{ units: 120 }] }] })
    t.same(await money(env().core.store, accountId), { balance: -100_000n, reserved: 0n })
    const cdr = (await allCdrs(env().client)).find((c) => c.sessionId === 'over')!
    t.match(cdr, { total: '200000', overage: true, used: '120' })
  })

  t.test('postpaid goes down to minus its credit limit and no further', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { type: 'postpaid', creditLimit: 150_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const i = await env().core.charging.initiate({ sessionId: 'pp', requestId: 'pp/0', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, requested: 600 }] })
    // 150,000 micro buys 90 s (60 s first increment + 30 × 1 s).
    t.match(first(i), { kind: 'granted', units: 90, finalUnit: true })
    t.same(await money(env().core.store, accountId), { balance: -150_000n, reserved: 150_000n })
    const again = await env().core.charging.initiate({ sessionId: 'pp2', requestId: 'pp2/0', identities: ids, protocol: 'diameter',
      items: [{ serviceContext: VOICE, requested: 60 }] })
    t.match(first(again), { kind: 'creditLimitReached' })
  })

  t.test('two sessions with one id opened in the same millisecond get CDRs with different ids (the billing store keeps one row per id)', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const at = Date.now()
    // A late CCR-T of an unknown session opens and closes it in one step; the same Session-Id again at the same time.
    for (const [n, seconds] of [[1, 60], [2, 120]] as const) {
      const a = await env().core.charging.terminate({ sessionId: 'twice', requestId: `twice/t${n}`, eventTime: at, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: seconds }] }] })
      t.equal(a.kind, 'ok')
    }
    const cdrs = (await allCdrs(env().client)).filter((c) => c.sessionId === 'twice')
    t.equal(new Set(cdrs.map((c) => c.id)).size, 2, `two CDR ids: ${cdrs.map((c) => c.id).join(', ')}`)
    t.same(cdrs.map((c) => c.total).sort(), ['100000', '200000'], 'each with its own charge')
    t.same(await money(env().core.store, accountId), { balance: 700_000n, reserved: 0n })
  })

  t.test('two accounts with the same session or request id in the same millisecond get CDRs with different ids', async (t) => {
    // Found while looking for why the 1,000,000-packet fuzz (seed 7) broke the money audit (that was the next test):
    // an event or a session of two subscribers with one Session-Id and request number within one millisecond made
    // two CDRs with one id; the billing store keeps the first, so the second account's charge had no CDR there.
    const a = await makeAccount(env().core.store, { balance: 1_000_000n })
    const b = await makeAccount(env().core.store, { balance: 1_000_000n })
    const at = Date.now()
    for (const acct of [a, b]) {
      const ids = [{ kind: 'msisdn' as const, value: acct.msisdn }]
      const ev = await env().core.charging.event({ requestId: 'shared-ev/0', eventTime: at, identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 1 }] })
      t.equal(ev.kind, 'ok')
      const s = await env().core.charging.terminate({ sessionId: 'shared-sess', requestId: 'shared-sess/t', eventTime: at, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 60 }] }] })
      t.equal(s.kind, 'ok')
    }
    const cdrs = (await allCdrs(env().client)).filter((c) => c.id.startsWith('ev#shared-ev/0#') || c.sessionId === 'shared-sess')
    t.equal(cdrs.length, 4, 'an event and a session CDR per account')
    t.equal(new Set(cdrs.map((c) => c.id)).size, 4, `four CDR ids, so the billing store keeps all four: ${cdrs.map((c) => c.id).join(', ')}`)
    for (const acct of [a, b]) {
      t.same(cdrs.filter((c) => c.account === acct.accountId).map((c) => c.total).sort(), ['100000', '50000'], 'each account its own event and call')
      t.same(await money(env().core.store, acct.accountId), { balance: 850_000n, reserved: 0n })
    }
  })

  t.test('an event naming one service twice charges both, each with a CDR of its own', async (t) => {
    // Found by the 1,000,000-packet fuzz (seed 7): a CCR-EVENT with its MSCC duplicated debited two SMS under one CDR
    // id; the billing store kept one row, and 0.05 EUR was charged without a CDR (the money audit broke by 50,000 micro).
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const items = [{ serviceContext: SMS, units: 1 }, { serviceContext: SMS, units: 1 }, { serviceContext: SMS, units: 2 }]
    const a = await env().core.charging.event({ requestId: 'twice-ev/0', identities: ids, protocol: 'diameter', items })
    t.equal(a.kind, 'ok')
    const cdrs = (await allCdrs(env().client)).filter((c) => c.id.startsWith('ev#twice-ev/0#'))
    t.equal(cdrs.length, 3)
    t.equal(new Set(cdrs.map((c) => c.id)).size, 3, `three CDR ids: ${cdrs.map((c) => c.id).join(', ')}`)
    t.same(cdrs.map((c) => c.total).sort(), ['100000', '50000', '50000'])
    t.same(await money(env().core.store, accountId), { balance: 800_000n, reserved: 0n })
    const amounts = a.kind === 'ok' ? a.outcomes.map((o) => (o.kind === 'granted' ? `${o.units} for ${o.amount}` : o.kind)) : []
    t.same(amounts, ['1 for 50000', '1 for 50000', '2 for 100000'], 'each item its own outcome, in request order')
    const again = await env().core.charging.event({ requestId: 'twice-ev/0', identities: ids, protocol: 'diameter', items })
    t.same(again, a, 'a retransmission: the stored answer')
    t.equal((await allCdrs(env().client)).filter((c) => c.id.startsWith('ev#twice-ev/0#')).length, 3, 'and no CDR more')
  })

  t.test('idempotency: the same request id returns the stored answer and changes nothing', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    await env().core.charging.initiate({ sessionId: 'idem', requestId: 'idem/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    const req = { sessionId: 'idem', requestId: 'idem/1', identities: ids, protocol: 'diameter' as const, items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 60 }] }] }
    const a1 = await env().core.charging.update(req)
    const m1 = await money(env().core.store, accountId)
    const a2 = await env().core.charging.update(req)
    t.same(a2, a1)
    t.same(await money(env().core.store, accountId), m1)
    const ev = { requestId: 'sms-1', identities: ids, protocol: 'diameter' as const, items: [{ serviceContext: SMS, units: 1 }] }
    const e1 = await env().core.charging.event(ev)
    const e2 = await env().core.charging.event(ev)
    t.same(e2, e1)
    t.equal((await allCdrs(env().client)).filter((c) => c.id.startsWith('ev#sms-1#') && c.id.endsWith('#rg:-:si:-')).length, 1, 'one CDR for a repeated event')
    t.same(await money(env().core.store, accountId), { balance: m1.balance - 50_000n, reserved: m1.reserved })
    // The session keeps its last two answers: a retransmission overtaken by the next request is
    // still answered from the store.
    const req2 = { ...req, requestId: 'idem/2', items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 30 }] }] }
    const next = await env().core.charging.update(req2)
    t.notSame(next, a1, 'a different answer (another charge)')
    const m2 = await money(env().core.store, accountId)
    t.same(await env().core.charging.update(req), a1, 'idem/1 after idem/2: the first answer again')
    t.same(await env().core.charging.update(req2), next, 'idem/2 again: its own answer')
    t.same(await money(env().core.store, accountId), m2, 'nothing charged twice')
    // A third request: the two latest are kept, whichever slot each landed in.
    const req3 = { ...req, requestId: 'idem/3', items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 1 }] }] }
    const third = await env().core.charging.update(req3)
    const m3a = await money(env().core.store, accountId)
    t.same(await env().core.charging.update(req2), next, 'idem/2 after idem/3')
    t.same(await env().core.charging.update(req3), third, 'idem/3 again')
    t.same(await money(env().core.store, accountId), m3a, 'nothing charged twice')
    // Once the session is closed its last answer is kept under its own key for at least 5 minutes.
    const term = { sessionId: 'idem', requestId: 'idem/t', identities: ids, protocol: 'diameter' as const, items: [{ serviceContext: VOICE, used: [{ units: 30 }] }] }
    const t1 = await env().core.charging.terminate(term)
    const m3 = await money(env().core.store, accountId)
    t.same(await env().core.charging.terminate(term), t1, 'a retransmitted terminate gets the same answer')
    t.same(await money(env().core.store, accountId), m3)
    const ttl = await env().client.ttl(keys.idempotency(accountId, 'idem/t'))
    t.ok(ttl >= 300, `idempotency answer kept at least 5 minutes (ttl ${ttl})`)
  })

  t.test('a late copy of a numbered request the session has moved past charges nothing (failover through a stalled node)', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const c = env().core.charging
    const step = (n: number, used: number) => ({ sessionId: 'late', requestId: `late/${n}`, sequence: n, identities: ids, protocol: 'diameter' as const, items: [{ serviceContext: VOICE, requested: 60, used: [{ units: used }] }] })
    await c.initiate({ ...step(0, 0), items: [{ serviceContext: VOICE, requested: 60 }] })
    const first = await c.update(step(1, 60))
    await c.update(step(2, 30))
    await c.update(step(3, 10))
    const m = await money(env().core.store, accountId)
    t.same(await c.update(step(1, 60)), { kind: 'staleRequest' }, 'request 1 after 3: a late copy, refused')
    t.same(await money(env().core.store, accountId), m, 'nothing charged again')
    t.notSame(first, { kind: 'staleRequest' })
    const again3 = await c.update(step(3, 10))
    t.equal(again3.kind, 'ok', 'the latest request is still answered from its stored answer')
    t.same(await money(env().core.store, accountId), m)
    t.equal((await c.update(step(4, 5))).kind, 'ok', 'the next number goes on')
    await c.terminate({ ...step(5, 0), items: [{ serviceContext: VOICE, used: [{ units: 0 }] }] })
  })

  t.test('an update with the front end\'s record attached: refused unless the counters are those expected, the record read and written in the same step', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const c = env().core.charging
    const redis = env().client
    const rk = radiusKeys.session(accountId, 'att')
    const req = (n: number, used: number, expectUsed: number) => ({
      sessionId: 'att', requestId: `att/${n}`, identities: ids, protocol: 'radius' as const,
      items: [{ serviceContext: VOICE, requested: 60, used: [{ units: used }] }],
      attached: { key: rk, expect: { inO: 0, outO: 0, used: expectUsed }, read: ['x', 'a'], write: ['c', `total-${n}`], ttlMs: 60_000 },
    })
    await c.initiate({ sessionId: 'att', requestId: 'att/0', identities: ids, protocol: 'radius', items: [{ serviceContext: VOICE, requested: 60 }] })
    await redis.hset(rk, 'a', '10.0.0.1')
    const m0 = await money(env().core.store, accountId)

    t.same(await c.update(req(1, 30, 5)), { kind: 'stateChanged' }, 'counters other than those expected: refused')
    t.same(await money(env().core.store, accountId), m0, 'nothing charged')
    t.equal(await redis.hget(rk, 'c'), null, 'nothing written')

    const u1 = ok(await c.update(req(1, 30, 0)))
    t.same(u1.attached, { fields: [null, '10.0.0.1'], counters: { inO: 0, outO: 0, used: 30 } }, 'the record as read, the counters after the charge')
    t.equal(await redis.hget(rk, 'c'), 'total-1', 'written with the charge')
    t.ok((await redis.pttl(rk)) > 50_000, 'expiry set')
    const m1 = await money(env().core.store, accountId)
    t.ok(m1.balance < m0.balance, 'charged')

    const again = ok(await c.update(req(1, 30, 0)))
    t.equal(again.attached, undefined, 'a retransmission gets its stored answer, without the record')
    t.same(await money(env().core.store, accountId), m1, 'charged once')

    await redis.hset(rk, 'x', '1:Stop')
    t.same(await c.update(req(2, 10, 30)), { kind: 'stateChanged' }, 'a closed record: refused')
    t.same(await money(env().core.store, accountId), m1, 'nothing charged')
    await redis.hset(rk, 'x', '')
    t.match(ok(await c.update(req(2, 10, 30))).attached, { counters: { used: 40 } }, 'open again, the expected counters: charged')
    await c.terminate({ sessionId: 'att', requestId: 'att/3', identities: ids, protocol: 'radius', items: [{ serviceContext: VOICE, used: [{ units: 0 }] }] })
  })

  t.test('update of an unknown session; terminate of a refused session changes nothing; unknown subscriber', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 0n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const u = await env().core.charging.update({ sessionId: 'nosuch', requestId: 'nosuch/1', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    t.same(u, { kind: 'unknownSession' })
    const i = await env().core.charging.initiate({ sessionId: 'refused', requestId: 'refused/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    t.match(first(i), { kind: 'creditLimitReached' })
    const term = await env().core.charging.terminate({ sessionId: 'refused', requestId: 'refused/1', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 0 }] }] })
    t.match(ok(term), { closed: true, cdrs: 0, charged: 0n })
    t.same(await money(env().core.store, accountId), { balance: 0n, reserved: 0n })
    const unknown = await env().core.charging.initiate({ sessionId: 'x', requestId: 'x/0', identities: [{ kind: 'msisdn', value: '999' }], protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    t.same(unknown, { kind: 'unknownSubscriber' })
  })

  t.test('the session index: written with the CCR-I\'s charging step, routes another node\'s update without identities, kept for the idempotency window after close', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const sid = 'indexed-1'
    const i = await env().core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    t.match(first(i), { kind: 'granted', units: 60 })
    t.equal(await env().core.store.sessionAccount(sid), accountId, 'the entry exists when the CCR-I is answered')
    // Another node: its own caches are empty, the update carries no identity.
    const other = await makeCore(env().client)
    const u = await other.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities: [], protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 60 }] }] })
    t.match(first(u), { kind: 'granted', units: 60 })
    const term = await other.charging.terminate({ sessionId: sid, requestId: `${sid}/2`, identities: [], protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 30 }] }] })
    t.equal(ok(term).closed, true)
    // The expiry is not awaited by the answer but leaves on the same connection before any later command.
    const ttl = await env().client.ttl(keys.sessionIndex(sid))
    t.ok(ttl > 0 && ttl <= TEST_OPTS.idempotencySeconds, `once the session is closed the entry expires within the idempotency window (${ttl} s)`)
    // A retransmitted CCR-T without identities, on a third node, gets its answer again.
    const third = await makeCore(env().client)
    const again = await third.charging.terminate({ sessionId: sid, requestId: `${sid}/2`, identities: [], protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 30 }] }] })
    t.same(again, term, 'the retransmission gets the first answer')
    t.same(await money(env().core.store, accountId), { balance: 850_000n, reserved: 0n }, '90 s at 0.10/min')
  })

  t.test('a request the billing store could not record (NUL, over-long, absurd usage) is refused before any balance moves', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const c = env().core.charging
    const ev = (over: object) => c.event({ requestId: 'inv-ev', identities: ids, protocol: 'api', items: [{ serviceContext: SMS, units: 1 }], ...over })
    t.match(await ev({ sessionId: 'sms\u0000x' }), { kind: 'invalidRequest', field: 'sessionId', reason: 'contains a NUL character' })
    t.match(await ev({ identities: [{ kind: 'msisdn', value: msisdn }, { kind: 'username', value: 'u'.repeat(257) }] }), { kind: 'invalidRequest', field: 'identities[1].username' })
    t.match(await ev({ items: [{ serviceContext: SMS, destination: `4670\u00001`, units: 1 }] }), { kind: 'invalidRequest', field: 'items[0].destination' })
    t.match(await ev({ items: [{ serviceContext: SMS, units: 2 ** 49 }] }), { kind: 'invalidRequest', field: 'items[0].units' })
    t.match(await c.initiate({ sessionId: 'x'.repeat(257), requestId: 'inv/0', identities: ids, protocol: 'api', items: [{ serviceContext: VOICE, requested: 60 }] }), { kind: 'invalidRequest', field: 'sessionId' })
    const i = await c.initiate({ sessionId: 'inv', requestId: 'inv/0', identities: ids, protocol: 'api', items: [{ serviceContext: VOICE, requested: 2 ** 60 }] })
    t.match(first(i), { kind: 'granted', units: 600 }, 'a huge request is only a wish: the balance sizes the grant')
    const after = await money(env().core.store, accountId)
    t.match(await c.update({ sessionId: 'inv', requestId: 'inv/1', identities: ids, protocol: 'api', items: [{ serviceContext: VOICE, used: [{ units: 2 ** 49 }] }] }), { kind: 'invalidRequest', field: 'items[0].used[0].units' })
    t.match(await c.update({ sessionId: 'inv', requestId: 'inv/1b', identities: ids, protocol: 'api', items: [{ serviceContext: VOICE, used: [{ units: 1, byUnit: { octets: 5, seconds: -1 } }] }] }), { kind: 'invalidRequest', field: 'items[0].used[0].byUnit.seconds' })
    t.same(await money(env().core.store, accountId), after, 'nothing moved')
    await c.terminate({ sessionId: 'inv', requestId: 'inv/2', identities: ids, protocol: 'api', items: [{ serviceContext: VOICE, used: [{ units: 60 }] }] })
    t.same(await money(env().core.store, accountId), { balance: 900_000n, reserved: 0n }, 'the real minute is charged')
  })

  t.test('a barred account is denied new grants but its reported usage is still charged', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    await env().core.charging.initiate({ sessionId: 'bar', requestId: 'bar/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    await env().core.store.updateAccount(accountId, { status: 'barred' })
    const u = await env().core.charging.update({ sessionId: 'bar', requestId: 'bar/1', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 60 }] }] })
    t.match(first(u), { kind: 'denied', reason: 'barred' })
    t.same(await money(env().core.store, accountId), { balance: 900_000n, reserved: 0n })
  })

  t.test('rating failure for a service the plan does not know, other items unaffected', async (t) => {
    const { msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const a = await env().core.charging.initiate({ sessionId: 'rf', requestId: 'rf/0', identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter',
      items: [{ serviceContext: '99999@example.org', requested: 60 }, { serviceContext: VOICE, ratingGroup: 1, requested: 60 }] })
    t.match(ok(a).outcomes, [{ kind: 'ratingFailed' }, { kind: 'granted', units: 60 }])
  })

  t.test('refund, check balance and price enquiry', async (t) => {
    const { accountId, msisdn } = await makeAccount(env().core.store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const r = await env().core.charging.refund({ requestId: 'ref-1', identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 2 }] })
    t.match(first(r), { kind: 'refunded', amount: 100_000n })
    // A check answers what a debit would, and changes nothing.
    const chk = await env().core.charging.checkEvent({ requestId: 'chk-1', identities: ids, protocol: 'diameter', items: [{ serviceContext: SMS, units: 2 }] })
    t.match(first(chk), { kind: 'granted', units: 2 })
    t.same(await money(env().core.store, accountId), { balance: 1_100_000n, reserved: 0n }, 'the check charged nothing')
    // What 1.10 EUR affords of voice at 0.10/min (60 s, then 1 s increments): 660 s, the most a grant could be.
    const account = (await env().core.store.getAccount(accountId))!
    t.match(await env().core.charging.affordableUnits(ids, { serviceContext: VOICE }, account), { kind: 'ok', accountId, unit: 'seconds', units: 660 })
    const p = await env().core.charging.priceEnquiry({ requestId: 'pe', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, units: 61 }] })
    t.match(first(p), { kind: 'priced', amount: 101_667n, currency: 'EUR' })
    t.equal((await env().core.store.ledger(accountId)).refunds, 100_000n)
  })


  t.test('a plan change mid-session is seen at once: the script refuses a stale cached plan, the next grant is rated on the new plan', async (t) => {
    const { store, charging } = env().core
    await store.putPlan({ id: 'cheap', version: 1, currency: 'EUR', services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '0.010000', per: 60, first: 1, next: 1 } }] })
    const { accountId, msisdn } = await makeAccount(store, { balance: 1_000_000n })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    await charging.initiate({ sessionId: 'plan-chg', requestId: 'pc/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
    await store.updateAccount(accountId, { plan: 'cheap' })
    const u = await charging.update({ sessionId: 'plan-chg', requestId: 'pc/1', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 60 }] }] })
    // The reported minute was granted under the demo plan (0.10); the new grant is rated on the new plan.
    t.equal(ok(u).charged, 100_000n)
    const term = await charging.terminate({ sessionId: 'plan-chg', requestId: 'pc/2', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, used: [{ units: 60 }] }] })
    t.equal(ok(term).charged, 10_000n, 'usage of the grant made after the change: 0.01 on the cheap plan')
  })

  t.test('a voice call priced by destination across a peak → off-peak change: the grant stops at the boundary, each side its band', async (t) => {
    const { store, charging, plans } = env().core
    await store.putDeck('world', '44,UK fixed,0.10,60,60,0\n447,UK mobile,0.60,1,1,0\n')
    await store.putPlan({ id: 'banded', version: 1, currency: 'EUR', services: [{ name: 'voice', unit: 'seconds', match: { context: VOICE }, tariff: { rate: '0.10', per: 60 }, deck: 'world',
      timeBands: [{ name: 'peak', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', percent: 100 }, { name: 'off', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'hol'], from: '00:00', to: '24:00', percent: 50 }] }] })
    await plans.refresh()
    const { accountId, msisdn } = await makeAccount(store, { balance: 10_000_000n, plan: 'banded' })
    const ids = [{ kind: 'msisdn' as const, value: msisdn }]
    const t0 = Date.UTC(2026, 10, 26, 16, 59, 0) // Thursday 17:59:00 in Paris; off-peak from 18:00
    const i = await charging.initiate({ sessionId: 'dest-1', requestId: 'd/0', identities: ids, protocol: 'diameter', eventTime: t0,
      items: [{ serviceContext: VOICE, destination: 'tel:+447911123456', requested: 300 }] })
    t.match(first(i), { kind: 'granted', units: 60, validity: 60 }, 'the grant stops at 18:00')
    // 60 s of peak at 0.60/min = 0.60; then a minute off-peak at half price = 0.30.
    const u = await charging.update({ sessionId: 'dest-1', requestId: 'd/1', identities: ids, protocol: 'diameter', eventTime: t0 + 60_000,
      items: [{ serviceContext: VOICE, destination: 'tel:+447911123456', requested: 300, used: [{ units: 60 }] }] })
    t.equal(ok(u).charged, 600_000n)
    t.match(first(u), { kind: 'granted', units: 300 })
    const term = await charging.terminate({ sessionId: 'dest-1', requestId: 'd/2', identities: ids, protocol: 'diameter', eventTime: t0 + 120_000,
      items: [{ serviceContext: VOICE, destination: 'tel:+447911123456', used: [{ units: 60 }] }] })
    t.equal(ok(term).charged, 300_000n)
    const cdr = (await allCdrs(env().client)).find((c) => c.sessionId === 'dest-1')!
    t.match(cdr, { total: '900000', destination: '447911123456', destinationName: 'UK mobile', used: '120' })
    t.same(await money(store, accountId), { balance: 9_100_000n, reserved: 0n })

    // A client that was told nothing and reports usage split by Tariff-Change-Usage: each half with its own band.
    await charging.initiate({ sessionId: 'dest-2', requestId: 'd2/0', identities: ids, protocol: 'diameter', eventTime: t0,
      items: [{ serviceContext: VOICE, destination: '00447911123456', requested: 60 }] })
    const split = await charging.terminate({ sessionId: 'dest-2', requestId: 'd2/1', identities: ids, protocol: 'diameter', eventTime: t0 + 90_000,
      items: [{ serviceContext: VOICE, destination: '00447911123456', used: [{ units: 60 }, { units: 30, afterTariffChange: true }] }] })
    t.equal(ok(split).charged, 600_000n + 150_000n, '60 s peak + 30 s off-peak')
    const unknownDest = await charging.initiate({ sessionId: 'dest-3', requestId: 'd3/0', identities: ids, protocol: 'diameter', eventTime: t0,
      items: [{ serviceContext: VOICE, destination: '33612345678', requested: 60 }] })
    t.match(first(unknownDest), { kind: 'ratingFailed', reason: /no destination/ })
  })
}
