// Interop with a Diameter stack nobody here wrote: Erlang/OTP's diameter application (Debian packages
// erlang-base + erlang-diameter) runs test/erlang/cc_client.escript against our server: CER/CEA,
// DWR/DWA in both directions, CCR-I/U/T of a data session and two events (SMS debit, price enquiry),
// then DPR/DPA when it stops. The exchange is captured with tshark (Debian package tshark) and
// Wireshark's dissector must find nothing malformed and no expert warning or error in it.
// Both tools are required: the suite fails, rather than skips, when one is missing.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { startCapture } from '../helpers/capture.js'

const ESCRIPT = fileURLToPath(new URL('../erlang/cc_client.escript', import.meta.url))

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** Parses "CCA-I rc=2001 mscc_rc=2001 gsu_total=1048576 …" lines. */
function parse(out: string): Record<string, Record<string, string>> {
  const res: Record<string, Record<string, string>> = {}
  for (const line of out.split('\n')) {
    const [label, ...fields] = line.trim().split(/\s+/)
    if (!label) continue
    res[label] = Object.fromEntries(fields.map((f) => f.split('=') as [string, string]))
  }
  return res
}

t.test('Erlang/OTP diameter client against the OCS, captured by tshark', async (t) => {
  const escript = which('escript')
  const tshark = which('tshark')
  if (!escript || !tshark) {
    t.fail(`needs Debian packages: ${!escript ? 'erlang-base erlang-diameter ' : ''}${!tshark ? 'tshark' : ''}`)
    return
  }
  const env = await startDiameterEnv(t, { config: { watchdogSeconds: 1 } })
  const { accountId, msisdn } = await makeAccount(env.core.store, { balance: 1_000_000n })
  const dir = mkdtempSync(join(tmpdir(), 'ocs-erlang-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pcap = join(dir, 'capture.pcapng')

  // Capture on loopback, live before the client starts (test/helpers/capture.ts).
  const cap = await startCapture(tshark, `tcp port ${env.port}`, pcap)
  t.teardown(() => cap.stop())

  const out = await new Promise<string>((resolve, reject) => {
    execFile(escript, [ESCRIPT, '127.0.0.1', String(env.port), msisdn, dir], { timeout: 40_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`escript failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
  t.comment(out.trim())
  const r = parse(out)
  t.ok(r['PEER-UP'], 'CER/CEA: the Erlang peer is up')
  t.ok(Number(r.WATCHDOG?.dwa_recv) >= 1, 'the client sent DWR and got DWA')
  t.ok(Number(r.WATCHDOG?.dwr_recv) >= 1, 'the OCS sent DWR (Tw 1 s) and the client answered')
  t.match(r['CCA-I'], { rc: '2001', type: '1', number: '0', mscc_rc: '2001', gsu_total: '1048576', validity: '900', threshold: '209715' }, 'CCA-I as read by OTP diameter')
  t.match(r['CCA-U'], { rc: '2001', type: '2', number: '1', mscc_rc: '2001', gsu_total: '1048576' }, 'CCA-U')
  t.match(r['CCA-T'], { rc: '2001', type: '3', number: '2', mscc_rc: '2001', gsu_total: 'undefined' }, 'CCA-T')
  t.match(r['CCA-E'], { rc: '2001', type: '4', gsu_ssu: '1' }, 'EVENT direct debit: top-level GSU')
  t.match(r['CCA-P'], { rc: '2001', cost_digits: '15', cost_exponent: '-2', currency: '978' }, 'EVENT price enquiry: Cost-Information 0.15 EUR')
  t.ok(r.DONE, 'the client stopped cleanly (DPR/DPA)')
  // 524288 + 100000 octets at 0.01 EUR/MiB = 0.005954, plus one SMS at 0.05
  t.same(await money(env.core.store, accountId), { balance: 1_000_000n - 5_954n - 50_000n, reserved: 0n }, 'balance after the session and the SMS')

  await cap.stop()

  const read = (args: string[]) => execFileSync(tshark, ['-n', '-r', pcap, '-d', `tcp.port==${env.port},diameter`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const cmds = read(['-Y', 'diameter', '-T', 'fields', '-e', 'diameter.cmd.code', '-e', 'diameter.flags.request', '-e', 'tcp.srcport'])
    .trim()
    .split('\n')
    .flatMap((l) => {
      const [codes, reqs, sport] = l.split('\t')
      // a frame may carry several Diameter messages
      const rs = reqs.split(',')
      return codes.split(',').map((c, i) => `${sport === String(env.port) ? 'ocs' : 'erl'}:${c}${rs[i] === 'True' || rs[i] === '1' ? 'R' : 'A'}`)
    })
  const count = (k: string) => cmds.filter((c) => c === k).length
  t.same([count('erl:257R'), count('ocs:257A')], [1, 1], 'CER/CEA captured')
  t.ok(count('erl:280R') >= 1 && count('ocs:280A') >= 1, 'DWR from the client, DWA from the OCS')
  t.ok(count('ocs:280R') >= 1 && count('erl:280A') >= 1, 'DWR from the OCS, DWA from the client')
  t.same([count('erl:272R'), count('ocs:272A')], [5, 5], 'five CCR/CCA')
  t.same([count('erl:282R'), count('ocs:282A')], [1, 1], 'DPR/DPA on stop')

  const malformed = read(['-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number']).trim()
  t.equal(malformed, '', 'no malformed packet')
  const expert = read(['-q', '-z', 'expert,warn,diameter'])
  t.equal(expert.trim(), '', 'no expert warning or error on any Diameter frame')
  const verbose = read(['-Y', `diameter && tcp.srcport == ${env.port}`, '-V'])
  t.notMatch(verbose, /Malformed|\[Expert Info \((Error|Warning)|Unknown AVP/i, 'nothing malformed or unknown in what the OCS sent')
  t.match(verbose, /Vendor-Specific-Application-Id/, 'the dissection covers our CEA')
})
