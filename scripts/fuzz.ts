// `npm run fuzz`: mutated valid packets at the OCS (the engine is scripts/fuzz-core.ts), then proof
// that it survived: its process is alive, logged no error (no uncaught exception, no failed request
// handling), and still answers a valid CCR-I with 2001 and a valid Access-Request with Accept/Reject.
// Exits 1 otherwise, or when a well-framed Diameter request went unanswered, an answer or reply did
// not decode/verify, or a connection hung. With its own OCS it then runs the money audit
// (src/cdr/audit.ts, as `npm run audit`) and fails on any broken account.
//
//   npm run fuzz -- [--protocol diameter|radius|all] [--count 1000000] [--seed 1]
//                   [--target diameter=host:port] [--target radius=host:authPort[:acctPort]]
//                   [--connections 16] [--window 32] [--sockets 16] [--json]
//
// Without --target it starts its own OCS (scripts/ocs-node.ts: the src/main.ts composition with an
// embedded Redis, all on free ports, reservations reaped after 60 s so a million sessions do not pile
// up) and gives it the subscribers the seeds name: 46700000001 / alice / alicepw (the Kamailio and
// pppd captures, the built CCRs), 46700000042 (the Open5GS CCRs), and a separate one for the checks.
// With --target it fuzzes a running OCS: --msisdn/--user/--password name a funded subscriber there
// (default: the demo data's 46700000001, alice / alicepw), --probe-msisdn/--probe-user/
// --probe-password the one the final checks use (default: the same), --secret the NAS secret.
import { parseArgs } from 'node:util'
import { diameterProbe, fuzzDiameter, fuzzRadius, radiusProbe, type DiameterStats, type RadiusStats } from './fuzz-core.js'
import { startOwnOcs, type OwnOcs } from './own-ocs.js'

const { values: a } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'all' },
    count: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
    target: { type: 'string', multiple: true, default: [] },
    connections: { type: 'string', default: '16' },
    window: { type: 'string', default: '32' },
    sockets: { type: 'string', default: '16' },
    secret: { type: 'string', default: 'testing123' },
    msisdn: { type: 'string', default: '46700000001' },
    user: { type: 'string', default: 'alice' },
    password: { type: 'string', default: 'alicepw' },
    'probe-msisdn': { type: 'string' },
    'probe-user': { type: 'string' },
    'probe-password': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})

const protocols = a.protocol === 'all' ? ['diameter', 'radius'] : [a.protocol as string]
if (!protocols.every((p) => p === 'diameter' || p === 'radius')) {
  console.error(`--protocol must be diameter, radius or all, got ${a.protocol}`)
  process.exit(2)
}
const count = Number(a.count)
const seed = Number(a.seed)
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  console.error('--count must be a positive integer and --seed an integer')
  process.exit(2)
}

// --target diameter=host:port | radius=host:auth[:acct] | host:port (for the one protocol fuzzed)
let dTarget: { host: string; port: number } | undefined
let rTarget: { host: string; authPort: number; acctPort: number } | undefined
for (const t of a.target as string[]) {
  const m = /^(?:(diameter|radius)=)?(\[[^\]]+\]|[^:]+):(\d+)(?::(\d+))?$/.exec(t)
  const proto = m?.[1] ?? (protocols.length === 1 ? protocols[0] : undefined)
  if (!m || !proto) {
    console.error(`--target ${t}: expected diameter=host:port or radius=host:authPort[:acctPort]`)
    process.exit(2)
  }
  const host = m[2].replace(/^\[|\]$/g, '')
  if (proto === 'diameter') dTarget = { host, port: Number(m[3]) }
  else rTarget = { host, authPort: Number(m[3]), acctPort: Number(m[4] ?? Number(m[3]) + 1) }
}
const external = (a.target as string[]).length > 0
if (external && protocols.some((p) => (p === 'diameter' ? !dTarget : !rTarget))) {
  console.error('with --target, give a target for every protocol fuzzed')
  process.exit(2)
}

const tty = process.stderr.isTTY
let lastLine = 0
const progress = (line: string): void => {
  if (tty) process.stderr.write(`\r${line}   `)
  else if (Date.now() - lastLine >= 10_000) {
    process.stderr.write(`${line}\n`)
    lastLine = Date.now()
  }
}
const n = (x: number): string => x.toLocaleString('en-US')
const mb = (b: number): string => `${(b / 1048576).toFixed(0)} MB`

let ocs: OwnOcs | undefined
let probe = { msisdn: (a['probe-msisdn'] as string | undefined) ?? (a.msisdn as string), user: (a['probe-user'] as string | undefined) ?? (a.user as string), password: (a['probe-password'] as string | undefined) ?? (a.password as string) }
const failures: string[] = []
const results: Array<DiameterStats | RadiusStats> = []
let rssBefore = 0

