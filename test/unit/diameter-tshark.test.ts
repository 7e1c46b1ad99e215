// A peer nobody here wrote judges our encoder: answers and server-initiated requests the OCS sends
// are written into a pcap (global header + Ethernet/IPv4/TCP frames to/from port 3868, built here)
// and Wireshark's Diameter dissector (tshark, Debian package "tshark") must find nothing malformed
// and no expert info, and must read back the fields we wrote. As a control, Kamailio's CCR-I (whose
// User-Equipment-Info Wireshark calls malformed) must be flagged by the same check.
// tshark is required: this suite fails, rather than skips, when it is missing.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { decode, encode, type AvpInput, type MessageInput } from '../../src/diameter/codec.js'

const FIXTURES = new URL('../fixtures/diameter/kamailio-5.6-ims_charging/', import.meta.url)

function tsharkPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

function checksum(buf: Buffer): number {
  let sum = 0
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i)
  if (buf.length & 1) sum += buf[buf.length - 1] << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

interface Packet {
  fromServer: boolean
  payload: Buffer
}

/** libpcap file, LINKTYPE_ETHERNET, one TCP stream 127.0.0.1:40000 <-> 127.0.0.2:3868 with consistent seq/ack. */
function pcap(packets: Packet[]): Buffer {
  const global = Buffer.alloc(24)
  global.writeUInt32LE(0xa1b2c3d4, 0) // magic, microsecond timestamps
  global.writeUInt16LE(2, 4)
  global.writeUInt16LE(4, 6)
  global.writeUInt32LE(262144, 16) // snaplen
  global.writeUInt32LE(1, 20) // Ethernet
  const parts = [global]
  const client = [127, 0, 0, 1]
  const server = [127, 0, 0, 2]
  let clientSeq = 1000
  let serverSeq = 5000
  let ts = 1764161658
  for (const p of packets) {
    const [src, dst] = p.fromServer ? [server, client] : [client, server]
    const tcp = Buffer.alloc(20)
    tcp.writeUInt16BE(p.fromServer ? 3868 : 40000, 0)
    tcp.writeUInt16BE(p.fromServer ? 40000 : 3868, 2)
    tcp.writeUInt32BE(p.fromServer ? serverSeq : clientSeq, 4)
    tcp.writeUInt32BE(p.fromServer ? clientSeq : serverSeq, 8)
    tcp[12] = 5 << 4 // data offset: 5 words
    tcp[13] = 0x18 // PSH, ACK
    tcp.writeUInt16BE(65535, 14)
    const tcpLen = 20 + p.payload.length
    const pseudo = Buffer.concat([Buffer.from(src), Buffer.from(dst), Buffer.from([0, 6, tcpLen >> 8, tcpLen & 0xff]), tcp, p.payload])
    tcp.writeUInt16BE(checksum(pseudo), 16)
    const ip = Buffer.alloc(20)
    ip[0] = 0x45
    ip.writeUInt16BE(20 + tcpLen, 2)
    ip[6] = 0x40 // DF
    ip[8] = 64
    ip[9] = 6
    Buffer.from(src).copy(ip, 12)
    Buffer.from(dst).copy(ip, 16)
    ip.writeUInt16BE(checksum(ip), 10)
    const eth = Buffer.from(p.fromServer ? '020000000001020000000002' : '020000000002020000000001', 'hex')
    const frame = Buffer.concat([eth, Buffer.from([0x08, 0x00]), ip, tcp, p.payload])
    const rec = Buffer.alloc(16)
    rec.writeUInt32LE(ts++, 0)
    rec.writeUInt32LE(frame.length, 8)
    rec.writeUInt32LE(frame.length, 12)
    parts.push(rec, frame)
    if (p.fromServer) serverSeq += p.payload.length
    else clientSeq += p.payload.length
  }
  return Buffer.concat(parts)
}

const ORIGIN: AvpInput[] = [
  { name: 'Origin-Host', value: 'ocs.localdomain' },
  { name: 'Origin-Realm', value: 'localdomain' },
]
const SESSION = 'pgw.example;1764161658;42'
const answer = (commandCode: number, applicationId: number, hbh: number, avps: AvpInput[], error = false): MessageInput => ({
  flags: { request: false, proxiable: commandCode !== 257 && commandCode !== 280 && commandCode !== 282, error },
  commandCode,
  applicationId,
  hopByHop: hbh,
  endToEnd: 0x10000 + hbh,
  avps,
})

