// The charging script itself as a ceiling: session-charge straight from the bench client — by FCALL
// of the function library, as the OCS runs it (src/balance/scripts.ts) — with the payload the core
// sends for an update, so no protocol, rating or JS charging path runs. The "bare Lua"
// ceiling (bench.ts: a plain 8-command script) says what Redis does with a trivial script; this one
// says what it does with ours, i.e. how close a front end gets to the script's own limit. Two shapes:
//   ccr-u   the core's payload for a Diameter CCR-U (commit 1 MB, re-reserve the default quota)
//   radius  the same plus the RADIUS front end's session record read and written in the script
//           (`at`, as an Interim-Update sends it: the counters it saw are checked, `c` written)
import type { Redis } from 'ioredis'
import { keys, radiusKeys } from '../src/balance/keys.js'
import { REPORT_FIELDS } from '../src/balance/radius-sessions.js'
import { functionLibrary, loadFunctionLibrary, SCRIPTS } from '../src/balance/scripts.js'
import type { BalanceStore } from '../src/balance/store.js'
import type { ChargingService } from '../src/core/charging.js'

type Op = (worker: number, i: number) => Promise<unknown>

/** The reply of a script cut short by scripts/profile-script.ts (`do return 'x' end`). */
export const CUT_REPLY = 'x'

export interface BareOps {
  ccrU: Op
  radius: Op
}

const RID = '"__rid__"'
const NOW = '"__now__"'
const SEEN = '"__seen__"'
const CNT = '"__cnt__"'

interface Template {
  keys: string[]
  accountId: string
  sessionId: string
  payload: string
}

/**
 * One prepaid account, subscriber and open data session (`bench-<w>`, after its CCR-I) per worker,
 * as the core benchmark and bareScriptOps expect them. Returns the subscribers' MSISDNs.
 */
