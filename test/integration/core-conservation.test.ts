import t from 'tap'
import { makeAccount, allCdrs, assertLedger, bucketsTotal, startFileCore } from '../helpers/core.js'
import { splitMember } from '../../src/balance/store.js'
import { keys, SHARD_COUNT } from '../../src/balance/keys.js'
import { Reaper } from '../../src/core/reaper.js'
import type { Identity } from '../../src/core/types.js'

const { client, core } = await startFileCore(t)

const VOICE = '32260@3gpp.org'
const DATA = '32251@3gpp.org'
const SMS = '32274@3gpp.org'

t.test('50 parallel sessions × 20 updates on one account never overspend; money is conserved exactly', async (t) => {
  const initial = 20_000_000n // 20 EUR: less than 50 sessions × 20 × 60 s would cost, so grants run out
  const { accountId, msisdn } = await makeAccount(core.store, { balance: initial })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  let minMain = initial
  let refusals = 0
  const session = async (n: number): Promise<void> => {
    const sid = `par-${n}`
    let granted = 0
    const a = await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 1, requested: 'default' }] })
    if (a.kind === 'ok' && a.outcomes[0].kind === 'granted') granted = a.outcomes[0].units
    for (let u = 1; u <= 20; u++) {
      const used = Math.floor(granted * ((n * 7 + u * 13) % 10) / 10) + (granted > 0 ? 1 : 0)
      const r = await core.charging.update({ sessionId: sid, requestId: `${sid}/${u}`, identities: ids, protocol: 'diameter',
        items: [{ serviceContext: VOICE, ratingGroup: 1, requested: 'default', used: [{ units: Math.min(used, granted) }] }] })
      granted = r.kind === 'ok' && r.outcomes[0].kind === 'granted' ? r.outcomes[0].units : 0
      if (granted === 0) refusals++
      const main = (await core.store.buckets(accountId)).find((b) => b.id === 'main')!.amount
      if (main < minMain) minMain = main
    }
    await core.charging.terminate({ sessionId: sid, requestId: `${sid}/t`, identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, ratingGroup: 1, used: [{ units: Math.min(5, granted) }] }] })
  }
  await Promise.all(Array.from({ length: 50 }, (_, n) => session(n)))
  t.ok(minMain >= 0n, `the prepaid balance never went below zero (min ${minMain})`)
  t.ok(refusals > 0, 'the balance ran out under load (the test exercises the limit)')
  const final = await bucketsTotal(core.store, accountId)
  const cdrs = (await allCdrs(client)).filter((c) => c.account === accountId)
  t.equal(cdrs.length, 50, 'one CDR per session')
  t.equal(cdrs.filter((c) => c.overage).length, 0)
  const charged = cdrs.reduce((s, c) => s + BigInt(c.total), 0n)
  t.equal(initial, final + charged, `initial ${initial} == final ${final} + CDR charges ${charged}`)
  t.equal((await core.store.getAccount(accountId))!.reserved, 0n)
  await assertLedger(t, core.store, accountId, 'after the run')
})

