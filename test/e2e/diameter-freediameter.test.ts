// Interop through a relay nobody here wrote: Debian's freeDiameter daemon (package freediameter:
// freeDiameterd and its extensions) stands between the Erlang/OTP diameter client
// (test/erlang/cc_client.escript) and the OCS, the way a DRA sits in front of an OCS in a network:
//
//   escript (erlang.client.test, realm client.test) ──TCP──▶ freeDiameterd (relay.fd.test, realm fd.test)
//                                                           ──TCP──▶ OCS (ocs.localdomain, realm localdomain)
//
// freeDiameter connects to the OCS itself (ConnectPeer, No_TLS), which admits it by its Origin-Host
// (the only peer on the OCS's allow-list), advertises the Relay application (0xffffffff) and forwards
// credit-control requests by Destination-Realm (rt_default: dr="localdomain" → ocs.localdomain).
// The client is let in by acl_wl (ALLOW_IPSEC: plain TCP). freeDiameter wants TLS material even when
// no connection uses TLS: a throwaway self-signed certificate is made with openssl.
//
// Through the relay: CER/CEA on both legs, CCR-I, a Re-Auth-Request from the OCS that has to find its
// way back to the client (Destination-Host = the client, not the relay), CCR-U, CCR-T, an SMS EVENT
// (direct debit) and a price enquiry; the balance is checked in the OCS afterwards. Both legs are
// captured on loopback with tshark, and Wireshark's dissector must find nothing malformed and no expert
// warning or error in either. freeDiameterd, escript and tshark are required: the suite fails, rather
// than skips, when one is missing (scripts/setup.sh installs them with OCS_SETUP_TEST=1).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { makeAccount, money } from '../helpers/core.js'
import { startDiameterEnv } from '../helpers/diameter-env.js'
import { startCapture } from '../helpers/capture.js'
import { freePort } from '../../src/balance/embedded-redis.js'

