// CCRs in the shape Open5GS's SMF/PGW sends on Gy (src/smf/gy-path.c), as listed in SPEC.md "What real
// Gy clients send": two Subscription-Ids (IMSI first, then E.164), Requested-Action DIRECT_DEBITING and
// AoC-Request-Type even on session CCRs, Multiple-Services-Indicator 0 with one MSCC that has no
// Rating-Group and no Service-Identifier, a fixed (current) or empty (older releases) RSU, a USU with
// CC-Time and CC-Input/Output-Octets but no CC-Total-Octets, Reporting-Reason inside the USU or at
// MSCC level, QoS-Information (TS 29.212) in the MSCC, Service-Information → PS-Information with the
// TS 29.061 / 32.299 AVPs, most with the M bit, and Destination-Host only after the CCA-I.
//
// These are hand-built with our encoder (no Open5GS here); the bytes are frozen in
// test/fixtures/diameter/open5gs/*.hex so a change in the builder or the encoder shows up.
// Regenerate with: npx tsx test/helpers/diameter-open5gs.ts --write
import { writeFileSync } from 'node:fs'
import { encode, type AvpInput } from '../../src/diameter/codec.js'

export const OPEN5GS = {
  originHost: 'smf.epc.mnc001.mcc001.3gppnetwork.org',
  originRealm: 'epc.mnc001.mcc001.3gppnetwork.org',
  sessionId: 'smf.epc.mnc001.mcc001.3gppnetwork.org;1764161658;7;app_gy',
  imsi: '001010000000042',
  msisdn: '46700000042',
  /** the fixed CC-Total-Octets of the RSU in current releases */
  rsuOctets: 1_000_000,
} as const

const M = { mandatory: true }
const TS = new Date(Date.UTC(2026, 10, 26, 12, 0, 0))

function psInformation(): AvpInput {
  const v = (name: string, value: AvpInput['value']): AvpInput => ({ name, value, flags: M })
  return {
    name: 'Service-Information',
    value: [
      {
        name: 'PS-Information',
        value: [
          v('3GPP-Charging-Id', 7),
          v('3GPP-PDP-Type', 0),
          v('PDP-Address', '10.45.0.2'),
          v('SGSN-Address', '127.0.0.4'),
          v('GGSN-Address', '127.0.0.4'),
          v('Called-Station-Id', 'internet'),
          v('3GPP-Selection-Mode', '0'),
          v('3GPP-Charging-Characteristics', '0800'),
          v('3GPP-SGSN-MCC-MNC', '00101'),
          v('3GPP-NSAPI', Buffer.from('05', 'hex')),
          v('3GPP-MS-TimeZone', Buffer.from('4000', 'hex')),
          v('3GPP-User-Location-Info', Buffer.from('8200f110000100f110000001a0', 'hex')),
          v('3GPP-RAT-Type', Buffer.from('06', 'hex')),
          { name: 'User-Equipment-Info', value: [{ name: 'User-Equipment-Info-Type', value: 0 }, { name: 'User-Equipment-Info-Value', value: Buffer.from('3520990017614823', 'hex') }] },
        ],
      },
    ],
  }
}

function qos(): AvpInput {
  return {
    name: 'QoS-Information',
    value: [
      { name: 'QoS-Class-Identifier', value: 9 },
      {
        name: 'Allocation-Retention-Priority',
        value: [
          { name: 'Priority-Level', value: 8, flags: M },
          { name: 'Pre-emption-Capability', value: 1, flags: M },
          { name: 'Pre-emption-Vulnerability', value: 1, flags: M },
        ],
        flags: M,
      },
      { name: 'APN-Aggregate-Max-Bitrate-UL', value: 1_000_000_000, flags: M },
      { name: 'APN-Aggregate-Max-Bitrate-DL', value: 1_000_000_000, flags: M },
    ],
  }
}

export interface Open5gsCcr {
  type: 1 | 2 | 3
  number: number
  /** RSU: 'fixed' (current releases), 'empty' (older), or none */
  rsu?: 'fixed' | 'empty'
  /** USU octets and seconds; no CC-Total-Octets */
  usu?: { time: number; input: number; output: number }
  /** where Reporting-Reason sits: inside the USU or at MSCC level */
  reason?: { value: number; at: 'usu' | 'mscc' }
  sessionId?: string
  ocsHost?: string
}