const MESSAGES: Array<[string, MessageInput]> = [
  [
    'CEA',
    answer(257, 0, 1, [
      { name: 'Result-Code', value: 'DIAMETER_SUCCESS' },
      ...ORIGIN,
      { name: 'Host-IP-Address', value: '127.0.0.2' },
      { name: 'Host-IP-Address', value: '2001:db8::2' },
      { name: 'Vendor-Id', value: 0 },
      { name: 'Product-Name', value: 'ocs' },
      { name: 'Origin-State-Id', value: 1764161658 },
      { name: 'Supported-Vendor-Id', value: 10415 },
      { name: 'Auth-Application-Id', value: 4 },
      { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: 10415 }, { name: 'Auth-Application-Id', value: 4 }] },
      { name: 'Firmware-Revision', value: 1 },
    ]),
  ],
  [
    'CCA-I',
    answer(272, 4, 2, [
      { name: 'Session-Id', value: SESSION },
      { name: 'Result-Code', value: 'DIAMETER_SUCCESS' },
      ...ORIGIN,
      { name: 'Auth-Application-Id', value: 4 },
      { name: 'CC-Request-Type', value: 'INITIAL_REQUEST' },
      { name: 'CC-Request-Number', value: 0 },
      {
        name: 'Multiple-Services-Credit-Control',
        value: [
          { name: 'Granted-Service-Unit', value: [{ name: 'CC-Total-Octets', value: 2n ** 40n }, { name: 'CC-Time', value: 3600 }] },
          { name: 'Rating-Group', value: 10 },
          { name: 'Service-Identifier', value: 1 },
          { name: 'Validity-Time', value: 600 },
          { name: 'Result-Code', value: 2001 },
          { name: 'Volume-Quota-Threshold', value: 1048576 },
          { name: 'Time-Quota-Threshold', value: 60 },
          { name: 'Quota-Holding-Time', value: 300 },
          { name: 'Trigger', value: [{ name: 'Trigger-Type', value: 'CHANGE_IN_RAT' }] },
        ],
      },
      { name: 'Tariff-Time-Change', value: new Date(Date.UTC(2026, 11, 1, 22, 0, 0)) },
      { name: 'Low-Balance-Indication', value: 'NOT-APPLICABLE' },
    ]),
  ],
  [
    'CCA-U final units',
    answer(272, 4, 3, [
      { name: 'Session-Id', value: SESSION },
      { name: 'Result-Code', value: 2001 },
      ...ORIGIN,
      { name: 'Auth-Application-Id', value: 4 },
      { name: 'CC-Request-Type', value: 'UPDATE_REQUEST' },
      { name: 'CC-Request-Number', value: 1 },
      {
        name: 'Multiple-Services-Credit-Control',
        value: [
          { name: 'Granted-Service-Unit', value: [{ name: 'CC-Total-Octets', value: 1000000n }] },
          { name: 'Rating-Group', value: 10 },
          { name: 'Result-Code', value: 2001 },
          {
            name: 'Final-Unit-Indication',
            value: [
              { name: 'Final-Unit-Action', value: 'REDIRECT' },
              { name: 'Redirect-Server', value: [{ name: 'Redirect-Address-Type', value: 'URL' }, { name: 'Redirect-Server-Address', value: 'http://topup.example/' }] },
            ],
          },
        ],
      },
      { name: 'Cost-Information', value: [{ name: 'Unit-Value', value: [{ name: 'Value-Digits', value: -12345n }, { name: 'Exponent', value: -2 }] }, { name: 'Currency-Code', value: 978 }] },
    ]),
  ],
  [
    'CCA-E error with Failed-AVP',
    answer(
      272,
      4,
      4,
      [
        { name: 'Session-Id', value: SESSION },
        { name: 'Result-Code', value: 'DIAMETER_MISSING_AVP' },
        ...ORIGIN,
        { name: 'Auth-Application-Id', value: 4 },
        { name: 'CC-Request-Type', value: 'EVENT_REQUEST' },
        { name: 'CC-Request-Number', value: 0 },
        { name: 'Error-Message', value: 'no CC-Request-Number' },
        // RFC 6733 §7.5: for a missing AVP, an example of it with a zero-filled value.
        { name: 'Failed-AVP', value: [{ name: 'CC-Request-Number', value: 0 }] },
      ],
      true,
    ),
  ],
  ['DWA', answer(280, 0, 5, [{ name: 'Result-Code', value: 2001 }, ...ORIGIN, { name: 'Origin-State-Id', value: 1764161658 }])],
  [
    'RAR',
    {
      flags: { request: true, proxiable: true },
      commandCode: 258,
      applicationId: 4,
      hopByHop: 6,
      endToEnd: 0x10006,
      avps: [
        { name: 'Session-Id', value: SESSION },
        ...ORIGIN,
        { name: 'Destination-Realm', value: 'example' },
        { name: 'Destination-Host', value: 'pgw.example' },
        { name: 'Auth-Application-Id', value: 4 },
        { name: 'Re-Auth-Request-Type', value: 'AUTHORIZE_ONLY' },
      ],
    },
  ],
  [
    'ASR',
    {
      flags: { request: true, proxiable: true },
      commandCode: 274,
      applicationId: 4,
      hopByHop: 7,
      endToEnd: 0x10007,
      avps: [
        { name: 'Session-Id', value: SESSION },
        ...ORIGIN,
        { name: 'Destination-Realm', value: 'example' },
        { name: 'Destination-Host', value: 'pgw.example' },
        { name: 'Auth-Application-Id', value: 4 },
      ],
    },
  ],
  [
    'DPR',
    {
      flags: { request: true },
      commandCode: 282,
      applicationId: 0,
      hopByHop: 8,
      endToEnd: 0x10008,
      avps: [...ORIGIN, { name: 'Disconnect-Cause', value: 'REBOOTING' }],
    },
  ],
]