const ESCRIPT = fileURLToPath(new URL('../erlang/cc_client.escript', import.meta.url))
const FD_EXT = '/usr/lib/freeDiameter'
const RELAY = 'relay.fd.test'
const CLIENT = 'erlang.client.test'

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** Resolves with the first match of `re` in what the process printed so far or prints next. */
function waitOutput(p: ChildProcess, out: { text: string }, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(out.text)
      if (m) {
        cleanup()
        resolve(m)
      }
      return m !== null
    }
    const onExit = (): void => {
      if (!check()) {
        cleanup()
        reject(new Error(`${what}: exited (${p.exitCode ?? p.signalCode}) before ${re}:\n${out.text.slice(-3000)}`))
      }
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what}: no ${re} within ${ms} ms:\n${out.text.slice(-3000)}`))
    }, ms)
    const cleanup = (): void => {
      clearTimeout(timer)
      p.stdout?.off('data', check)
      p.stderr?.off('data', check)
      p.off('exit', onExit)
    }
    p.stdout?.on('data', check)
    p.stderr?.on('data', check)
    p.once('exit', onExit)
    if (p.exitCode !== null || p.signalCode !== null) onExit()
    else check()
  })
}

function collect(p: ChildProcess): { text: string } {
  const out = { text: '' }
  p.stdout?.on('data', (d: Buffer) => (out.text += d.toString()))
  p.stderr?.on('data', (d: Buffer) => (out.text += d.toString()))
  return out
}

async function stopProcess(p: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
  p.kill(signal)
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
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

t.test('Erlang/OTP diameter client → freeDiameter relay → OCS, both legs captured by tshark', async (t) => {
  const bins = { escript: which('escript'), tshark: which('tshark'), freeDiameterd: which('freeDiameterd'), openssl: which('openssl') }
  const missing = Object.entries(bins).filter(([, v]) => v === undefined).map(([k]) => k)
  if (!existsSync(join(FD_EXT, 'rt_default.fdx')) || !existsSync(join(FD_EXT, 'acl_wl.fdx'))) missing.push('freeDiameter extensions')
  if (missing.length > 0) {
    t.fail(`needs ${missing.join(', ')} (Debian packages freediameter, erlang-base erlang-diameter, tshark, openssl)`)
    return
  }
  const { escript, tshark, freeDiameterd, openssl } = bins as Record<keyof typeof bins, string>

  // The OCS admits the relay, and only the relay: the client cannot connect to it directly.
  const env = await startDiameterEnv(t, { config: { watchdogSeconds: 1, peers: [{ originHost: RELAY, addresses: ['127.0.0.1', '::1'] }] } })
  const { accountId, msisdn } = await makeAccount(env.core.store, { balance: 1_000_000n })
  const direct = await env.connect({ originHost: CLIENT, originRealm: 'client.test' })
  t.equal(direct.cea?.avps.find((a) => a.name === 'Result-Code')?.value, 3010, 'the client itself is not on the OCS allow-list (CEA 3010)')
  await direct.close()

  const dir = mkdtempSync(join(tmpdir(), 'ocs-freediameter-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fdPort = await freePort()
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${RELAY}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  writeFileSync(join(dir, 'acl_wl.conf'), `ALLOW_IPSEC ${CLIENT}\n`)
  writeFileSync(join(dir, 'rt_default.conf'), 'dr="localdomain" : "ocs.localdomain" += FINALDEST ;\n')
  writeFileSync(
    join(dir, 'freeDiameter.conf'),
    [
      `Identity = "${RELAY}";`,
      'Realm = "fd.test";',
      `Port = ${fdPort};`,
      'SecPort = 0;',
      'No_SCTP;',
      'No_IPv6;',
      // (ListenOn = "127.0.0.1" would be dropped: freeDiameter 1.2.1 leaves loopback addresses out of its
      // endpoints and then listens on the wildcard address; only acl_wl's one name gets in, without TLS.)
      'TcTimer = 6;',
      'TwTimer = 6;',
      `TLS_Cred = "${join(dir, 'cert.pem')}", "${join(dir, 'key.pem')}";`,
      `TLS_CA = "${join(dir, 'cert.pem')}";`,
      `LoadExtension = "${FD_EXT}/acl_wl.fdx" : "${join(dir, 'acl_wl.conf')}";`,
      `LoadExtension = "${FD_EXT}/rt_default.fdx" : "${join(dir, 'rt_default.conf')}";`,
      `ConnectPeer = "ocs.localdomain" { ConnectTo = "127.0.0.1"; Port = ${env.port}; No_TLS; No_SCTP; No_IPv6; };`,
      '',
    ].join('\n'),
  )

  // Capture both legs on loopback, live before freeDiameter connects to the OCS (test/helpers/capture.ts).
  const pcap = join(dir, 'capture.pcapng')
  const cap = await startCapture(tshark, `tcp port ${fdPort} or tcp port ${env.port}`, pcap)
  t.teardown(() => cap.stop())

  const fd = spawn(freeDiameterd, ['-c', join(dir, 'freeDiameter.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  const fdOut = collect(fd)
  t.teardown(() => stopProcess(fd, 'SIGTERM', 5000))
  await waitOutput(fd, fdOut, /'STATE_OPEN'\s+'ocs\.localdomain'/, 20_000, 'freeDiameterd')
  t.match(env.server.peerList(), [{ originHost: RELAY, state: 'Open' }], 'freeDiameter is an open peer of the OCS')

  // The client: CER/CEA with freeDiameter, then everything relayed. After CCA-I it prints its
  // Session-Id and waits for the OCS's RAR on it.
  const cli = spawn(escript, [ESCRIPT, '127.0.0.1', String(fdPort), msisdn, dir, 'rar'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const cliOut = collect(cli)
  t.teardown(() => stopProcess(cli, 'SIGKILL', 1000))
  const sid = (await waitOutput(cli, cliOut, /^SESSION (\S+)$/m, 30_000, 'escript'))[1]
  t.equal(await env.server.reauth(sid), 2001, 'RAR from the OCS reached the client through the relay: RAA 2001')
  await waitOutput(cli, cliOut, /^DONE$/m, 30_000, 'escript')
  const cliExit = cli.exitCode ?? (await new Promise<number | null>((resolve) => cli.once('exit', resolve)))
  t.equal(cliExit, 0, 'the escript exited cleanly')
  t.comment(cliOut.text.trim())

  const r = parse(cliOut.text)
  t.ok(r['PEER-UP'], 'CER/CEA between the Erlang client and freeDiameter')
  t.match(r.RAR, { dest_host: CLIENT, dest_realm: 'client.test', origin_host: 'ocs.localdomain' }, 'the RAR is addressed to the client, not to the relay')
  t.match(r['CCA-I'], { rc: '2001', type: '1', number: '0', mscc_rc: '2001', gsu_total: '1048576', validity: '900', threshold: '209715' }, 'CCA-I through the relay')
  t.match(r['CCA-U'], { rc: '2001', type: '2', number: '1', mscc_rc: '2001', gsu_total: '1048576' }, 'CCA-U')
  t.match(r['CCA-T'], { rc: '2001', type: '3', number: '2', mscc_rc: '2001', gsu_total: 'undefined' }, 'CCA-T')
  t.match(r['CCA-E'], { rc: '2001', type: '4', gsu_ssu: '1' }, 'EVENT (SMS) direct debit: one unit granted')
  t.match(r['CCA-P'], { rc: '2001', cost_digits: '15', cost_exponent: '-2', currency: '978' }, 'EVENT price enquiry: Cost-Information 0.15 EUR')
  // 524288 + 100000 octets at 0.01 EUR/MiB = 0.005954, plus one SMS at 0.05
  t.same(await money(env.core.store, accountId), { balance: 1_000_000n - 5_954n - 50_000n, reserved: 0n }, 'balance in the OCS after the session and the SMS')

  // freeDiameter stops with a DPR to the OCS; then the capture ends.
  await stopProcess(fd, 'SIGTERM', 20_000)
  await cap.stop()

  const read = (args: string[]): string =>
    execFileSync(tshark, ['-n', '-r', pcap, '-d', `tcp.port==${fdPort},diameter`, '-d', `tcp.port==${env.port},diameter`, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    })
  // "leg:who:code(R|A)", leg a = client↔freeDiameter, leg b = freeDiameter↔OCS; a frame may carry several messages.
  const msgs = read(['-Y', 'diameter', '-T', 'fields', '-e', 'diameter.cmd.code', '-e', 'diameter.flags.request', '-e', 'tcp.srcport', '-e', 'tcp.dstport'])
    .trim()
    .split('\n')
    .flatMap((l) => {
      const [codes, reqs, sport, dport] = l.split('\t')
      const rs = reqs.split(',')
      const ocs = String(env.port)
      const leg = sport === ocs || dport === ocs ? 'b' : 'a'
      const who = leg === 'b' ? (sport === ocs ? 'ocs' : 'fd') : sport === String(fdPort) ? 'fd' : 'erl'
      return codes.split(',').map((c, i) => `${leg}:${who}:${c}${rs[i] === 'True' || rs[i] === '1' ? 'R' : 'A'}`)
    })
  const count = (k: string): number => msgs.filter((m) => m === k).length
  t.same([count('a:erl:257R'), count('a:fd:257A')], [1, 1], 'leg client↔freeDiameter: CER/CEA')
  t.same([count('b:fd:257R'), count('b:ocs:257A')], [1, 1], 'leg freeDiameter↔OCS: CER/CEA')
  t.same([count('a:erl:272R'), count('a:fd:272A')], [5, 5], 'leg client↔freeDiameter: five CCR/CCA')
  t.same([count('b:fd:272R'), count('b:ocs:272A')], [5, 5], 'leg freeDiameter↔OCS: the same five CCR/CCA, relayed')
  t.same([count('b:ocs:258R'), count('b:fd:258A'), count('a:fd:258R'), count('a:erl:258A')], [1, 1, 1, 1], 'RAR/RAA relayed from the OCS to the client and back')
  t.ok(count('b:ocs:280R') >= 1 && count('b:fd:280A') >= 1, 'DWR from the OCS (Tw 1 s), DWA from freeDiameter')
  t.same([count('a:erl:282R'), count('a:fd:282A')], [1, 1], 'DPR/DPA when the client stops')
  t.same([count('b:fd:282R'), count('b:ocs:282A')], [1, 1], 'DPR/DPA when freeDiameter stops')

  const relayed = read(['-Y', `diameter.cmd.code == 272 && diameter.flags.request == 1 && tcp.dstport == ${env.port}`, '-T', 'fields', '-e', 'diameter.Route-Record'])
  t.same(relayed.trim().split('\n'), Array(5).fill(CLIENT), 'every CCR reaching the OCS carries Route-Record = the client (it went through the relay)')

  const malformed = read(['-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number']).trim()
  t.equal(malformed, '', 'no malformed packet on either leg')
  const expert = read(['-q', '-z', 'expert,warn,diameter'])
  t.equal(expert.trim(), '', 'no expert warning or error on any Diameter frame of either leg')
  const verbose = read(['-Y', `diameter && tcp.srcport == ${env.port}`, '-V'])
  t.notMatch(verbose, /Malformed|\[Expert Info \((Error|Warning)|Unknown AVP/i, 'nothing malformed or unknown in what the OCS sent')
  t.match(verbose, /Command Code: Credit-Control \(272\)[\s\S]*Multiple-Services-Credit-Control/, 'the dissection covers our CCAs')
})