t.test('randomized conservation over 10,000 operations (top-ups, sessions, events, refunds, reaping, bucket expiry)', async (t) => {
  // A seeded generator: a failure replays exactly.
  let seed = 0x2545f491
  const rnd = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return Math.abs(seed) % n
  }
  const accounts: Array<{ accountId: string; ids: Identity[] }> = []
  for (let i = 0; i < 6; i++) {
    const postpaid = i % 3 === 0
    const a = await makeAccount(core.store, { balance: BigInt(rnd(3_000_000)), type: postpaid ? 'postpaid' : 'prepaid', creditLimit: postpaid ? 2_000_000n : 0n })
    await core.store.addBucket(a.accountId, { kind: 'seconds', amount: BigInt(rnd(600)), priority: 5, scope: ['voice'], to: Date.now() + 1000 * (1 + rnd(3000)) })
    await core.store.addBucket(a.accountId, { kind: 'octets', amount: BigInt(rnd(50_000_000)), priority: 5, to: Date.now() + 1000 * (1 + rnd(3000)) })
    accounts.push({ accountId: a.accountId, ids: [{ kind: 'msisdn', value: a.msisdn }] })
  }
  const services = [VOICE, DATA]
  const open = new Map<string, { acct: number; ctx: string; granted: number; n: number }>()
  let clock = Date.now()
  let nextSession = 0
  for (let op = 0; op < 10_000; op++) {
    clock += rnd(2000)
    const kind = rnd(100)
    const ai = rnd(accounts.length)
    const { accountId, ids } = accounts[ai]
    if (kind < 5) {
      await core.store.topup(accountId, BigInt(1 + rnd(2_000_000)), `tp-${op}`)
    } else if (kind < 25 || open.size === 0) {
      const sid = `rs-${nextSession++}`
      const ctx = services[rnd(2)]
      const r = await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities: ids, protocol: 'diameter', eventTime: clock,
        items: [{ serviceContext: ctx, ratingGroup: 7, requested: rnd(3) === 0 ? 'default' : 1 + rnd(ctx === VOICE ? 300 : 20_000_000) }] })
      const g = r.kind === 'ok' && r.outcomes[0].kind === 'granted' ? r.outcomes[0].units : 0
      open.set(sid, { acct: ai, ctx, granted: g, n: 1 })
    } else if (kind < 70) {
      const sids = [...open.keys()]
      const sid = sids[rnd(sids.length)]
      const s = open.get(sid)!
      // Usually within the grant, sometimes beyond it (overage must still be charged).
      const used = rnd(10) === 0 ? s.granted + rnd(100) : rnd(s.granted + 1)
      const terminate = rnd(4) === 0
      const req = { sessionId: sid, requestId: `${sid}/${s.n++}`, identities: accounts[s.acct].ids, protocol: 'diameter' as const, eventTime: clock,
        items: [{ serviceContext: s.ctx, ratingGroup: 7, requested: terminate ? null : ('default' as const), used: [{ units: used }] }] }
      const r = terminate ? await core.charging.terminate(req) : await core.charging.update(req)
      if (terminate || r.kind !== 'ok') open.delete(sid)
      else s.granted = r.outcomes[0].kind === 'granted' ? r.outcomes[0].units : 0
      if (rnd(20) === 0 && r.kind === 'ok') {
        // A retransmission of the same request: must change nothing.
        const again = terminate ? await core.charging.terminate(req) : await core.charging.update(req)
        t.same(again, r, 'retransmission answered from the stored answer')
      }
    } else if (kind < 85) {
      await core.charging.event({ requestId: `ev-${op}`, identities: ids, protocol: 'diameter', eventTime: clock, items: [{ serviceContext: SMS, units: 1 + rnd(3) }] })
    } else if (kind < 90) {
      await core.charging.refund({ requestId: `rf-${op}`, identities: ids, protocol: 'diameter', eventTime: clock, items: [{ serviceContext: SMS, units: 1 + rnd(2) }] })
    } else if (kind < 95 && open.size > 0) {
      // The client of one session dies: the reaper closes it once its deadline passed.
      const sids = [...open.keys()]
      const sid = sids[rnd(sids.length)]
      const acc = accounts[open.get(sid)!.acct].accountId
      t.ok(await core.store.reap(`${acc}|${sid}`, clock + 10_000_000, 'test'), 'reaped')
      t.notOk(await core.store.reap(`${acc}|${sid}`, clock + 10_000_000, 'test'), 'a second reap does nothing')
      open.delete(sid)
    } else {
      await core.store.addBucket(accountId, { kind: 'events', amount: BigInt(rnd(5)), priority: 1, scope: ['sms'], to: clock + rnd(5000) })
    }
    if (op % 500 === 0) for (const a of accounts) await assertLedger(t, core.store, a.accountId, `op ${op}`)
  }
  // Close what is still open, then the ledger must agree with the CDRs exactly.
  for (const [sid, s] of open) await core.charging.terminate({ sessionId: sid, requestId: `${sid}/end`, identities: accounts[s.acct].ids, protocol: 'diameter', eventTime: clock, items: [] })
  const cdrs = await allCdrs(client)
  for (const { accountId } of accounts) {
    await assertLedger(t, core.store, accountId, 'end')
    const l = await core.store.ledger(accountId)
    const mine = cdrs.filter((c) => c.account === accountId)
    const charged = mine.filter((c) => c.closeReason !== 'refund').reduce((s, c) => s + BigInt(c.total), 0n)
    const refunded = -mine.filter((c) => c.closeReason === 'refund').reduce((s, c) => s + BigInt(c.total), 0n)
    t.equal(charged, l.charged, `${accountId}: Σ CDR charges == ledger charged`)
    t.equal(refunded, l.refunds, `${accountId}: Σ refund CDRs == ledger refunds`)
    t.equal((await core.store.getAccount(accountId))!.reserved, 0n)
    t.same(await core.store.listSessions(accountId), [])
    const acct = await core.store.getAccount(accountId)
    if (acct!.type === 'prepaid') {
      // Only reported overage may take a prepaid account below zero.
      const over = mine.some((c) => c.overage)
      const main = (await core.store.buckets(accountId)).find((b) => b.id === 'main')!.amount
      t.ok(main >= 0n || over, `prepaid ${accountId} below zero only through flagged overage`)
    }
  }
})