export async function openBenchSessions(store: BalanceStore, charging: ChargingService, workers: number): Promise<string[]> {
  const msisdns: string[] = []
  for (let w = 0; w < workers; w++) {
    const a = await store.createAccount({ currency: 'EUR', type: 'prepaid', plan: 'demo', timezone: 'UTC', language: 'en', taxRegion: 'x', country: 'SE', status: 'active', creditLimit: 0n }, 1_000_000_000_000n)
    const msisdn = `4670${String(w).padStart(8, '0')}`
    await store.createSubscriber({ account: a.id, msisdn })
    msisdns.push(msisdn)
    await charging.initiate({ sessionId: `bench-${w}`, requestId: `bench-${w}/i`, identities: [{ kind: 'msisdn', value: msisdn }], protocol: 'diameter', items: [{ serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' }] })
  }
  return msisdns
}

/**
 * Captures the core's update call for each worker's open session (`bench-<w>`), opens a second
 * session per worker for the RADIUS shape, and returns one FCALL op per shape; `using(source)`
 * gives the same ops running another version of the script by EVALSHA (profile-script.ts: cut short).
 */
export async function bareScriptOps(
  client: Redis,
  store: BalanceStore,
  charging: ChargingService,
  workers: number,
  msisdns: string[],
): Promise<BareOps & { using(source: string): Promise<BareOps> }> {
  const redis = store.redis as unknown as { sessionCharge: (...args: string[]) => Promise<string> }
  const original = redis.sessionCharge
  const captured: string[][] = []
  redis.sessionCharge = (...args: string[]) => {
    captured.push(args)
    return original.apply(store.redis, args)
  }
  const item = { serviceContext: '32251@3gpp.org', ratingGroup: 1, requested: 'default' as const }
  try {
    for (let w = 0; w < workers; w++) {
      await charging.update({ sessionId: `bench-${w}`, requestId: `bench-${w}/capture`, identities: [], protocol: 'diameter', items: [{ ...item, used: [{ units: 1_000_000, inputOctets: 400_000, outputOctets: 600_000 }] }] })
    }
  } finally {
    redis.sessionCharge = original
  }
  if (captured.length !== workers) throw new Error(`captured ${captured.length} script calls, expected ${workers}`)

  const ccrU: Template[] = []
  const rad: Template[] = []
  for (let w = 0; w < workers; w++) {
    const args = captured[w]
    const p = JSON.parse(args[11]) as Record<string, unknown>
    if (p.op !== 'update' || p.at !== undefined) throw new Error('unexpected captured payload')
    const accountId = p.accountId as string
    ccrU.push({ keys: args.slice(0, 11), accountId, sessionId: `bench-${w}`, payload: JSON.stringify({ ...p, requestId: '__rid__', now: '__now__' }) })

    const sid = `bench-r-${w}`
    await charging.initiate({ sessionId: sid, requestId: `${sid}/i`, identities: [{ kind: 'msisdn', value: msisdns[w] }], protocol: 'radius', items: [item] })
    const record = radiusKeys.session(accountId, sid)
    await client.hset(record, 'm', JSON.stringify({ key: `bench|${w}|${sid}|user`, nas: 'bench', target: { 'Acct-Session-Id': sid }, ids: [], start: Date.now() }), 'a', '127.0.0.1', 'u', 'octets', 'b', '0:0:0')
    const k = args.slice(0, 11)
    k[3] = keys.session(accountId, sid)
    k[10] = record
    const at = { e: { i: '__seen__', o: '__seen__', u: '__seen__' }, r: REPORT_FIELDS, w: ['c', '__cnt__'] }
    rad.push({ keys: k, accountId, sessionId: sid, payload: JSON.stringify({ ...p, sessionId: sid, requestId: '__rid__', now: '__now__', at }) })
  }

  let n = 0
  const fill = (t: Template, rid: string): string[] => {
    const k = t.keys.slice()
    k[8] = keys.idempotency(t.accountId, rid)
    return k
  }
  // The counters the script last returned for each RADIUS-shaped session: the next report must name them.
  const seen = rad.map(() => ({ i: 0, o: 0, u: 0 }))
  const ops = (run: (keys: string[], payload: string) => Promise<string>): BareOps => ({
    ccrU: async (w) => {
      const t = ccrU[w]
      const rid = `${t.sessionId}/bare/${n++}`
      const reply = await run(fill(t, rid), t.payload.replace(RID, JSON.stringify(rid)).replace(NOW, String(Date.now())))
      if (reply === CUT_REPLY) return
      if (!reply.includes('"kind":"granted"') || reply.includes('"status"')) throw new Error(`bare CCR-U: ${reply.slice(0, 200)}`)
    },
    radius: async (w) => {
      const t = rad[w]
      const s = seen[w]
      const rid = `${t.sessionId}/bare/${n++}`
      const payload = t.payload
        .replace(RID, JSON.stringify(rid))
        .replace(NOW, String(Date.now()))
        .replace(SEEN, String(s.i)).replace(SEEN, String(s.o)).replace(SEEN, String(s.u))
        .replace(CNT, `"${s.i + 400_000}:${s.o + 600_000}:60"`)
      const reply = await run(fill(t, rid), payload)
      if (reply === CUT_REPLY) return
      const nl = reply.indexOf('\n')
      if (nl < 0) throw new Error(`bare RADIUS interim: ${reply.slice(0, 200)}`)
      const c = (JSON.parse(reply.slice(nl + 1)) as { c: [string, string, string] }).c
      s.i = Number(c[0])
      s.o = Number(c[1])
      s.u = Number(c[2])
    },
  })
  const using = async (source: string): Promise<BareOps> => {
    const sha = (await client.script('LOAD', source)) as string
    return ops(async (k, payload) => (await client.evalsha(sha, SCRIPTS['session-charge'], ...k, payload)) as string)
  }
  await loadFunctionLibrary(client)
  const fn = functionLibrary().functions['session-charge']
  const byFunction = ops(async (k, payload) => (await client.call('FCALL', fn, SCRIPTS['session-charge'], ...k, payload)) as string)
  return { ...byFunction, using }
}