try {
  if (!external) {
    ocs = await startOwnOcs({ config: { charging: { validitySeconds: 60, reaperGraceSeconds: 0, reaperIntervalMs: 1000, idempotencySeconds: 300 } } })
    dTarget = { host: '127.0.0.1', port: ocs.diameterPort }
    rTarget = { host: '127.0.0.1', authPort: ocs.authPort, acctPort: ocs.acctPort }
    const big = '1000000000'
    await ocs.subscriber({ balance: big, msisdn: a.msisdn as string, username: a.user as string, password: a.password as string })
    await ocs.subscriber({ balance: big, msisdn: '46700000042', imsi: '001010000000042' })
    probe = { msisdn: '46799999999', user: 'fuzz-probe', password: 'fuzz-probe-pw' }
    await ocs.subscriber({ balance: '100', msisdn: probe.msisdn, username: probe.user, password: probe.password })
    rssBefore = ocs.rss()
    console.log(`fuzz: own OCS pid ${ocs.pid} (Diameter ${ocs.diameterPort}, RADIUS ${ocs.authPort}/${ocs.acctPort}), RSS ${mb(rssBefore)}; ${n(count)} packets per protocol, seed ${seed}`)
  } else console.log(`fuzz: ${n(count)} packets per protocol at ${JSON.stringify({ diameter: dTarget, radius: rTarget })}, seed ${seed}`)

  for (const p of protocols) {
    if (ocs && !ocs.alive()) break
    if (p === 'diameter') {
      const s = await fuzzDiameter({
        ...dTarget!,
        count,
        seed,
        msisdn: a.msisdn as string,
        connections: Number(a.connections),
        window: Number(a.window),
        onProgress: (x) =>
          progress(`[diameter] ${x.seconds.toFixed(0)} s  ${n(x.sent)}/${n(count)}  ${n(x.perSec)}/s  answered ${n(x.answered)}  closed ${n(x.closed)}  dropped ${n(x.dropped)}  connections ${n(x.connections)}${ocs ? `  OCS RSS ${mb(ocs.rss())}` : ''}`),
      })
      if (tty) process.stderr.write('\n')
      results.push(s)
      console.log(
        `[diameter] ${n(s.sent)} packets (${mb(s.bytes)}) in ${s.seconds.toFixed(1)} s = ${n(s.perSec)}/s: answered ${n(s.answered)}, closed ${n(s.closed)}, dropped ${n(s.dropped)} ` +
          `(unexpected ${s.unexpectedDrops}); ${n(s.terminal)} stream-breaking; ${n(s.connections)} connections, ${n(s.serverClosed)} closed by the server, ${s.hung} hung, ${s.connectFailures} failed CERs; ${s.badAnswers} undecodable answers; digest ${s.digest}`,
      )
      console.log(`[diameter] result codes ${JSON.stringify(s.resultCodes)}`)
      console.log(`[diameter] server closed after ${JSON.stringify(s.closeCauses)}`)
      if (s.aborted) failures.push(`diameter: ${s.aborted}`)
      if (s.unexpectedDrops > 0) failures.push(`diameter: ${s.unexpectedDrops} well-framed requests neither answered nor closed: ${JSON.stringify(s.samples.filter((x) => x.kind === 'unexpected drop').slice(0, 2))}`)
      if (s.badAnswers > 0) failures.push(`diameter: ${s.badAnswers} answers do not decode: ${JSON.stringify(s.samples.filter((x) => x.kind === 'bad answer').slice(0, 2))}`)
      if (s.hung > 0) failures.push(`diameter: ${s.hung} connections not closed after our FIN`)
    } else {
      const dropsBefore = ocs ? await ocs.metric('ocs_radius_dropped_total') : 0
      const s = await fuzzRadius({
        ...rTarget!,
        count,
        seed,
        secret: a.secret as string,
        user: a.user as string,
        password: a.password as string,
        msisdn: a.msisdn as string,
        sockets: Number(a.sockets),
        onProgress: (x) => progress(`[radius] ${x.seconds.toFixed(0)} s  ${n(x.sent)}/${n(count)}  ${n(x.perSec)}/s  answered ${n(x.answered)}  dropped ${n(x.dropped)}${ocs ? `  OCS RSS ${mb(ocs.rss())}` : ''}`),
      })
      if (tty) process.stderr.write('\n')
      results.push(s)
      let counted = ''
      if (ocs?.alive()) {
        const reasons = ['malformed', 'bad-authenticator', 'unexpected-code', 'duplicate', 'overload', 'stale', 'busy', 'unknown-nas', 'unavailable', 'internal']
        const by: Record<string, number> = {}
        for (const r of reasons) by[r] = await ocs.metric('ocs_radius_dropped_total', { reason: r })
        const total = (await ocs.metric('ocs_radius_dropped_total')) - dropsBefore
        counted = `; the server counted ${n(total)} drops ${JSON.stringify(by)}, ${n(s.sent - s.answered - total)} not counted (kernel or late)`
        if (by.internal > 0) failures.push(`radius: ${by.internal} datagrams failed inside the pipeline`)
      }
      console.log(
        `[radius] ${n(s.sent)} packets (${mb(s.bytes)}) in ${s.seconds.toFixed(1)} s = ${n(s.perSec)}/s: ${n(s.signed)} signed, ${n(s.garbage)} garbage; answered ${n(s.answered)} ${JSON.stringify(s.replyCodes)}, dropped ${n(s.dropped)}${counted}; ${s.badReplies} unverifiable replies; slowest reply ${s.slowest.ms} ms (${s.slowest.what}); digest ${s.digest}`,
      )
      if (s.badReplies > 0) failures.push(`radius: ${s.badReplies} replies fit no request: ${JSON.stringify(s.samples.slice(0, 2))}`)
    }
  }

  // Still alive and still answering?
  if (ocs && !ocs.alive()) failures.push(`the OCS process exited: ${JSON.stringify(ocs.exit)}`)
  else {
    if (protocols.includes('diameter')) {
      const rc = await diameterProbe(dTarget!.host, dTarget!.port, probe.msisdn, `probe-${seed}.fuzz`)
      console.log(`[check] a valid CCR-I afterwards: ${rc ?? 'no answer'}`)
      if (rc !== 2001) failures.push(`a valid CCR-I got ${rc ?? 'no answer'}, not 2001`)
    }
    if (protocols.includes('radius')) {
      const r = await radiusProbe(rTarget!.host, rTarget!.authPort, a.secret as string, probe.user, probe.password)
      console.log(`[check] a valid Access-Request afterwards: ${r ?? 'no reply'}`)
      if (r === undefined) failures.push('a valid Access-Request got no reply')
    }
  }
  if (ocs?.alive()) {
    // Money conservation after all that (src/cdr/audit.ts): every account exactly.
    const { report, rejects } = await ocs.audit()
    console.log(`[audit] ${report.accounts} accounts, ${report.broken.length} broken; ${n(report.cdrsInStore)} CDRs in the store, outbox backlog ${report.outboxBacklog}`)
    for (const b of report.broken) {
      const r = rejects.get(b.account)
      console.log(
        `[audit]   account ${b.account}: expected − actual balance ${b.difference} micro; balance ${b.balance}; ${r ? `${r.count} CDRs refused by the billing store for ${r.total} micro (${[...r.errors].map(([k, v]) => `${v} × ${k}`).join('; ')})` : 'no refused CDRs'}`,
      )
    }
    if (report.broken.length > 0) failures.push(`money audit: ${report.broken.length} accounts broken`)
    if (report.outboxBacklog > 0) failures.push(`money audit: the outbox did not drain (${report.outboxBacklog})`)
  }
  if (ocs) {
    await new Promise((r) => setTimeout(r, 500))
    const alive = ocs.alive()
    const crash = [...ocs.errorKinds].filter(([k]) => /fatal|stderr|uncaught|unhandled|handling failed|processing failed|request failed/i.test(k)).reduce((x, [, v]) => x + v, 0)
    console.log(`[check] OCS pid ${ocs.pid} ${alive ? 'alive' : `exited ${JSON.stringify(ocs.exit)}`}; RSS ${mb(rssBefore)} before, ${mb(ocs.rss())} after; crashes ${alive ? 0 : 1}; ${crash} uncaught/failed-handling lines; ${ocs.errorCount} error lines in all`)
    for (const [k, v] of ocs.errorKinds) console.log(`[check]   ${v} × ${k}`)
    for (const e of ocs.errors.slice(0, 5)) console.log(`[check]   e.g. ${e.slice(0, 600)}`)
    if (!alive) failures.push('the OCS process is gone')
    if (ocs.errorCount > 0) failures.push(`the OCS logged ${ocs.errorCount} error/fatal lines or crash output (${crash} of them uncaught or failed request handling)`)
  }
} catch (err) {
  failures.push(`fuzz failed: ${(err as Error).stack ?? String(err)}`)
} finally {
  if (a.json) console.log(JSON.stringify({ seed, count, results, failures }))
  for (const f of failures) console.log(`FAIL ${f}`)
  if (failures.length === 0) console.log('fuzz: zero crashes, still answering')
  await ocs?.stop()
  process.exit(failures.length === 0 ? 0 : 1)
}