export function open5gsCcrAvps(o: Open5gsCcr): AvpInput[] {
  const mscc: AvpInput[] = []
  if (o.rsu === 'fixed') mscc.push({ name: 'Requested-Service-Unit', value: [{ name: 'CC-Total-Octets', value: BigInt(OPEN5GS.rsuOctets) }] })
  if (o.rsu === 'empty') mscc.push({ name: 'Requested-Service-Unit', value: [] })
  if (o.usu) {
    const usu: AvpInput[] = [
      { name: 'CC-Time', value: o.usu.time },
      { name: 'CC-Input-Octets', value: BigInt(o.usu.input) },
      { name: 'CC-Output-Octets', value: BigInt(o.usu.output) },
    ]
    if (o.reason?.at === 'usu') usu.push({ name: 'Reporting-Reason', value: o.reason.value })
    mscc.push({ name: 'Used-Service-Unit', value: usu })
  }
  if (o.reason?.at === 'mscc') mscc.push({ name: 'Reporting-Reason', value: o.reason.value })
  mscc.push(qos())

  const avps: AvpInput[] = [
    { name: 'Session-Id', value: o.sessionId ?? OPEN5GS.sessionId },
    { name: 'Origin-Host', value: OPEN5GS.originHost },
    { name: 'Origin-Realm', value: OPEN5GS.originRealm },
    { name: 'Destination-Realm', value: 'localdomain' },
    { name: 'Auth-Application-Id', value: 4 },
    { name: 'Service-Context-Id', value: '32251@3gpp.org' },
    { name: 'CC-Request-Type', value: o.type },
    { name: 'CC-Request-Number', value: o.number },
  ]
  // Destination-Host absent on the CCR-I, then the OCS's Origin-Host from the CCA-I.
  if (o.type !== 1) avps.push({ name: 'Destination-Host', value: o.ocsHost ?? 'ocs.localdomain' })
  avps.push(
    { name: 'Origin-State-Id', value: 1764161600 },
    { name: 'Event-Timestamp', value: TS },
    { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 'END_USER_IMSI' }, { name: 'Subscription-Id-Data', value: OPEN5GS.imsi }] },
    { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 'END_USER_E164' }, { name: 'Subscription-Id-Data', value: OPEN5GS.msisdn }] },
    { name: 'Requested-Action', value: 'DIRECT_DEBITING' },
    { name: 'AoC-Request-Type', value: 0, flags: { mandatory: true } },
    { name: 'Multiple-Services-Indicator', value: 'MULTIPLE_SERVICES_NOT_SUPPORTED' },
    { name: 'Multiple-Services-Credit-Control', value: mscc },
    { name: 'User-Equipment-Info', value: [{ name: 'User-Equipment-Info-Type', value: 0 }, { name: 'User-Equipment-Info-Value', value: Buffer.from('3520990017614823', 'hex') }] },
    psInformation(),
  )
  if (o.type === 3) avps.push({ name: 'Termination-Cause', value: 'DIAMETER_LOGOUT' })
  return avps
}

export function open5gsCcr(o: Open5gsCcr, hopByHop: number, endToEnd: number): Buffer {
  return encode({ flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop, endToEnd, avps: open5gsCcrAvps(o) })
}

/** The frozen fixtures: file name → message. */
export const OPEN5GS_FIXTURES: Array<[string, Open5gsCcr, number]> = [
  ['CCR-I', { type: 1, number: 0, rsu: 'fixed' }, 0x4f000001],
  ['CCR-U', { type: 2, number: 1, rsu: 'fixed', usu: { time: 30, input: 300_000, output: 200_000 }, reason: { value: 3, at: 'usu' } }, 0x4f000002],
  ['CCR-U-validity', { type: 2, number: 2, rsu: 'fixed', usu: { time: 20, input: 0, output: 0 }, reason: { value: 4, at: 'mscc' } }, 0x4f000003],
  ['CCR-T', { type: 3, number: 3, usu: { time: 10, input: 100_000, output: 50_000 }, reason: { value: 2, at: 'usu' } }, 0x4f000004],
  ['CCR-I-empty-rsu', { type: 1, number: 0, rsu: 'empty', sessionId: `${OPEN5GS.sessionId}-old` }, 0x4f000005],
]

export const OPEN5GS_FIXTURE_DIR = new URL('../fixtures/diameter/open5gs/', import.meta.url)

if (process.argv[1]?.endsWith('diameter-open5gs.ts') && process.argv.includes('--write')) {
  for (const [name, o, id] of OPEN5GS_FIXTURES) writeFileSync(new URL(`${name}.hex`, OPEN5GS_FIXTURE_DIR), `${open5gsCcr(o, id, id).toString('hex')}\n`)
}
