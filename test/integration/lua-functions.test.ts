import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { startRedis, commandStat, functionLibraries, type TestRedis } from '../helpers/redis.js'
import { makeCore, makeAccount, assertLedger, type Core } from '../helpers/core.js'
import { functionLibrary, loadLua } from '../../src/balance/scripts.js'
import type { ChargeAnswer } from '../../src/core/types.js'

// The per-request scripts (session-charge, event-charge) run as a Redis 7 function library by FCALL
// (src/balance/scripts.ts): loaded on first use, loaded again when Redis lost it, and EVALSHA where
// Redis will not run functions. Whichever way, the charges are the same.

const data = { serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' as const }
const MB = 1_000_000

function ok(t: Test, a: ChargeAnswer, label: string): void {
  t.equal(a.kind, 'ok', label)
}

/** A data session: CCR-I, two CCR-U of 1 MB each, CCR-T with 1 MB; SMS charged once. */
async function traffic(t: Test, core: Core, msisdn: string, sid: string): Promise<void> {
  const identities = [{ kind: 'msisdn' as const, value: msisdn }]
  const used = [{ units: MB, inputOctets: MB / 2, outputOctets: MB / 2 }]
  ok(t, await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities, protocol: 'diameter', items: [data] }), 'CCR-I')
  ok(t, await core.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities, protocol: 'diameter', items: [{ ...data, used }] }), 'CCR-U')
  ok(t, await core.charging.update({ sessionId: sid, requestId: `${sid}/2`, identities, protocol: 'diameter', items: [{ ...data, used }] }), 'CCR-U')
  ok(t, await core.charging.terminate({ sessionId: sid, requestId: `${sid}/3`, identities, protocol: 'diameter', items: [{ ...data, requested: null, used }] }), 'CCR-T')
  const sms = await core.charging.event({ requestId: `${sid}/sms`, identities, protocol: 'diameter', items: [{ serviceContext: '32274@3gpp.org', units: 1 }] })
  ok(t, sms, 'SMS')
}

/** A Redis of the test's own (no library loaded yet), the core on it and a funded account. */
async function freshCore(t: Test): Promise<{ redis: TestRedis; client: Redis; core: Core; accountId: string; msisdn: string }> {
  const redis = await startRedis()
  const client = new Redis({ port: redis.port })
  t.teardown(async () => {
    client.disconnect()
    await redis.stop()
  })
  const core = await makeCore(client)
  return { redis, client, core, ...(await makeAccount(core.store, { balance: 10_000_000n })) }
}

t.test('charging runs as a function library, loaded on first use; the same charges as by EVALSHA', async (t) => {
  const { redis, client, core, accountId, msisdn } = await freshCore(t)
  t.same(await functionLibraries(client), [], 'nothing loaded before the first charge')
  await traffic(t, core, msisdn, 'fn-1')
  const byFunction = await core.store.ledger(accountId)
  t.same(await functionLibraries(client), [functionLibrary().name], 'the library, under its content-derived name')
  const fcall = await commandStat(client, 'fcall')
  t.equal(fcall.failed, 1, 'one FCALL found no function (the first), then the library was loaded')
  t.ok(fcall.calls >= 5, `${fcall.calls} FCALLs`)
  t.equal((await commandStat(client, 'evalsha')).calls, 0, 'no charging script by EVALSHA')
  await assertLedger(t, core.store, accountId, 'after the session')
  // Open sessions' grants are counted once (lib.lua's per-call state starts empty in every call).
  const identities = [{ kind: 'msisdn' as const, value: msisdn }]
  for (const sid of ['fn-2', 'fn-3']) {
    ok(t, await core.charging.initiate({ sessionId: sid, requestId: `${sid}/0`, identities, protocol: 'diameter', items: [data] }), 'CCR-I')
    ok(t, await core.charging.update({ sessionId: sid, requestId: `${sid}/1`, identities, protocol: 'diameter', items: [{ ...data, used: [{ units: MB }] }] }), 'CCR-U')
  }
  t.same((await core.store.stats()).granted, { octets: 2 * 5 * 1024 * 1024 }, 'two open grants of the default 5 MiB')

  // The same traffic on a second account by EVALSHA (the scripts ioredis defines): same money.
  const other = await makeAccount(core.store, { balance: 10_000_000n })
  const evalOnly = new Redis({ port: redis.port })
  t.teardown(() => evalOnly.disconnect())
  await evalOnly.call('ACL', 'SETUSER', 'nofunctions', 'on', '>pw', '~*', '&*', '+@all', '-fcall', '-fcall_ro', '-function')
  const restricted = new Redis({ port: redis.port, username: 'nofunctions', password: 'pw' })
  t.teardown(() => restricted.disconnect())
  const coreEval = await makeCore(restricted)
  await traffic(t, coreEval, other.msisdn, 'ev-1')
  t.equal((await coreEval.store.ledger(other.accountId)).charged, byFunction.charged, 'EVALSHA charged the same')
})