t.test('reaper: a lapsed reservation is released once, with a CDR of what was reported, even with two reapers', async (t) => {
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 1_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const t0 = Date.now() - 2_000_000 // validity 900 s + grace 120 s have long passed
  await core.charging.initiate({ sessionId: 'lapsed', requestId: 'lapsed/0', identities: ids, protocol: 'diameter', eventTime: t0, items: [{ serviceContext: VOICE, requested: 120 }] })
  await core.charging.update({ sessionId: 'lapsed', requestId: 'lapsed/1', identities: ids, protocol: 'diameter', eventTime: t0 + 1000, items: [{ serviceContext: VOICE, requested: 120, used: [{ units: 90 }] }] })
  await core.charging.initiate({ sessionId: 'fresh', requestId: 'fresh/0', identities: ids, protocol: 'diameter', items: [{ serviceContext: VOICE, requested: 60 }] })
  const before = await core.store.getAccount(accountId)
  t.ok(before!.reserved > 0n)
  const r1 = new Reaper(core.store, 'node-a', 1000)
  const r2 = new Reaper(core.store, 'node-b', 1000)
  const [a, b] = await Promise.all([r1.sweep(), r2.sweep()])
  t.equal(a + b, 1, 'exactly one reaper released the lapsed session')
  // The reaped session's index entry stays a day: a client coming back (a CCR-T) is charged its last usage.
  const ttl = await core.store.redis.ttl(keys.sessionIndex('lapsed'))
  t.ok(ttl > 600 && ttl <= 86_400, `the reaped session's index entry expires within a day (${ttl} s)`)
  const sessions = await core.store.listSessions(accountId)
  t.same(sessions.map((s) => s.id), ['fresh'], 'the live session is untouched')
  const cdr = (await allCdrs(client)).filter((c) => c.sessionId === 'lapsed')
  t.equal(cdr.length, 1)
  t.match(cdr[0], { closeReason: 'reaped', used: '90', total: '150000' })
  // 1.00 − 0.15 charged − 0.10 held by the fresh session.
  const m = await core.store.getAccount(accountId)
  t.equal(m!.reserved, 100_000n)
  t.equal(await bucketsTotal(core.store, accountId), 750_000n)
  let members = 0
  for (let s = 0; s < SHARD_COUNT; s++) members += (await client.zrange(keys.expiry(s), 0, -1)).filter((x) => splitMember(x)[1] === 'lapsed').length
  t.equal(members, 0, 'expiry index cleaned')
})

t.test('shard stats (metrics) agree with the accounts: open sessions and reserved money', async (t) => {
  const ids = await client.zrange(keys.accountList(), 0, -1)
  let sessions = 0
  let reserved = 0n
  const granted: Record<string, number> = {}
  for (const id of ids) {
    const list = await core.store.listSessions(id)
    sessions += list.length
    reserved += (await core.store.getAccount(id))!.reserved
    for (const s of list) for (const rg of Object.values(s.rgs as Record<string, { unit: string; res?: { n: number } }>)) if (rg.res) granted[rg.unit] = (granted[rg.unit] ?? 0) + rg.res.n
  }
  const stats = await core.store.stats()
  t.ok(sessions > 0, 'some sessions are open (the reaper test leaves one)')
  t.equal(Object.values(stats.sessions).reduce((a, b) => a + b, 0), sessions)
  t.equal(stats.reserved, reserved)
  for (const [unit, n] of Object.entries(granted)) t.equal(stats.granted[unit], n, `granted ${unit}`)
  t.ok(Object.keys(granted).length > 0)
})

t.test('reaper: a session reported on after its first deadline is moved in the index, not reaped', async (t) => {
  const { accountId, msisdn } = await makeAccount(core.store, { balance: 1_000_000n })
  const ids: Identity[] = [{ kind: 'msisdn', value: msisdn }]
  const t0 = Date.now()
  const member = `${accountId}|moved`
  const score = async () => Number(await client.zscore(keys.expiryOf(accountId), member))
  await core.charging.initiate({ sessionId: 'moved', requestId: 'moved/0', identities: ids, protocol: 'diameter', eventTime: t0, items: [{ serviceContext: VOICE, requested: 60 }] })
  t.equal(await score(), t0 + 1_020_000, 'indexed at validity 900 s + grace 120 s')
  // Reported 1000 s later: its deadline moves to t0 + 2020 s, the index stays (an update writes no ZADD).
  await core.charging.update({ sessionId: 'moved', requestId: 'moved/1', identities: ids, protocol: 'diameter', eventTime: t0 + 1_000_000, items: [{ serviceContext: VOICE, requested: 60, used: [{ units: 60 }] }] })
  t.equal(await score(), t0 + 1_020_000, 'the index still says the first deadline')
  // (other tests' sessions may be reaped by these sweeps: only this one is looked at)
  await new Reaper(core.store, 'node-a', 1000).sweep(t0 + 1_500_000)
  t.equal(await score(), t0 + 2_020_000, 'and moves the index to the real deadline')
  t.same((await core.store.listSessions(accountId)).map((s) => s.id), ['moved'], 'a sweep between the two deadlines leaves the session alive')
  await new Reaper(core.store, 'node-a', 1000).sweep(t0 + 2_100_000)
  t.same(await core.store.listSessions(accountId), [], 'past the real deadline it is reaped')
  const cdr = (await allCdrs(client)).filter((c) => c.sessionId === 'moved')
  t.match(cdr, [{ closeReason: 'reaped', used: '60' }])
  t.same(await core.store.getAccount(accountId).then((a) => a!.reserved), 0n)
})
