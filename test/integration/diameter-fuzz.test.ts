// A 10,000-case slice of `npm run fuzz` (the same engine: scripts/fuzz-core.ts) against a real
// DiameterServer: mutated Kamailio/Open5GS captures and built CCR-I/U/T/EVENT, CER, DWR, DPR —
// bit flips, AVP and header length lies, truncation, random/duplicated/deleted/nested/oversized AVPs,
// header mutations, stream-breaking messages that end their connection — over 8 pipelined
// connections. Every well-framed request is answered or its connection closed by the server, every
// answer decodes, no connection hangs, nothing is logged at error level, and afterwards a valid CCR
// still gets 2001. OCS_FUZZ_SEED reproduces a run.
import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/lib/logger.js'
import { diameterDigest, diameterProbe, fuzzDiameter } from '../../scripts/fuzz-core.js'
import { makeAccount } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'

const seed = Number(process.env.OCS_FUZZ_SEED ?? Date.now() % 1e9)
const COUNT = 10_000

t.test(`10,000 mutated Diameter packets (seed ${seed})`, async (t) => {
  const errors: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      errors.push(chunk.toString())
      cb()
    },
  })
  const env = await startDiameterEnv(t, { log: createLogger('error', sink) })
  // The subscribers the seeds charge: the Kamailio captures and the built CCRs (46700000001), Open5GS (…042).
  await makeAccount(env.core.store, { balance: 10n ** 15n, msisdn: '46700000001' })
  await makeAccount(env.core.store, { balance: 10n ** 15n, msisdn: '46700000042' })

  const s = await fuzzDiameter({ host: '127.0.0.1', port: env.port, count: COUNT, seed, connections: 8, window: 32 })
  t.comment(`${s.sent} packets in ${s.seconds.toFixed(1)} s (${s.perSec}/s): answered ${s.answered}, closed ${s.closed}, dropped ${s.dropped}; ${s.terminal} stream-breaking, ${s.connections} connections (${s.serverClosed} closed by the server)`)
  t.comment(`result codes ${JSON.stringify(s.resultCodes)}`)
  t.equal(s.sent, COUNT, 'every packet sent')
  t.equal(s.answered + s.closed + s.dropped, s.sent, 'every packet accounted for')
  t.notOk(s.aborted, 'the server kept accepting connections')
  t.equal(s.unexpectedDrops, 0, `every well-framed request answered or its connection closed ${JSON.stringify(s.samples.filter((x) => x.kind === 'unexpected drop'))}`)
  t.equal(s.badAnswers, 0, 'every answer decodes')
  t.equal(s.hung, 0, 'every connection we ended was closed at once')
  t.ok(s.answered > COUNT * 0.8, `most packets answered (${s.answered})`)
  t.equal(s.connectFailures, 0, 'every reconnect got a CEA 2001')
  t.equal(diameterDigest(seed, COUNT, 8), s.digest, 'the packets depend only on the seed')

  // A fresh subscriber: fuzzed CCRs may legitimately have reserved or spent the others' money.
  const fresh = await makeAccount(env.core.store, { balance: 1_000_000n })
  t.equal(await diameterProbe('127.0.0.1', env.port, fresh.msisdn), 2001, 'afterwards a valid CCR-I still gets 2001')
  t.equal(env.server.ready, true)
  t.same(errors, [], 'nothing logged at error level')
})