t.test('the library lost (Redis restarted without persistence): the next charge loads it again', async (t) => {
  const { client, core, accountId, msisdn } = await freshCore(t)
  await traffic(t, core, msisdn, 'lost-1')
  await client.call('FUNCTION', 'FLUSH')
  t.same(await functionLibraries(client), [])
  await traffic(t, core, msisdn, 'lost-2')
  t.same(await functionLibraries(client), [functionLibrary().name], 'loaded again')
  t.equal((await commandStat(client, 'fcall')).failed, 2, 'one FCALL found no function each time')
  await assertLedger(t, core.store, accountId, 'after both sessions')
})

/** A Redis of the test's own with a user `limited` that the ACL rules `acl` restrict, the core as that user, an account. */
async function aclCore(t: Test, acl: string[]): Promise<{ admin: Redis; core: Core; accountId: string; msisdn: string }> {
  const redis = await startRedis()
  const admin = new Redis({ port: redis.port })
  await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '&*', '+@all', ...acl)
  const client = new Redis({ port: redis.port, username: 'limited', password: 'pw' })
  t.teardown(async () => {
    client.disconnect()
    admin.disconnect()
    await redis.stop()
  })
  const core = await makeCore(client)
  return { admin, core, ...(await makeAccount(core.store, { balance: 10_000_000n })) }
}

t.test('Redis refusing functions (an ACL without FCALL and FUNCTION): EVALSHA, after one refused FCALL', async (t) => {
  const { admin, core, accountId, msisdn } = await aclCore(t, ['-fcall', '-fcall_ro', '-function'])
  await traffic(t, core, msisdn, 'acl-1')
  await traffic(t, core, msisdn, 'acl-2')
  t.equal((await commandStat(admin, 'fcall')).rejected, 1, 'FCALL tried once, refused')
  // ioredis sends a script by EVAL the first time on a connection, by EVALSHA after.
  const scripted = (await commandStat(admin, 'eval')).calls + (await commandStat(admin, 'evalsha')).calls
  t.ok(scripted >= 10, `then the scripts by EVAL/EVALSHA (${scripted} calls)`)
  t.same(await functionLibraries(admin), [], 'no library loaded')
  await assertLedger(t, core.store, accountId, 'after both sessions')
})

t.test('an ACL that allows FCALL but not FUNCTION LOAD: EVALSHA, after one refused load', async (t) => {
  const { admin, core, accountId, msisdn } = await aclCore(t, ['-function'])
  await traffic(t, core, msisdn, 'acl-3')
  await traffic(t, core, msisdn, 'acl-4')
  t.equal((await commandStat(admin, 'fcall')).failed, 1, 'one FCALL found no function')
  t.equal((await commandStat(admin, 'function|load')).rejected, 1, 'the load refused once')
  t.same(await functionLibraries(admin), [], 'no library loaded')
  await assertLedger(t, core.store, accountId, 'after both sessions')
})

t.test('the library: lib.lua and both scripts, named by its content', async (t) => {
  const lib = functionLibrary()
  t.match(lib.name, /^ocs_[0-9a-f]{16}$/)
  t.same(lib.functions, { 'session-charge': `${lib.name}_session_charge`, 'event-charge': `${lib.name}_event_charge` })
  t.ok(lib.code.startsWith(`#!lua name=${lib.name}\n`))
  // Every line of each script's body is in the library (the include line aside).
  for (const name of ['session-charge', 'event-charge']) {
    const body = loadLua(name).slice(loadLua('lib').length)
    t.ok(lib.code.includes(body.trim().split('\n').slice(-5).join('\n')), `${name}'s body`)
  }
})