function runTshark(bin: string, file: string, args: string[]): string {
  return execFileSync(bin, ['-n', '-r', file, '-o', 'tcp.analyze_sequence_numbers:FALSE', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60000,
  })
}

t.test('tshark finds nothing malformed in what the encoder produces', async (t) => {
  const bin = tsharkPath()
  if (bin === undefined) {
    t.fail('tshark is not installed: this suite needs Debian package "tshark" (DEBIAN_FRONTEND=noninteractive apt-get install -y tshark)')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'ocs-diameter-tshark-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  const wires = MESSAGES.map(([, m]) => encode(m))
  for (let i = 0; i < wires.length; i++) t.ok(decode(wires[i], { strict: true }), `${MESSAGES[i][0]}: our own strict decoder accepts it`)
  const file = join(dir, 'ocs.pcap')
  // Everything here is sent by the OCS: answers, and its own RAR/ASR/DPR.
  writeFileSync(file, pcap(wires.map((payload) => ({ fromServer: true, payload }))))

  const expert = runTshark(bin, file, ['-q', '-z', 'expert'])
  t.notMatch(expert, /Errors|Warns|Notes|Malformed|Chats/, 'no expert info at all')
  const verbose = runTshark(bin, file, ['-V'])
  t.notMatch(verbose, /Malformed|Expert Info|Unknown AVP|\[Unknown/i, 'no malformed or unknown AVP in the full dissection')

  const fields = runTshark(bin, file, [
    '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
    '-e', 'diameter.cmd.code', '-e', 'diameter.flags.request', '-e', 'diameter.hopbyhopid', '-e', 'diameter.Result-Code',
    '-e', 'diameter.CC-Request-Type', '-e', 'diameter.CC-Total-Octets', '-e', 'diameter.Session-Id',
  ])
  const rows = fields.trim().split('\n').map((l) => l.split('|'))
  t.equal(rows.length, MESSAGES.length, 'one Diameter message per frame')
  const flag = (v: string): string => (v === 'True' || v === '1' ? '1' : '0')
  t.same(
    rows.map((r) => [r[0], flag(r[1]), r[2]]),
    MESSAGES.map(([, m]) => [String(m.commandCode), m.flags?.request ? '1' : '0', `0x${m.hopByHop.toString(16).padStart(8, '0')}`]),
    'command codes, R bits and hop-by-hop ids as sent',
  )
  t.same(rows.map((r) => r[3]), ['2001', '2001', '2001', '5005', '2001', '', '', ''], 'Result-Codes')
  t.same(rows.slice(1, 4).map((r) => r[4]), ['1', '2', '4'], 'CC-Request-Type')
  t.equal(rows[1][5], '1099511627776', 'Unsigned64 2^40 read by Wireshark')
  t.equal(rows[1][6], SESSION)
})

t.test('control: the same check flags what Wireshark calls malformed', async (t) => {
  const bin = tsharkPath()
  if (bin === undefined) {
    t.fail('tshark is not installed (Debian package "tshark")')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'ocs-diameter-tshark-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ccr = Buffer.from(readFileSync(new URL('CCR-I.hex', FIXTURES), 'utf8').trim(), 'hex')
  const file = join(dir, 'kamailio.pcap')
  writeFileSync(file, pcap([{ fromServer: false, payload: ccr }]))
  const expert = runTshark(bin, file, ['-q', '-z', 'expert'])
  t.match(expert, /Malformed\s+Diameter\s+Invalid User-Equipment-Info-Value length/)
  // Our decoder takes it as it is: a 17-byte OctetString.
  t.equal(decode(ccr).irregularities, undefined)
})
