// The fuzz engine shared by `npm run fuzz` (scripts/fuzz.ts, 1,000,000 packets per protocol) and the
// 10,000-case slices in `npm test` (test/integration/diameter-fuzz.test.ts, radius-fuzz.test.ts).
//
// Every packet starts from a real valid message (the Kamailio and pppd captures in test/fixtures,
// the Open5GS-shaped CCRs, CCR-I/U/T/EVENT with MSCC built here, CER, DWR, DPR; Access-Request
// PAP/CHAP, Accounting Start/Interim/Stop/On, Status-Server) and is mutated: bit flips, random
// bytes, length lies in the header and in AVP/attribute lengths, truncation, random extra
// AVPs/attributes (typed by the dictionary or not), duplicated, deleted, moved, deeply nested AVPs,
// oversized and edge values. Packet i depends only on (seed, i): the same seed sends the same
// packets in any order, and `digest` proves it.
//
// Diameter: many connections (one Origin-Host each), pipelined up to a window; a message that breaks
// the stream (header length lie, version byte, truncated write, garbage) is the last one on its
// connection, after which the connection is ended and a new one opened; every packet's fate is
// counted: answered, closed (the server closed the connection with it pending) or dropped (no answer).
// RADIUS: UDP from many sockets, correctly signed (Request Authenticator, Message-Authenticator,
// User-Password and CHAP recomputed after the mutation) or deliberately not; replies are checked
// against their request's authenticator.
import { createHash } from 'node:crypto'
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { answerHeader, avpNumber, decode as decodeDiameter, defaultDictionary, encode as encodeDiameter, findAvp, type AvpInput, type DiameterMessage } from '../src/diameter/codec.js'
import { DiameterFramer } from '../src/diameter/framer.js'
import {
  chapPassword,
  computeMessageAuthenticator,
  computeRequestAuthenticator,
  findMessageAuthenticator,
  hidePassword,
  unhidePassword,
  verifyReply,
} from '../src/radius/authenticator.js'
import { encode as encodeRadius } from '../src/radius/codec.js'

// =============================================================================================
// Deterministic randomness

export interface Rng {
  /** [0, 1) */
  next(): number
  /** integer in [0, n) */
  int(n: number): number
  chance(p: number): boolean
  pick<T>(xs: readonly T[]): T
  bytes(n: number): Buffer
}

/** mulberry32 */
export function rng(seed: number): Rng {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (xs) => xs[int(xs.length)],
    bytes(n) {
      const b = Buffer.allocUnsafe(n)
      if (n <= 256) {
        for (let i = 0; i < n; i++) b[i] = int(256)
        return b
      }
      // Large blobs: a random 64-byte pattern repeated (cheap, still not all-zero).
      const pat = Buffer.allocUnsafe(64)
      for (let i = 0; i < 64; i++) pat[i] = int(256)
      for (let i = 0; i < n; i += 64) pat.copy(b, i, 0, Math.min(64, n - i))
      return b
    },
  }
}

/** The generator of packet `index` of a run with `seed`. */
export function caseRng(seed: number, index: number): Rng {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return rng((h ^ (h >>> 16)) >>> 0)
}

function weighted<T>(r: Rng, items: ReadonlyArray<readonly [T, number]>): T {
  let total = 0
  for (const [, w] of items) total += w
  let x = r.next() * total
  for (const [v, w] of items) {
    x -= w
    if (x < 0) return v
  }
  return items[items.length - 1][0]
}

const pad4 = (n: number): number => (n + 3) & ~3
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const FIXTURES = new URL('../test/fixtures/', import.meta.url)
const hexFixture = (path: string): Buffer => Buffer.from(readFileSync(new URL(path, FIXTURES), 'utf8').trim(), 'hex')

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n)
}

/** Order-independent digest of (index, packet) pairs: the same seed and count give the same value whatever the send order. */
export class PacketDigest {
  private acc = 0n
  add(index: number, bytes: Buffer): void {
    const i = Buffer.allocUnsafe(4)
    i.writeUInt32BE(index >>> 0)
    this.acc = BigInt.asUintN(64, this.acc + createHash('sha1').update(i).update(bytes).digest().readBigUInt64BE(0))
  }
  hex(): string {
    return this.acc.toString(16).padStart(16, '0')
  }
}

// =============================================================================================
// Diameter: seeds

export interface DiameterFuzzOptions {
  seed: number
  /** MSISDN of a funded subscriber for the built CCRs (the Kamailio captures use 46700000001, Open5GS 46700000042). */
  msisdn?: string
  /** Share of stream-breaking messages (each ends its connection). Default 0.03. */
  terminalShare?: number
}

interface DSeed {
  name: string
  weight: number
  /** Built per connection (CER, DWR, DPR carry the connection's Origin-Host). */
  bytes: Buffer | ((originHost: string) => Buffer)
}

const CCR_BASE = { flags: { request: true, proxiable: true }, commandCode: 272, applicationId: 4, hopByHop: 0, endToEnd: 0 } as const

function ccr(avps: AvpInput[]): Buffer {
  return encodeDiameter({ ...CCR_BASE, avps })
}

function ccrAvps(o: { sid: string; type: number; number: number; msisdn: string; context?: string; mscc?: AvpInput[][]; extra?: AvpInput[]; imsi?: string }): AvpInput[] {
  const avps: AvpInput[] = [
    { name: 'Session-Id', value: o.sid },
    { name: 'Origin-Host', value: 'pgw.fuzz' },
    { name: 'Origin-Realm', value: 'fuzz' },
    { name: 'Destination-Realm', value: 'localdomain' },
    { name: 'Auth-Application-Id', value: 4 },
    { name: 'Service-Context-Id', value: o.context ?? '32251@3gpp.org' },
    { name: 'CC-Request-Type', value: o.type },
    { name: 'CC-Request-Number', value: o.number },
    { name: 'Event-Timestamp', value: new Date(Date.UTC(2025, 0, 1)) },
    { name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 0 }, { name: 'Subscription-Id-Data', value: o.msisdn }] },
  ]
  if (o.imsi) avps.push({ name: 'Subscription-Id', value: [{ name: 'Subscription-Id-Type', value: 1 }, { name: 'Subscription-Id-Data', value: o.imsi }] })
  if (o.mscc) {
    avps.push({ name: 'Multiple-Services-Indicator', value: 1 })
    for (const kids of o.mscc) avps.push({ name: 'Multiple-Services-Credit-Control', value: kids })
  }
  avps.push(...(o.extra ?? []))
  return avps
}

function cerAvps(originHost: string): AvpInput[] {
  return [
    { name: 'Origin-Host', value: originHost },
    { name: 'Origin-Realm', value: 'fuzz' },
    { name: 'Host-IP-Address', value: '127.0.0.1' },
    { name: 'Vendor-Id', value: 0 },
    { name: 'Product-Name', value: 'ocs-fuzz' },
    { name: 'Supported-Vendor-Id', value: 10415 },
    { name: 'Auth-Application-Id', value: 4 },
    { name: 'Vendor-Specific-Application-Id', value: [{ name: 'Vendor-Id', value: 10415 }, { name: 'Auth-Application-Id', value: 4 }] },
  ]
}

/** A valid CER for a connection (hop-by-hop 1). */
export function cerBytes(originHost: string): Buffer {
  return encodeDiameter({ flags: { request: true }, commandCode: 257, applicationId: 0, hopByHop: 1, endToEnd: 1, avps: cerAvps(originHost) })
}

function diameterSeeds(msisdn: string): DSeed[] {
  const kam = (n: string): Buffer => hexFixture(`diameter/kamailio-5.6-ims_charging/${n}.hex`)
  const o5 = (n: string): Buffer => hexFixture(`diameter/open5gs/${n}.hex`)
  const rsu = (kids: AvpInput[] = []): AvpInput => ({ name: 'Requested-Service-Unit', value: kids })
  const usu = (kids: AvpInput[]): AvpInput => ({ name: 'Used-Service-Unit', value: kids })
  const octets = (i: number, o: number): AvpInput[] => [{ name: 'CC-Input-Octets', value: BigInt(i) }, { name: 'CC-Output-Octets', value: BigInt(o) }]
  const sid = 'pgw.fuzz;1;1'
  return [
    { name: 'kamailio CCR-I', weight: 6, bytes: kam('CCR-I') },
    { name: 'kamailio CCR-U', weight: 5, bytes: kam('CCR-U') },
    { name: 'kamailio CCR-T', weight: 4, bytes: kam('CCR-T') },
    { name: 'open5gs CCR-I', weight: 5, bytes: o5('CCR-I') },
    { name: 'open5gs CCR-I empty RSU', weight: 3, bytes: o5('CCR-I-empty-rsu') },
    { name: 'open5gs CCR-U', weight: 5, bytes: o5('CCR-U') },
    { name: 'open5gs CCR-U validity', weight: 2, bytes: o5('CCR-U-validity') },
    { name: 'open5gs CCR-T', weight: 4, bytes: o5('CCR-T') },
    {
      name: 'CCR-I data 2 MSCC',
      weight: 10,
      bytes: ccr(ccrAvps({ sid, type: 1, number: 0, msisdn, mscc: [[rsu(), { name: 'Rating-Group', value: 1 }], [rsu([{ name: 'CC-Total-Octets', value: 1000n }]), { name: 'Rating-Group', value: 2 }, { name: 'Service-Identifier', value: 7 }]] })),
    },
    {
      name: 'CCR-U data USU+RSU',
      weight: 10,
      bytes: ccr(ccrAvps({ sid, type: 2, number: 1, msisdn, mscc: [[rsu(), usu(octets(400_000, 600_000)), { name: 'Rating-Group', value: 1 }, { name: 'Reporting-Reason', value: 3 }]] })),
    },
    {
      name: 'CCR-T data USU',
      weight: 8,
      bytes: ccr(ccrAvps({ sid, type: 3, number: 2, msisdn, mscc: [[usu(octets(1000, 2000)), { name: 'Rating-Group', value: 1 }]], extra: [{ name: 'Termination-Cause', value: 1 }] })),
    },
    {
      name: 'CCR-I voice',
      weight: 4,
      bytes: ccr(ccrAvps({ sid, type: 1, number: 0, msisdn, context: '32260@3gpp.org', mscc: [[rsu([{ name: 'CC-Time', value: 60 }]), { name: 'Rating-Group', value: 100 }]] })),
    },
    {
      name: 'CCR-EVENT sms direct debit',
      weight: 6,
      bytes: ccr(ccrAvps({ sid, type: 4, number: 0, msisdn, context: '32274@3gpp.org', extra: [{ name: 'Requested-Action', value: 0 }, rsu([{ name: 'CC-Service-Specific-Units', value: 1n }])] })),
    },
    {
      name: 'CCR-EVENT sms MSCC price enquiry',
      weight: 2,
      bytes: ccr(ccrAvps({ sid, type: 4, number: 0, msisdn, context: '32274@3gpp.org', mscc: [[rsu([{ name: 'CC-Service-Specific-Units', value: 1n }]), { name: 'Service-Identifier', value: 1 }]], extra: [{ name: 'Requested-Action', value: 2 }] })),
    },
    { name: 'kamailio CER', weight: 0.5, bytes: kam('CER') },
    { name: 'CER', weight: 1.5, bytes: (h) => encodeDiameter({ flags: { request: true }, commandCode: 257, applicationId: 0, hopByHop: 0, endToEnd: 0, avps: cerAvps(h) }) },
    {
      name: 'DWR',
      weight: 3,
      bytes: (h) => encodeDiameter({ flags: { request: true }, commandCode: 280, applicationId: 0, hopByHop: 0, endToEnd: 0, avps: [{ name: 'Origin-Host', value: h }, { name: 'Origin-Realm', value: 'fuzz' }, { name: 'Origin-State-Id', value: 7 }] }),
    },
    {
      name: 'DPR',
      weight: 0.2,
      bytes: (h) => encodeDiameter({ flags: { request: true }, commandCode: 282, applicationId: 0, hopByHop: 0, endToEnd: 0, avps: [{ name: 'Origin-Host', value: h }, { name: 'Origin-Realm', value: 'fuzz' }, { name: 'Disconnect-Cause', value: 0 }] }),
    },
  ]
}

// =============================================================================================
// Diameter: structure-aware mutation

interface AvpNode {
  off: number
  /** declared AVP Length (header + data, no padding) */
  len: number
  hdr: number
  parent: AvpNode | undefined
  kids?: AvpNode[]
}

/** AVPs in buf[start, end); stops at the first one that does not fit. Grouped-looking data is parsed as children. */
function parseAvps(buf: Buffer, start: number, end: number, parent: AvpNode | undefined, depth: number, out: AvpNode[]): boolean {
  let p = start
  while (p < end) {
    if (end - p < 8) return false
    const len = buf.readUIntBE(p + 5, 3)
    const hdr = buf[p + 4] & 0x80 ? 12 : 8
    if (len < hdr || p + len > end) return false
    const node: AvpNode = { off: p, len, hdr, parent }
    out.push(node)
    if (depth < 6 && len - hdr >= 8) {
      const kids: AvpNode[] = []
      if (parseAvps(buf, p + hdr, p + len, node, depth + 1, kids) && kids.length > 0) node.kids = kids
    }
    p += pad4(len)
  }
  return p === end || parent === undefined
}

function flatten(nodes: AvpNode[], out: AvpNode[] = []): AvpNode[] {
  for (const n of nodes) {
    out.push(n)
    if (n.kids) flatten(n.kids, out)
  }
  return out
}

function ancestors(n: AvpNode | undefined): AvpNode[] {
  const out: AvpNode[] = []
  for (let a = n; a !== undefined; a = a.parent) out.push(a)
  return out
}

/** Replace buf[at, at+remove) with `insert`, growing/shrinking every enclosing AVP and the header length. */
function splice(buf: Buffer, at: number, remove: number, insert: Buffer, enclosing: AvpNode[]): Buffer {
  const out = Buffer.concat([buf.subarray(0, at), insert, buf.subarray(at + remove)])
  const delta = insert.length - remove
  for (const a of enclosing) out.writeUIntBE(Math.max(0, Math.min(0xffffff, a.len + delta)), a.off + 5, 3)
  out.writeUIntBE(Math.min(out.length, 0xffffff), 1, 3)
  return out
}

function avpBytes(code: number, flags: number, vendor: number, data: Buffer): Buffer {
  const hdr = flags & 0x80 ? 12 : 8
  const b = Buffer.alloc(pad4(hdr + data.length))
  b.writeUInt32BE(code >>> 0, 0)
  b[4] = flags
  b.writeUIntBE(Math.min(hdr + data.length, 0xffffff), 5, 3)
  if (hdr === 12) b.writeUInt32BE(vendor >>> 0, 8)
  data.copy(b, hdr)
  return b
}

interface Known {
  code: number
  vendor: number
  type: string
  mandatory: boolean
}

const KNOWN_NAMES = [
  'Session-Id', 'Origin-Host', 'Origin-Realm', 'Destination-Realm', 'Destination-Host', 'Auth-Application-Id', 'Acct-Application-Id',
  'Service-Context-Id', 'CC-Request-Type', 'CC-Request-Number', 'Subscription-Id', 'Subscription-Id-Type', 'Subscription-Id-Data',
  'Multiple-Services-Credit-Control', 'Multiple-Services-Indicator', 'Requested-Service-Unit', 'Used-Service-Unit', 'Granted-Service-Unit',
  'CC-Time', 'CC-Total-Octets', 'CC-Input-Octets', 'CC-Output-Octets', 'CC-Service-Specific-Units', 'Rating-Group', 'Service-Identifier',
  'Reporting-Reason', 'Requested-Action', 'Termination-Cause', 'Event-Timestamp', 'User-Equipment-Info', 'User-Equipment-Info-Type',
  'User-Equipment-Info-Value', 'Service-Information', 'PS-Information', 'IMS-Information', 'Tariff-Change-Usage', 'Validity-Time',
  'Result-Code', 'Failed-AVP', 'Proxy-Info', 'Proxy-Host', 'Proxy-State', 'Route-Record', 'Vendor-Specific-Application-Id', 'Vendor-Id',
  'Origin-State-Id', 'Host-IP-Address', 'Product-Name', 'User-Name', 'Called-Station-Id', 'Final-Unit-Indication', 'Final-Unit-Action',
  'Experimental-Result', 'Experimental-Result-Code', 'AoC-Request-Type', 'QoS-Information', '3GPP-Charging-Id', '3GPP-RAT-Type',
  '3GPP-User-Location-Info', 'Trigger-Type', 'Trigger', 'Error-Message', 'Redirect-Host', 'Disconnect-Cause', 'Supported-Vendor-Id',
]

let knownCache: Known[] | undefined
function knownAvps(): Known[] {
  if (knownCache) return knownCache
  const dict = defaultDictionary()
  knownCache = []
  for (const name of KNOWN_NAMES) {
    const e = dict.avpByName(name)
    if (e) knownCache.push({ code: e.code, vendor: e.vendorId, type: e.type, mandatory: e.mandatory })
  }
  return knownCache
}

function edgeU32(r: Rng): number {
  return r.pick([0, 1, 2, 3, 4, 5, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, r.int(100), r.int(0x100000000)])
}

function typedData(r: Rng, type: string): Buffer {
  switch (type) {
    case 'Unsigned32':
    case 'Integer32':
    case 'Enumerated':
    case 'Time':
    case 'Float32': {
      const b = Buffer.alloc(r.chance(0.15) ? r.pick([0, 1, 3, 5, 8]) : 4)
      if (b.length >= 4) b.writeUInt32BE(edgeU32(r))
      return b
    }
    case 'Unsigned64':
    case 'Integer64':
    case 'Float64': {
      const b = Buffer.alloc(r.chance(0.15) ? r.pick([0, 4, 7, 9]) : 8)
      if (b.length >= 8) {
        b.writeUInt32BE(edgeU32(r), 0)
        b.writeUInt32BE(edgeU32(r), 4)
      }
      return b
    }
    case 'Address': {
      const fam = r.pick([1, 2, 0, 8, 0xffff])
      return Buffer.concat([Buffer.from([fam >> 8, fam & 0xff]), r.bytes(r.pick([4, 16, 0, 3, 20]))])
    }
    case 'Grouped': {
      const kids: Buffer[] = []
      for (let i = 0, n = r.int(4); i < n; i++) kids.push(randomAvp(r, false))
      return Buffer.concat(kids)
    }
    case 'UTF8String':
    case 'DiameterIdentity':
    case 'DiameterURI':
      if (r.chance(0.3)) return Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]) // invalid UTF-8
      return Buffer.from(r.pick(['', 'a', 'x'.repeat(300), '46700000001', 'aaa://host;transport=tcp', '\u0000\u0001', 'ü€😀']))
    default:
      return r.bytes(r.int(40))
  }
}

/** A random AVP: a known one with typed (often edge) data, or an unknown code, M bit or not, vendor or not. */
function randomAvp(r: Rng, allowGroup = true): Buffer {
  if (r.chance(0.7)) {
    const k = r.pick(knownAvps())
    const type = !allowGroup && k.type === 'Grouped' ? 'OctetString' : k.type
    let flags = (k.vendor ? 0x80 : 0) | (k.mandatory ? 0x40 : 0)
    if (r.chance(0.1)) flags ^= r.pick([0x40, 0x20, 0x1f])
    return avpBytes(k.code, flags, k.vendor, typedData(r, type))
  }
  const vendor = r.chance(0.5) ? r.pick([10415, 5535, 9, 0x7fffffff, r.int(0x100000000)]) : 0
  const flags = (vendor ? 0x80 : 0) | (r.chance(0.5) ? 0x40 : 0) | (r.chance(0.05) ? 0x20 : 0)
  return avpBytes(r.int(0x100000000), flags, vendor, r.bytes(r.int(64)))
}

export type DiameterOp =
  | 'bitflip' | 'bytes' | 'avp-length' | 'avp-code' | 'avp-flags' | 'truncate' | 'extra-avp' | 'dup-avp' | 'delete-avp' | 'move-avp'
  | 'oversize' | 'value-edge' | 'nest' | 'many' | 'unaligned'
  | 'hdr-flags' | 'hdr-command' | 'hdr-app' | 'hdr-e2e-reuse'
  | 'len-lie' | 'version' | 'garbage' | 'cut' | 'huge'
  | 'valid'

const BODY_OPS: ReadonlyArray<readonly [DiameterOp, number]> = [
  ['bitflip', 14], ['bytes', 8], ['avp-length', 12], ['avp-code', 6], ['avp-flags', 5], ['truncate', 6], ['extra-avp', 12], ['dup-avp', 10],
  ['delete-avp', 8], ['move-avp', 3], ['oversize', 4], ['value-edge', 8], ['nest', 1.5], ['many', 1], ['unaligned', 1.5],
]
const HEADER_OPS: ReadonlyArray<readonly [DiameterOp, number]> = [['hdr-flags', 4], ['hdr-command', 3], ['hdr-app', 3], ['hdr-e2e-reuse', 2]]
const TERMINAL_OPS: ReadonlyArray<readonly [DiameterOp, number]> = [['len-lie', 5], ['version', 1], ['garbage', 2], ['cut', 3], ['huge', 1]]

function mutateBody(buf: Buffer, r: Rng, op: DiameterOp): Buffer {
  const top: AvpNode[] = []
  parseAvps(buf, 20, buf.length, undefined, 0, top)
  const all = flatten(top)
  if (all.length === 0 || buf.length <= 20) op = 'bytes'
  const node = all.length > 0 ? r.pick(all) : undefined
  switch (op) {
    case 'bitflip': {
      const b = Buffer.from(buf)
      if (b.length > 20) for (let i = 0, n = 1 + r.int(8); i < n; i++) b[20 + r.int(b.length - 20)] ^= 1 << r.int(8)
      return b
    }
    case 'bytes': {
      const b = Buffer.from(buf)
      if (b.length > 20) for (let i = 0, n = 1 + r.int(4); i < n; i++) b[20 + r.int(b.length - 20)] = r.int(256)
      return b
    }
    case 'avp-length': {
      const n = node!
      const b = Buffer.from(buf)
      const room = buf.length - n.off
      const lie = r.pick([0, 1 + r.int(7), n.hdr, n.len - 1, n.len - 4, n.len + 1, n.len + 4 + r.int(64), room, room + 1 + r.int(100), 0xffffff, r.int(0x1000000)])
      b.writeUIntBE(Math.max(0, Math.min(0xffffff, lie)), n.off + 5, 3)
      return b
    }
    case 'avp-code': {
      const n = node!
      const b = Buffer.from(buf)
      const k = r.chance(0.7) ? r.pick(knownAvps()).code : r.int(0x100000000)
      b.writeUInt32BE(k >>> 0, n.off)
      return b
    }
    case 'avp-flags': {
      const n = node!
      const b = Buffer.from(buf)
      b[n.off + 4] ^= r.pick([0x80, 0x40, 0x20, 0x10, 0x01, 0xff, 0x80 | 0x40])
      return b
    }
    case 'truncate': {
      const cut = 20 + r.int(buf.length - 20)
      const b = Buffer.from(buf.subarray(0, cut))
      b.writeUIntBE(b.length, 1, 3)
      return b
    }
    case 'extra-avp': {
      const extra: Buffer[] = []
      for (let i = 0, k = 1 + (r.chance(0.2) ? r.int(20) : r.int(3)); i < k; i++) extra.push(randomAvp(r))
      const ins = Buffer.concat(extra)
      // At the top level, or as a sibling inside the group of a random AVP.
      const sib = r.chance(0.5) ? node! : r.pick(top)
      const at = r.chance(0.5) ? sib.off : sib.off + pad4(sib.len)
      return splice(buf, Math.min(at, buf.length), 0, ins, ancestors(sib.parent))
    }
    case 'dup-avp': {
      const n = node!
      const one = buf.subarray(n.off, n.off + Math.min(pad4(n.len), buf.length - n.off))
      const copies = r.chance(0.1) ? 2 + r.int(200) : 1
      const ins = Buffer.concat(Array.from({ length: copies }, () => one))
      return splice(buf, n.off + one.length, 0, ins, ancestors(n.parent))
    }
    case 'delete-avp': {
      const n = node!
      return splice(buf, n.off, Math.min(pad4(n.len), buf.length - n.off), Buffer.alloc(0), ancestors(n.parent))
    }
    case 'move-avp': {
      const n = r.pick(top)
      const one = Buffer.from(buf.subarray(n.off, n.off + Math.min(pad4(n.len), buf.length - n.off)))
      const without = splice(buf, n.off, one.length, Buffer.alloc(0), [])
      const at = r.chance(0.5) ? 20 : without.length
      return splice(without, at, 0, one, [])
    }
    case 'oversize': {
      // Replace the data of a leaf with something large: up to ~900 KiB (the server's frame limit is 1 MiB).
      const leaves = all.filter((x) => !x.kids)
      const n = leaves.length > 0 ? r.pick(leaves) : node!
      const size = weighted(r, [[253, 4], [1024, 3], [4096, 3], [65_536, 0.6], [200_000, 0.2], [900_000, 0.1]] as const)
      const b = buf.subarray(n.off, n.off + n.hdr)
      const data = r.chance(0.5) ? Buffer.alloc(size, 0x61) : r.bytes(size)
      const rebuilt = avpBytes(b.readUInt32BE(0), b[4], n.hdr === 12 ? b.readUInt32BE(8) : 0, data)
      return splice(buf, n.off, Math.min(pad4(n.len), buf.length - n.off), rebuilt, ancestors(n.parent))
    }
    case 'value-edge': {
      const leaves = all.filter((x) => !x.kids && (x.len - x.hdr === 4 || x.len - x.hdr === 8))
      if (leaves.length === 0) return mutateBody(buf, r, 'bytes')
      const n = r.pick(leaves)
      const b = Buffer.from(buf)
      const at = n.off + n.hdr
      if (n.len - n.hdr === 4) b.writeUInt32BE(edgeU32(r), at)
      else {
        b.writeUInt32BE(edgeU32(r), at)
        b.writeUInt32BE(edgeU32(r), at + 4)
      }
      return b
    }
    case 'nest': {
      // Wrap an AVP into 2..300 levels of MSCC (the decoder's depth limit is 16).
      const n = node!
      let inner: Buffer = Buffer.from(buf.subarray(n.off, n.off + Math.min(pad4(n.len), buf.length - n.off)))
      for (let d = 0, depth = 2 + r.int(300); d < depth; d++) inner = avpBytes(456, 0x40, 0, inner)
      return splice(buf, n.off, Math.min(pad4(n.len), buf.length - n.off), inner, ancestors(n.parent))
    }
    case 'many': {
      // Hundreds of MSCCs, Subscription-Ids or zero-length AVPs.
      const what = r.int(3)
      const n = r.pick(top)
      const unit = what === 2 ? Buffer.from([0, 0, 0, 0, 0, 0, 0, 8]) : buf.subarray(n.off, n.off + Math.min(pad4(n.len), buf.length - n.off))
      const copies = 50 + r.int(what === 2 ? 3000 : 300)
      return splice(buf, buf.length, 0, Buffer.concat(Array.from({ length: copies }, () => unit)), [])
    }
    case 'unaligned': {
      // A message whose length is not a multiple of 4 (RFC 6733: 5015).
      const b = Buffer.concat([buf, r.bytes(1 + r.int(3))])
      b.writeUIntBE(b.length, 1, 3)
      return b
    }
    default:
      return buf
  }
}

function mutateHeader(buf: Buffer, r: Rng, op: DiameterOp, index: number, e2eBase: number): Buffer {
  const b = Buffer.from(buf)
  switch (op) {
    case 'hdr-flags':
      b[4] = r.chance(0.5) ? b[4] ^ (1 << r.int(8)) : r.int(256)
      break
    case 'hdr-command':
      b.writeUIntBE(r.pick([257, 258, 271, 274, 275, 280, 282, 316, 318, 8388620, 0, 0xffffff, r.int(0x1000000)]), 5, 3)
      break
    case 'hdr-app':
      b.writeUInt32BE(r.pick([0, 3, 4, 16777238, 16777216, 0xffffffff, r.int(0x100000000)]) >>> 0, 8)
      break
    case 'hdr-e2e-reuse':
      // Another packet's End-to-End id (duplicate detection), sometimes with the T flag.
      b.writeUInt32BE((e2eBase + Math.max(0, index - 1 - r.int(64))) >>> 0, 16)
      if (r.chance(0.5)) b[4] |= 0x10
      break
  }
  return b
}

function mutateTerminal(buf: Buffer, r: Rng, op: DiameterOp): Buffer {
  const b = Buffer.from(buf)
  switch (op) {
    case 'len-lie': {
      const lie = r.pick([r.int(20), 20 + r.int(Math.max(1, buf.length - 20)), buf.length + 1 + r.int(4096), buf.length + 4])
      b.writeUIntBE(lie, 1, 3)
      return b
    }
    case 'version':
      b[0] = r.pick([0, 2, 0xff, r.int(256) | 2])
      return b
    case 'garbage':
      return r.bytes(1 + r.int(r.chance(0.1) ? 70_000 : 2000))
    case 'cut':
      return b.subarray(0, 1 + r.int(buf.length - 1))
    case 'huge':
      b.writeUIntBE(0x100001 + r.int(0xeffffe), 1, 3)
      return b
  }
  return b
}

export interface DiameterCase {
  index: number
  bytes: Buffer
  seed: string
  ops: DiameterOp[]
  /** Breaks the byte stream: the last message on its connection. */
  terminal: boolean
  /** A well-framed request (version 1, R bit, exact length): the server must answer it or close the connection. */
  expectAnswer: boolean
  /** May make the server close the connection (a CER, a DPR): sent alone in flight, and a DPR is the last on its connection. */
  alone: boolean
  last: boolean
}

export class DiameterFuzzer {
  readonly seed: number
  readonly e2eBase: number
  private readonly seeds: DSeed[]
  private readonly weights: ReadonlyArray<readonly [DSeed, number]>
  private readonly terminalShare: number
  private readonly perOrigin = new Map<string, Map<string, Buffer>>()

  constructor(o: DiameterFuzzOptions) {
    this.seed = o.seed
    this.e2eBase = (Math.imul(o.seed, 2654435761) & 0x7fffffff) >>> 0
    this.seeds = diameterSeeds(o.msisdn ?? '46700000001')
    this.weights = this.seeds.map((s) => [s, s.weight] as const)
    this.terminalShare = o.terminalShare ?? 0.03
  }

  private seedBytes(s: DSeed, originHost: string): Buffer {
    if (Buffer.isBuffer(s.bytes)) return s.bytes
    let m = this.perOrigin.get(originHost)
    if (!m) this.perOrigin.set(originHost, (m = new Map()))
    let b = m.get(s.name)
    if (!b) m.set(s.name, (b = s.bytes(originHost)))
    return b
  }

  /** Packet `index`; `originHost` is its connection's (CER, DWR and DPR carry it). Hop-by-hop is left 0 for the sender. */
  case(index: number, originHost: string): DiameterCase {
    const r = caseRng(this.seed, index)
    const s = weighted(r, this.weights)
    let buf: Buffer = Buffer.from(this.seedBytes(s, originHost))
    // Sessions: 16 consecutive packets share a Session-Id, so CCR-U/T meet sessions that exist.
    const sidNode = readSessionIdNode(buf)
    if (sidNode) {
      const sid = Buffer.from(`${buf.toString('utf8', sidNode.off + sidNode.hdr, sidNode.off + sidNode.len)};fz${this.seed}.${index >> 4}`)
      buf = splice(buf, sidNode.off, pad4(sidNode.len), avpBytes(263, buf[sidNode.off + 4], 0, sid), [])
    }
    buf.writeUInt32BE((this.e2eBase + index) >>> 0, 16)
    const ops: DiameterOp[] = []
    let terminal = false
    const kind = r.next()
    if (kind < this.terminalShare) {
      terminal = true
      if (r.chance(0.5)) {
        const op = weighted(r, BODY_OPS)
        ops.push(op)
        buf = mutateBody(buf, r, op)
      }
      const op = weighted(r, TERMINAL_OPS)
      ops.push(op)
      buf = mutateTerminal(buf, r, op)
    } else if (kind < this.terminalShare + 0.04) {
      ops.push('valid')
    } else {
      if (r.chance(0.12)) {
        const op = weighted(r, HEADER_OPS)
        ops.push(op)
        buf = mutateHeader(buf, r, op, index, this.e2eBase)
      }
      for (let k = 0, n = 1 + (r.chance(0.3) ? r.int(4) : 0); k < n; k++) {
        const op = weighted(r, BODY_OPS)
        ops.push(op)
        buf = mutateBody(buf, r, op)
      }
    }
    const expectAnswer = !terminal && buf.length <= 1024 * 1024 && buf.length >= 20 && buf[0] === 1 && buf.readUIntBE(1, 3) === buf.length && (buf[4] & 0x80) !== 0
    const command = buf.length >= 8 ? buf.readUIntBE(5, 3) : 0
    // Past the server's 1 MiB frame limit a well-formed message is a framing error too.
    if (buf.length > 1024 * 1024) terminal = true
    const last = terminal || (expectAnswer && command === 282)
    return { index, bytes: buf, seed: s.name, ops, terminal, expectAnswer, alone: last || (expectAnswer && command === 257), last }
  }
}

function readSessionIdNode(buf: Buffer): AvpNode | undefined {
  // Session-Id is the first AVP in every CCR seed (RFC 4006 §3.1 order).
  if (buf.length < 28 || buf.readUInt32BE(20) !== 263) return undefined
  const len = buf.readUIntBE(25, 3)
  if (len < 8 || 20 + len > buf.length) return undefined
  return { off: 20, len, hdr: 8, parent: undefined }
}

// =============================================================================================
// Diameter: the runner

export interface DiameterRunOptions {
  host: string
  port: number
  count: number
  seed: number
  msisdn?: string
  /** Parallel connections (one Origin-Host each). Default 16. */
  connections?: number
  /** Requests in flight per connection. Default 32. */
  window?: number
  terminalShare?: number
  /** A request neither answered nor closed after this is counted dropped. Default 10 s. */
  answerTimeoutMs?: number
  /** Origin-Host prefix; connection i is `${prefix}${i}.fuzz`. */
  originPrefix?: string
  /** Called once a second with the running figures. */
  onProgress?: (s: DiameterStats) => void
  /** Keep the first N unexpected drops and bad answers as samples (hex). Default 5. */
  samples?: number
}

export interface DiameterStats {
  protocol: 'diameter'
  count: number
  sent: number
  bytes: number
  answered: number
  /** the server closed the connection with it pending */
  closed: number
  /** no answer and the connection still open (or ended by us after a stream-breaking message) */
  dropped: number
  /** well-framed requests the server neither answered nor closed on: should be 0 */
  unexpectedDrops: number
  /** answers our codec cannot decode or frame: should be 0 */
  badAnswers: number
  /** connections the server did not close within 5 s of our FIN: should be 0 */
  hung: number
  terminal: number
  connections: number
  connectFailures: number
  /** connections the server closed (after a CER mismatch, a DPR, a framing error, …) */
  serverClosed: number
  /** what was last sent on the connections the server closed */
  closeCauses: Record<string, number>
  resultCodes: Record<string, number>
  ops: Record<string, number>
  seconds: number
  perSec: number
  digest: string
  aborted?: string
  samples: Array<{ kind: string; index: number; ops: string[]; hex: string }>
}

interface Pending {
  c: DiameterCase
  at: number
}

class FuzzConnection {
  readonly socket: Socket
  readonly pending = new Map<number, Pending>()
  /** pending requests that must be answered (the window counts only these) */
  expecting = 0
  lastSent: DiameterCase | undefined
  /** the server is about to close it */
  doomed = false
  closed = false
  endedByUs = false
  hbh = 1
  private readonly framer = new DiameterFramer({ maxMessageSize: 0xffffff })
  private roomWaiter: (() => void) | undefined
  readonly closedPromise: Promise<void>
  cea: DiameterMessage | undefined
  private ceaWaiter: ((m: DiameterMessage | undefined) => void) | undefined

  constructor(
    readonly originHost: string,
    host: string,
    port: number,
    private readonly onAnswer: (p: Pending | undefined, m: DiameterMessage | undefined, raw: Buffer) => void,
    private readonly onClose: (c: FuzzConnection) => void,
  ) {
    this.socket = connect({ host, port })
    this.socket.setNoDelay(true)
    this.socket.on('error', () => undefined)
    this.closedPromise = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closed = true
        this.onClose(this)
        this.ceaWaiter?.(undefined)
        this.wake()
        resolve()
      }),
    )
    this.socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[]
      try {
        frames = this.framer.push(chunk)
      } catch {
        this.onAnswer(undefined, undefined, chunk)
        this.socket.destroy()
        return
      }
      for (const f of frames) this.onFrame(f)
    })
  }

  async open(timeoutMs: number): Promise<number | undefined> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve)
      this.socket.once('close', () => reject(new Error('closed before connect')))
    })
    const got = new Promise<DiameterMessage | undefined>((resolve) => (this.ceaWaiter = resolve))
    this.socket.write(cerBytes(this.originHost))
    const timer = setTimeout(() => this.ceaWaiter?.(undefined), timeoutMs)
    this.cea = await got
    clearTimeout(timer)
    this.ceaWaiter = undefined
    return this.cea ? avpNumber(findAvp(this.cea.avps, 'Result-Code')) : undefined
  }

  private onFrame(f: Buffer): void {
    let m: DiameterMessage
    try {
      m = decodeDiameter(f)
    } catch {
      const p = this.settle(f.length >= 16 ? f.readUInt32BE(12) : -1)
      this.onAnswer(p, undefined, f)
      this.wake()
      return
    }
    if (m.flags.request) {
      // The server's DWR (or a RAR/ASR for a session we opened): answer like a client would.
      const sid = findAvp(m.avps, 'Session-Id')
      const avps: AvpInput[] = [
        ...(sid ? [{ name: 'Session-Id', value: String(sid.value) }] : []),
        { name: 'Result-Code', value: 2001 },
        { name: 'Origin-Host', value: this.originHost },
        { name: 'Origin-Realm', value: 'fuzz' },
      ]
      if (!this.socket.destroyed) this.socket.write(encodeDiameter({ ...answerHeader(m), avps }))
      return
    }
    if (m.commandCode === 257 && m.hopByHop === 1 && this.ceaWaiter) {
      this.ceaWaiter(m)
      return
    }
    const p = this.settle(m.hopByHop)
    // A refused CER (3010, 5005) is followed by the server closing the connection: send nothing more on it.
    if (p?.c.alone && m.commandCode === 257 && [3010, 5005].includes(avpNumber(findAvp(m.avps, 'Result-Code')) ?? 0)) this.doomed = true
    this.onAnswer(p, m, f)
    this.wake()
  }

  send(c: DiameterCase): void {
    const hbh = ++this.hbh >>> 0
    if (c.bytes.length >= 16) c.bytes.writeUInt32BE(hbh, 12)
    this.pending.set(hbh, { c, at: Date.now() })
    if (c.expectAnswer) this.expecting++
    this.lastSent = c
    this.socket.write(c.bytes)
  }

  /** Forget a pending request (answered, expired or closed). */
  settle(hbh: number): Pending | undefined {
    const p = this.pending.get(hbh)
    if (p) {
      this.pending.delete(hbh)
      if (p.c.expectAnswer) this.expecting--
    }
    return p
  }

  wake(): void {
    const w = this.roomWaiter
    this.roomWaiter = undefined
    w?.()
  }

  /** Resolves when fewer than `window` requests await their answer (or the connection closed). */
  room(window: number): Promise<void> {
    if (this.closed || this.expecting < window) return Promise.resolve()
    return new Promise((resolve) => (this.roomWaiter = resolve))
  }
}

export async function fuzzDiameter(o: DiameterRunOptions): Promise<DiameterStats> {
  const fuzzer = new DiameterFuzzer({ seed: o.seed, msisdn: o.msisdn, terminalShare: o.terminalShare })
  const C = Math.max(1, Math.min(o.connections ?? 16, o.count))
  const W = o.window ?? 32
  const answerTimeout = o.answerTimeoutMs ?? 10_000
  const maxSamples = o.samples ?? 5
  const prefix = o.originPrefix ?? `fuzz${o.seed}-`
  const digest = new PacketDigest()
  const rc = new Map<string, number>()
  const ops = new Map<string, number>()
  const s: DiameterStats = {
    protocol: 'diameter', count: o.count, sent: 0, bytes: 0, answered: 0, closed: 0, dropped: 0, unexpectedDrops: 0, badAnswers: 0, hung: 0,
    terminal: 0, connections: 0, connectFailures: 0, serverClosed: 0, closeCauses: {}, resultCodes: {}, ops: {}, seconds: 0, perSec: 0, digest: '', samples: [],
  }
  const sample = (kind: string, c: DiameterCase | undefined, raw?: Buffer): void => {
    if (s.samples.length >= maxSamples) return
    s.samples.push({ kind, index: c?.index ?? -1, ops: c?.ops ?? [], hex: (raw ?? c?.bytes ?? Buffer.alloc(0)).subarray(0, 2048).toString('hex') })
  }
  const drop = (p: Pending): void => {
    s.dropped++
    if (p.c.expectAnswer) {
      s.unexpectedDrops++
      sample('unexpected drop', p.c)
    }
  }
  const onAnswer = (p: Pending | undefined, m: DiameterMessage | undefined, raw: Buffer): void => {
    if (m === undefined) {
      s.badAnswers++
      sample('bad answer', p?.c, raw)
      if (p) s.answered++
      return
    }
    if (!p) return // an answer to a request whose hop-by-hop we do not track (late, or a CER answer)
    s.answered++
    bump(rc, String(avpNumber(findAvp(m.avps, 'Result-Code')) ?? (findAvp(m.avps, 'Experimental-Result') ? 'experimental' : 'none')))
  }
  const causes = new Map<string, number>()
  const onClose = (conn: FuzzConnection): void => {
    if (!conn.endedByUs) {
      s.serverClosed++
      const c = conn.lastSent
      bump(causes, c === undefined ? 'CER' : c.terminal ? `stream-breaking ${c.ops[c.ops.length - 1]}` : `command ${c.bytes.length >= 8 ? c.bytes.readUIntBE(5, 3) : '?'}${c.alone ? '' : ` after ${c.ops.join('+')}`}`)
    }
    for (const p of conn.pending.values()) {
      if (conn.endedByUs) drop(p)
      else s.closed++
    }
    conn.pending.clear()
    conn.expecting = 0
  }

  const started = Date.now()
  const open = new Set<FuzzConnection>()
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const conn of open) {
      for (const [hbh, p] of conn.pending) {
        // What need not be answered (an R bit cleared, a stream-breaking message) is given 1 s.
        if (now - p.at > (p.c.expectAnswer ? answerTimeout : 1000)) {
          conn.settle(hbh)
          drop(p)
          conn.wake()
        }
      }
    }
  }, 250)
  let lastProgress = Date.now()
  const progress = setInterval(() => {
    s.seconds = (Date.now() - started) / 1000
    s.perSec = Math.round(s.sent / Math.max(0.001, s.seconds))
    o.onProgress?.(s)
    lastProgress = Date.now()
  }, 1000)
  let aborted: string | undefined

  const slot = async (k: number): Promise<void> => {
    const originHost = `${prefix}${k}.fuzz`
    let next = k
    let failures = 0
    while (next < o.count && aborted === undefined) {
      const conn = new FuzzConnection(originHost, o.host, o.port, onAnswer, onClose)
      open.add(conn)
      s.connections++
      let cea: number | undefined
      try {
        cea = await conn.open(5000)
      } catch {
        cea = undefined
      }
      if (cea !== 2001) {
        s.connectFailures++
        conn.endedByUs = true
        conn.socket.destroy()
        await conn.closedPromise
        open.delete(conn)
        if (++failures >= 20) aborted = `connection ${k}: 20 consecutive connections failed (last CEA ${cea ?? 'none'})`
        await sleep(100 * failures)
        continue
      }
      failures = 0
      let last: DiameterCase | undefined
      while (next < o.count && aborted === undefined) {
        await conn.room(W)
        if (conn.closed || conn.doomed) break
        const c = fuzzer.case(next, originHost)
        if (c.alone) {
          // Alone in flight: what the server closes on is this message, not the answers before it.
          const t0 = Date.now()
          while (!conn.closed && conn.expecting > 0 && Date.now() - t0 < answerTimeout + 2000) await sleep(2)
          if (conn.closed) break
        }
        next += C
        digest.add(c.index, c.bytes)
        bump(ops, c.ops.join('+'))
        s.sent++
        s.bytes += c.bytes.length
        if (c.terminal) s.terminal++
        conn.send(c)
        last = c
        if (c.last) break
        if (c.alone) {
          // …and nothing follows it until it is answered (a refused CER closes the connection).
          const t0 = Date.now()
          while (!conn.closed && conn.expecting > 0 && Date.now() - t0 < answerTimeout + 2000) await sleep(2)
        }
        if (s.sent % 64 === 0 && Date.now() - lastProgress > 1200) await new Promise((r) => setImmediate(r))
      }
      // Drain: wait for the answers in flight (the sweeper expires the silent ones).
      const t0 = Date.now()
      while (!conn.closed && conn.expecting > 0 && Date.now() - t0 < answerTimeout + 2000) await sleep(5)
      if (!conn.closed) {
        if (last?.last) await sleep(30) // a moment for the server to answer or close on it
        conn.endedByUs = !conn.closed
        if (!conn.closed) conn.socket.end()
        const hung = await Promise.race([conn.closedPromise.then(() => false), sleep(5000).then(() => true)])
        if (hung) {
          s.hung++
          sample('hung connection', last)
          conn.socket.destroy()
          await conn.closedPromise
        }
      }
      open.delete(conn)
    }
  }

  await Promise.all(Array.from({ length: C }, (_, k) => slot(k)))
  clearInterval(sweeper)
  clearInterval(progress)
  s.seconds = (Date.now() - started) / 1000
  s.perSec = Math.round(s.sent / Math.max(0.001, s.seconds))
  s.resultCodes = Object.fromEntries([...rc].sort((a, b) => b[1] - a[1]))
  s.closeCauses = Object.fromEntries([...causes].sort((a, b) => b[1] - a[1]).slice(0, 20))
  s.ops = Object.fromEntries([...ops].sort((a, b) => b[1] - a[1]).slice(0, 40))
  s.digest = digest.hex()
  if (aborted) s.aborted = aborted
  return s
}

/** The digest of the first `count` packets of a seed, without sending them (determinism check). */
export function diameterDigest(seed: number, count: number, connections = 16, msisdn?: string): string {
  const f = new DiameterFuzzer({ seed, msisdn })
  const digest = new PacketDigest()
  for (let i = 0; i < count; i++) digest.add(i, f.case(i, `fuzz${seed}-${i % connections}.fuzz`).bytes)
  return digest.hex()
}

/** A valid CCR-I (one MSCC) and its CCR-T on a fresh connection: the CCR-I's Result-Code, or undefined. */
export async function diameterProbe(host: string, port: number, msisdn: string, originHost = 'probe.fuzz', timeoutMs = 5000): Promise<number | undefined> {
  let result: number | undefined
  const answers = new Map<number, (m: DiameterMessage) => void>()
  const conn = new FuzzConnection(
    originHost,
    host,
    port,
    (_p, m) => {
      if (m) answers.get(m.hopByHop)?.(m)
    },
    () => undefined,
  )
  try {
    if ((await conn.open(timeoutMs)) !== 2001) return undefined
    const ask = (avps: AvpInput[], hbh: number): Promise<DiameterMessage | undefined> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs)
        answers.set(hbh, (m) => {
          clearTimeout(timer)
          resolve(m)
        })
        conn.socket.write(encodeDiameter({ ...CCR_BASE, hopByHop: hbh, endToEnd: (Date.now() + hbh) >>> 0, avps }))
      })
    const sid = `${originHost};${Date.now()};probe`
    const mscc: AvpInput[] = [{ name: 'Requested-Service-Unit', value: [] }, { name: 'Rating-Group', value: 1 }]
    const a = await ask(ccrAvps({ sid, type: 1, number: 0, msisdn, mscc: [mscc] }), 0x70000001)
    result = avpNumber(findAvp(a?.avps, 'Result-Code'))
    if (result === 2001) await ask(ccrAvps({ sid, type: 3, number: 1, msisdn, mscc: [[{ name: 'Used-Service-Unit', value: [{ name: 'CC-Total-Octets', value: 1000n }] }, { name: 'Rating-Group', value: 1 }]] }), 0x70000002)
    return result
  } finally {
    conn.endedByUs = true
    conn.socket.destroy()
    await conn.closedPromise
  }
}

// =============================================================================================
// RADIUS: seeds

interface RAttr {
  type: number
  value: Buffer
  /** User-Password: value is the plain text, hidden with the packet's authenticator */
  hide?: boolean
  /** CHAP-Password: value is [ident]; the response is recomputed for the packet's challenge */
  chap?: boolean
  /** Message-Authenticator: computed when the packet is signed */
  ma?: boolean
}

interface RSeed {
  name: string
  weight: number
  port: 'auth' | 'acct'
  code: number
  attrs: RAttr[]
}

const ATTR = { UserName: 1, UserPassword: 2, ChapPassword: 3, NasPort: 5, Class: 25, Vsa: 26, AcctStatusType: 40, AcctInputOctets: 42, AcctSessionId: 44, AcctSessionTime: 46, AcctInputGigawords: 52, ChapChallenge: 60, MessageAuthenticator: 80 } as const

function parseAttrs(buf: Buffer): RAttr[] {
  const out: RAttr[] = []
  const end = Math.min(buf.length, buf.readUInt16BE(2))
  for (let p = 20; p + 2 <= end && buf[p + 1] >= 2; p += buf[p + 1]) out.push({ type: buf[p], value: Buffer.from(buf.subarray(p + 2, p + buf[p + 1])) })
  return out
}

function fromPacket(name: string, weight: number, port: 'auth' | 'acct', buf: Buffer, secret: string): RSeed {
  const attrs = parseAttrs(buf).map((a): RAttr => {
    if (a.type === ATTR.UserPassword) return { type: a.type, value: unhidePassword(a.value, secret, buf.subarray(4, 20)), hide: true }
    if (a.type === ATTR.ChapPassword) return { type: a.type, value: a.value.subarray(0, 1), chap: true }
    if (a.type === ATTR.MessageAuthenticator) return { type: a.type, value: Buffer.alloc(16), ma: true }
    return a
  })
  return { name, weight, port, code: buf[0], attrs }
}

function built(name: string, weight: number, port: 'auth' | 'acct', code: 'Access-Request' | 'Accounting-Request' | 'Status-Server', attributes: Parameters<typeof encodeRadius>[0]['attributes'], secret: string, ma = false): RSeed {
  const buf = encodeRadius({ code, identifier: 0, attributes }, { secret, messageAuthenticator: ma })
  return fromPacket(name, weight, port, buf, secret)
}

function radiusSeeds(secret: string, user: string, password: string, msisdn: string): RSeed[] {
  const pppd = (n: string): Buffer => hexFixture(`radius/pppd-2.4.9-radius.so/${n}.hex`)
  // The captures are alice / alicepw with testing123; re-keyed to our secret, user and password.
  const rekey = (s: RSeed): RSeed => ({
    ...s,
    attrs: s.attrs.map((a) => (a.type === ATTR.UserName ? { type: a.type, value: Buffer.from(user) } : a.hide ? { ...a, value: Buffer.from(password) } : a)),
  })
  const session: Array<[string, string | number]> = [['User-Name', user], ['Acct-Session-Id', 'fz-1'], ['NAS-Identifier', 'fuzz-nas'], ['NAS-Port', 1], ['Framed-IP-Address', '10.0.0.1']]
  return [
    rekey(fromPacket('pppd Access-Request PAP', 8, 'auth', pppd('access-request-pap'), 'testing123')),
    rekey(fromPacket('pppd Access-Request CHAP', 6, 'auth', pppd('access-request-chap'), 'testing123')),
    rekey(fromPacket('pppd Accounting Start', 8, 'acct', pppd('accounting-start'), 'testing123')),
    rekey(fromPacket('pppd Accounting Stop', 6, 'acct', pppd('accounting-stop'), 'testing123')),
    built('Access-Request PAP + MA', 6, 'auth', 'Access-Request', [['User-Name', user], ['User-Password', password], ['NAS-Identifier', 'fuzz-nas'], ['NAS-Port', 0], ['Calling-Station-Id', '02:00:00:00:00:01']], secret, true),
    built('Access-Request CHAP + challenge', 4, 'auth', 'Access-Request', [['User-Name', user], ['CHAP-Password', chapPassword(7, password, Buffer.alloc(16, 9))], ['CHAP-Challenge', Buffer.alloc(16, 9)], ['NAS-Identifier', 'fuzz-nas']], secret, true),
    built('Access-Request by MSISDN + Mikrotik VSA', 3, 'auth', 'Access-Request', [['Calling-Station-Id', `+${msisdn}`], ['User-Name', user], ['User-Password', password], ['Mikrotik-Rate-Limit', '1M/1M']], secret),
    built('Status-Server', 2, 'auth', 'Status-Server', [['NAS-Identifier', 'fuzz-nas']], secret, true),
    built('Accounting Start', 6, 'acct', 'Accounting-Request', [...session, ['Acct-Status-Type', 'Start']], secret),
    built('Accounting Interim', 12, 'acct', 'Accounting-Request', [...session, ['Acct-Status-Type', 'Interim-Update'], ['Acct-Input-Octets', 500_000], ['Acct-Output-Octets', 700_000], ['Acct-Input-Gigawords', 0], ['Acct-Session-Time', 60]], secret),
    built('Accounting Stop', 6, 'acct', 'Accounting-Request', [...session, ['Acct-Status-Type', 'Stop'], ['Acct-Input-Octets', 900_000], ['Acct-Output-Octets', 1_100_000], ['Acct-Session-Time', 120], ['Acct-Terminate-Cause', 'User-Request']], secret),
    built('Accounting-On', 0.3, 'acct', 'Accounting-Request', [['Acct-Status-Type', 'Accounting-On'], ['NAS-Identifier', 'fuzz-nas-on']], secret),
  ]
}

// =============================================================================================
// RADIUS: mutation and signing

export type RadiusOp =
  | 'bitflip' | 'bytes' | 'hdr-length' | 'attr-length' | 'truncate' | 'extra-attr' | 'vsa' | 'dup-attr' | 'delete-attr' | 'oversize'
  | 'value-edge' | 'code' | 'append' | 'fill' | 'valid'

const RADIUS_LIST_OPS: ReadonlyArray<readonly [RadiusOp, number]> = [['extra-attr', 10], ['vsa', 6], ['dup-attr', 8], ['delete-attr', 7], ['oversize', 4], ['value-edge', 8], ['fill', 1]]
const RADIUS_BYTE_OPS: ReadonlyArray<readonly [RadiusOp, number]> = [['bitflip', 10], ['bytes', 6], ['hdr-length', 5], ['attr-length', 7], ['truncate', 5], ['code', 3], ['append', 3]]

function randomAttr(r: Rng): RAttr {
  const type = r.chance(0.6) ? r.pick([1, 2, 3, 4, 5, 6, 7, 8, 18, 24, 25, 27, 28, 30, 31, 32, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 55, 60, 61, 79, 80, 85, 87, 95, 97]) : r.int(256)
  const len = r.pick([0, 1, 3, 4, 5, 16, 17, r.int(254)])
  return { type, value: len === 4 ? numBuf(edgeU32(r)) : r.bytes(len) }
}

function numBuf(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

function vsa(r: Rng): RAttr {
  const vendor = r.pick([14988, 9, 311, 14122, 10415, 2352, 0, 0xffffff, r.int(0x100000000)])
  const subs: Buffer[] = []
  for (let i = 0, n = r.int(4); i < n; i++) {
    const data = r.bytes(r.int(40))
    const lie = r.chance(0.2) ? r.int(256) : data.length + 2
    subs.push(Buffer.concat([Buffer.from([r.int(256), lie & 0xff]), data]))
  }
  return { type: ATTR.Vsa, value: Buffer.concat([numBuf(vendor), ...subs]).subarray(0, 253) }
}

function mutateList(attrs: RAttr[], r: Rng, op: RadiusOp): RAttr[] {
  const a = attrs.slice()
  const at = a.length > 0 ? r.int(a.length) : 0
  switch (op) {
    case 'extra-attr':
      for (let i = 0, n = 1 + r.int(r.chance(0.1) ? 30 : 3); i < n; i++) a.splice(r.int(a.length + 1), 0, randomAttr(r))
      break
    case 'vsa':
      a.splice(r.int(a.length + 1), 0, vsa(r))
      break
    case 'dup-attr':
      if (a.length > 0) for (let i = 0, n = r.chance(0.1) ? 2 + r.int(60) : 1; i < n; i++) a.splice(at, 0, { ...a[at] })
      break
    case 'delete-attr':
      if (a.length > 0) a.splice(at, 1)
      break
    case 'oversize':
      if (a.length > 0) a[at] = { type: a[at].type, value: r.chance(0.5) ? Buffer.alloc(253, 0x41) : r.bytes(253) }
      break
    case 'value-edge':
      if (a.length > 0) {
        const x = a[at]
        a[at] = x.value.length === 4 ? { ...x, value: numBuf(edgeU32(r)) } : { ...x, value: r.pick([Buffer.alloc(0), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.alloc(1), numBuf(edgeU32(r)), Buffer.from('%lX%hX')]) }
        if (x.hide && r.chance(0.5)) a[at] = { ...x, value: r.pick([Buffer.alloc(0), Buffer.alloc(128, 0x61), Buffer.alloc(129, 0x61)]) }
      }
      break
    case 'fill':
      // Up to the 4096-octet limit (and past it) with Class attributes.
      for (let i = 0, n = 10 + r.int(8); i < n; i++) a.push({ type: ATTR.Class, value: r.bytes(253) })
      break
  }
  return a
}

/** Assemble a packet; with `sign`, every authenticator is right for `secret`. */
function assemble(code: number, id: number, attrs: RAttr[], secret: string, auth: Buffer, sign: boolean, password: string): Buffer {
  const acct = code === 4 || code === 40 || code === 43
  const vector = acct ? Buffer.alloc(16) : auth
  const challenge = attrs.find((x) => x.type === ATTR.ChapChallenge)?.value ?? vector
  const parts: Buffer[] = []
  let maOffset = -1
  let off = 20
  for (const x of attrs) {
    let v = x.value
    if (x.hide) v = hidePassword(x.value.length > 128 ? x.value.subarray(0, 128) : x.value, secret, vector)
    else if (x.chap) v = chapPassword(x.value[0] ?? 1, password, challenge)
    if (x.ma && maOffset < 0) maOffset = off + 2
    v = v.subarray(0, 253)
    parts.push(Buffer.from([x.type, v.length + 2]), v)
    off += v.length + 2
  }
  const buf = Buffer.concat([Buffer.alloc(20), ...parts])
  buf[0] = code
  buf[1] = id
  buf.writeUInt16BE(Math.min(buf.length, 0xffff), 2)
  vector.copy(buf, 4)
  if (sign && buf.length <= 4096) resign(buf, secret, maOffset)
  return buf
}

/** Recompute Message-Authenticator (at maOffset, or wherever it is) and, for accounting, the Request Authenticator. */
function resign(buf: Buffer, secret: string, maOffset = -1): void {
  const len = buf.length >= 20 ? buf.readUInt16BE(2) : 0
  if (len < 20 || len > buf.length || len > 4096) return
  const code = buf[0]
  const acct = code === 4 || code === 40 || code === 43
  if (acct) buf.fill(0, 4, 20)
  const where = maOffset > 0 ? maOffset : findMessageAuthenticator(buf)
  if (typeof where === 'number' && where + 16 <= len) {
    try {
      computeMessageAuthenticator(buf, secret, acct ? Buffer.alloc(16) : buf.subarray(4, 20), where).copy(buf, where)
    } catch {
      // an unusable layout: left as it is
    }
  }
  if (acct) computeRequestAuthenticator(buf, secret).copy(buf, 4)
}

function mutateBytes(buf: Buffer, r: Rng, op: RadiusOp): { buf: Buffer; lengthLie: boolean } {
  let b = Buffer.from(buf)
  let lengthLie = false
  switch (op) {
    case 'bitflip':
      for (let i = 0, n = 1 + r.int(8); i < n; i++) {
        const at = r.int(b.length)
        if (at !== 1) b[at] ^= 1 << r.int(8)
      }
      break
    case 'bytes':
      for (let i = 0, n = 1 + r.int(4); i < n; i++) {
        const at = 20 + r.int(Math.max(1, b.length - 20))
        if (at < b.length) b[at] = r.int(256)
      }
      break
    case 'hdr-length':
      b.writeUInt16BE(r.pick([0, 19, 20, b.length - 1, b.length + 1, b.length + r.int(100), 4096, 4097, 0xffff, r.int(5000)]) & 0xffff, 2)
      lengthLie = true
      break
    case 'attr-length': {
      const offs: number[] = []
      for (let p = 20; p + 2 <= b.length && b[p + 1] >= 2; p += b[p + 1]) offs.push(p)
      if (offs.length > 0) b[r.pick(offs) + 1] = r.pick([0, 1, 2, 3, 255, r.int(256)])
      break
    }
    case 'truncate':
      b = Buffer.from(b.subarray(0, r.int(b.length + 1)))
      if (r.chance(0.5) && b.length >= 4) b.writeUInt16BE(b.length, 2)
      else lengthLie = true
      break
    case 'code':
      b[0] = r.pick([1, 2, 3, 4, 5, 11, 12, 13, 40, 41, 43, 44, 0, 255, r.int(256)])
      break
    case 'append':
      // Octets past the Length field (RFC 2865: ignored), or a longer datagram than 4096.
      b = Buffer.concat([b, r.bytes(1 + r.int(r.chance(0.1) ? 8000 : 64))])
      lengthLie = true
      break
  }
  return { buf: b, lengthLie }
}

export interface RadiusCase {
  index: number
  bytes: Buffer
  port: 'auth' | 'acct'
  seed: string
  ops: RadiusOp[]
  /** signed with the right secret after mutation */
  signed: boolean
  garbage: boolean
}

export interface RadiusFuzzOptions {
  seed: number
  secret: string
  user: string
  password: string
  msisdn?: string
}

export class RadiusFuzzer {
  private readonly seeds: RSeed[]
  private readonly weights: ReadonlyArray<readonly [RSeed, number]>

  constructor(private readonly o: RadiusFuzzOptions) {
    this.seeds = radiusSeeds(o.secret, o.user, o.password, o.msisdn ?? '46700000001')
    this.weights = this.seeds.map((s) => [s, s.weight] as const)
  }

  /** Packet `index`, with Identifier `id`. */
  case(index: number, id: number): RadiusCase {
    const r = caseRng(this.o.seed, index)
    const kind = r.next()
    if (kind < 0.06) {
      const n = r.chance(0.05) ? 4097 + r.int(5000) : r.int(r.chance(0.5) ? 20 : 300)
      const b = r.bytes(n)
      if (b.length >= 2) b[1] = id
      return { index, bytes: b, port: r.chance(0.5) ? 'auth' : 'acct', seed: 'garbage', ops: [], signed: false, garbage: true }
    }
    const s = weighted(r, this.weights)
    const ops: RadiusOp[] = []
    // Sessions: 8 consecutive packets share an Acct-Session-Id.
    let attrs = s.attrs.map((a) => (a.type === ATTR.AcctSessionId ? { type: a.type, value: Buffer.from(`${a.value.toString('latin1')}-fz${this.o.seed}.${index >> 3}`) } : a))
    const auth = r.bytes(16)
    if (kind >= 0.1) {
      for (let k = 0, n = 1 + (r.chance(0.3) ? r.int(3) : 0); k < n; k++) {
        const op = weighted(r, RADIUS_LIST_OPS)
        ops.push(op)
        attrs = mutateList(attrs, r, op)
      }
    } else ops.push('valid')
    // Mostly signed right (so the mutation reaches the decoder and the handlers), else a wrong authenticator.
    const signed = r.chance(0.75)
    const wrongSecret = signed ? this.o.secret : r.chance(0.5) ? `${this.o.secret}x` : this.o.secret
    let buf = assemble(s.code, id, attrs, wrongSecret, auth, signed || r.chance(0.5), this.o.password)
    if (!signed) {
      if (s.code === 1 && !attrs.some((a) => a.ma)) {
        // An Access-Request has no authenticator to get wrong: give it a wrong Message-Authenticator.
        buf = assemble(s.code, id, [...attrs, { type: ATTR.MessageAuthenticator, value: r.bytes(16) }], this.o.secret, auth, false, this.o.password)
      } else if (wrongSecret === this.o.secret) r.bytes(16).copy(buf, 4) // a wrong (and unique) authenticator
    }
    if (kind >= 0.1 && r.chance(0.5)) {
      const op = weighted(r, RADIUS_BYTE_OPS)
      ops.push(op)
      const m = mutateBytes(buf, r, op)
      buf = m.buf
      if (buf.length >= 2) buf[1] = id
      if (signed && !m.lengthLie) {
        if (buf.length >= 4) buf.writeUInt16BE(Math.min(buf.length, 0xffff), 2)
        resign(buf, this.o.secret)
      }
    }
    const port = r.chance(0.03) ? (s.port === 'auth' ? 'acct' : 'auth') : s.port
    return { index, bytes: buf, port, seed: s.name, ops, signed, garbage: false }
  }
}

// =============================================================================================
// RADIUS: the runner

export interface RadiusRunOptions extends Omit<RadiusFuzzOptions, 'seed'> {
  host: string
  authPort: number
  acctPort: number
  count: number
  seed: number
  /** UDP sockets to send from. Default 16. */
  sockets?: number
  /** Signed requests awaiting a reply at once. Default 256. */
  window?: number
  onProgress?: (s: RadiusStats) => void
  /** After the last packet, wait this long for late replies. Default 1000 ms. */
  settleMs?: number
}

export interface RadiusStats {
  protocol: 'radius'
  count: number
  sent: number
  bytes: number
  signed: number
  garbage: number
  /** replies matched to a request and verified */
  answered: number
  /** replies whose authenticator fits none of the requests sent with that Identifier: should be 0 */
  badReplies: number
  /** sent − answered: dropped by the server (its metric counts why) or unanswered by design */
  dropped: number
  replyCodes: Record<string, number>
  ops: Record<string, number>
  seconds: number
  perSec: number
  digest: string
  /** back-pressure Status-Servers not answered within 2 s */
  markersLost: number
  /** the slowest verified reply */
  slowest: { ms: number; what: string }
  samples: Array<{ kind: string; hex: string }>
}

export async function fuzzRadius(o: RadiusRunOptions): Promise<RadiusStats> {
  const fuzzer = new RadiusFuzzer(o)
  const S = o.sockets ?? 16
  const W = o.window ?? 256
  const s: RadiusStats = { protocol: 'radius', count: o.count, sent: 0, bytes: 0, signed: 0, garbage: 0, answered: 0, badReplies: 0, dropped: 0, replyCodes: {}, ops: {}, seconds: 0, perSec: 0, digest: '', markersLost: 0, slowest: { ms: 0, what: '' }, samples: [] }
  const codes = new Map<string, number>()
  const ops = new Map<string, number>()
  const digest = new PacketDigest()
  // Per socket and Identifier: the last few requests' authenticators (a late reply may belong to an older one).
  const sent: Array<Array<Array<{ auth: Buffer; at: number; counted: boolean; what: string }>>> = Array.from({ length: S }, () => Array.from({ length: 256 }, () => []))
  let waiting = 0
  /** running mean of reply latency (ms): a request unanswered after several times it leaves the window */
  let latency = 5
  let wake: (() => void) | undefined
  const sockets: dgram.Socket[] = []
  for (let k = 0; k < S; k++) {
    const sock = dgram.createSocket('udp4')
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res))
    try {
      sock.setRecvBufferSize(1 << 20)
    } catch {
      // the kernel's limit
    }
    sock.on('message', (msg) => {
      const list = msg.length >= 20 ? sent[k][msg[1]] : []
      let hit: (typeof list)[number] | undefined
      for (let j = list.length - 1; j >= 0 && !hit; j--) if (verifyReply(msg, list[j].auth, o.secret).ok) hit = list[j]
      if (!hit) {
        s.badReplies++
        if (s.samples.length < 5) s.samples.push({ kind: 'unverifiable reply', hex: msg.toString('hex') })
        return
      }
      list.splice(list.indexOf(hit), 1)
      const ms = Date.now() - hit.at
      latency += (ms - latency) / 32
      if (ms > s.slowest.ms) s.slowest = { ms, what: hit.what }
      s.answered++
      bump(codes, String(msg[0]))
      if (hit.counted) {
        waiting--
        const w = wake
        wake = undefined
        w?.()
      }
    })
    sock.on('error', () => undefined)
    sockets.push(sock)
  }
  // Back-pressure: every 32 packets to a port, a Status-Server to that port from a socket of its own.
  // The server reads each port's datagrams in order, so once a marker's reply is back everything sent
  // before it to that port has been read; with at most 2 markers out per port the server's receive
  // queue stays under ~100 datagrams (about what a default 208 KiB socket buffer holds on loopback)
  // and the kernel drops next to nothing: what is dropped, the server's metric counts.
  const MARKER_EVERY = 32
  const MARKERS_OUT = 2
  const marker = dgram.createSocket('udp4')
  await new Promise<void>((res) => marker.bind(0, '127.0.0.1', res))
  const markerWaits = new Map<number, () => void>()
  marker.on('message', (m) => {
    const w = m.length >= 20 ? markerWaits.get(m[1]) : undefined
    if (w) {
      markerWaits.delete(m[1])
      w()
    }
  })
  marker.on('error', () => undefined)
  let markerId = 0
  let markersLost = 0
  let markersOn = true
  const outMarkers: Record<'auth' | 'acct', Array<Promise<boolean>>> = { auth: [], acct: [] }
  const sinceMarker = { auth: 0, acct: 0 }
  const sendMarker = async (port: 'auth' | 'acct'): Promise<void> => {
    const id = markerId++ & 0xff
    const req = encodeRadius({ code: 'Status-Server', identifier: id, attributes: [['NAS-Identifier', 'fuzz-marker']] }, { secret: o.secret, messageAuthenticator: true })
    outMarkers[port].push(
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          markerWaits.delete(id)
          resolve(false)
        }, 2000)
        markerWaits.set(id, () => {
          clearTimeout(timer)
          resolve(true)
        })
        marker.send(req, port === 'auth' ? o.authPort : o.acctPort, o.host)
      }),
    )
    while (outMarkers[port].length > MARKERS_OUT) {
      if (!(await outMarkers[port].shift()!)) markersLost++
      // A server that does not answer Status-Server: no markers then.
      if (markersLost >= 3 && s.sent < 10_000) markersOn = false
    }
  }

  const started = Date.now()
  const progress = setInterval(() => {
    s.seconds = (Date.now() - started) / 1000
    s.perSec = Math.round(s.sent / Math.max(0.001, s.seconds))
    s.dropped = s.sent - s.answered
    o.onProgress?.(s)
  }, 1000)
  // A drop is silent in RADIUS: a request unanswered after 5 × the mean latency (20..500 ms) leaves the window.
  const expiry: Array<{ at: number; e: { counted: boolean } }> = []
  const expire = (): void => {
    const now = Date.now()
    const limit = Math.min(500, Math.max(20, 5 * latency))
    while (expiry.length > 0 && now - expiry[0].at > limit) {
      const { e } = expiry.shift()!
      if (e.counted) {
        e.counted = false
        waiting--
      }
    }
  }
  for (let i = 0; i < o.count; i++) {
    const k = i % S
    const id = Math.floor(i / S) & 0xff
    const c = fuzzer.case(i, id)
    digest.add(i, c.bytes)
    bump(ops, c.garbage ? 'garbage' : `${c.signed ? 'signed' : 'unsigned'}:${c.ops.join('+')}`)
    const list = sent[k][id]
    const entry = { auth: c.bytes.length >= 20 ? Buffer.from(c.bytes.subarray(4, 20)) : Buffer.alloc(16), at: Date.now(), counted: c.signed, what: `#${i} ${c.seed}: ${c.ops.join('+')}` }
    list.push(entry)
    // Kept for 64 reuses of the Identifier (a reply may come seconds late: an Accounting-On closing thousands of sessions).
    if (list.length > 64) {
      const old = list.shift()!
      if (old.counted) {
        old.counted = false
        waiting--
      }
    }
    if (c.signed) {
      waiting++
      expiry.push({ at: entry.at, e: entry })
      s.signed++
    }
    if (c.garbage) s.garbage++
    s.sent++
    s.bytes += c.bytes.length
    sockets[k].send(c.bytes, c.port === 'auth' ? o.authPort : o.acctPort, o.host)
    if (markersOn && ++sinceMarker[c.port] >= MARKER_EVERY) {
      sinceMarker[c.port] = 0
      await sendMarker(c.port)
    }
    if (i % 32 === 31) await new Promise((r) => setImmediate(r))
    while (waiting >= W) {
      expire()
      if (waiting < W) break
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(5)])
    }
    expire()
  }
  const settle = o.settleMs ?? 1000
  const until = Date.now() + settle
  while (Date.now() < until) {
    expire()
    if (waiting <= 0) break
    await sleep(20)
  }
  await sleep(Math.min(200, settle))
  clearInterval(progress)
  await Promise.all([...sockets, marker].map((x) => new Promise<void>((r) => x.close(() => r()))))
  s.markersLost = markersLost
  s.seconds = (Date.now() - started) / 1000
  s.perSec = Math.round(s.sent / Math.max(0.001, s.seconds))
  s.dropped = s.sent - s.answered
  s.replyCodes = Object.fromEntries([...codes].sort((a, b) => b[1] - a[1]))
  s.ops = Object.fromEntries([...ops].sort((a, b) => b[1] - a[1]).slice(0, 40))
  s.digest = digest.hex()
  return s
}

/** The digest of the first `count` packets of a seed, without sending them. */
export function radiusDigest(o: RadiusFuzzOptions, count: number, sockets = 16): string {
  const f = new RadiusFuzzer(o)
  const digest = new PacketDigest()
  for (let i = 0; i < count; i++) digest.add(i, f.case(i, Math.floor(i / sockets) & 0xff).bytes)
  return digest.hex()
}

/** A valid PAP Access-Request from a fresh socket: 'accept' / 'reject' (reply verified), or undefined after 3 tries. */
export async function radiusProbe(host: string, authPort: number, secret: string, user: string, password: string): Promise<'accept' | 'reject' | undefined> {
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res))
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const req = encodeRadius({ code: 'Access-Request', identifier: 42 + attempt, attributes: [['User-Name', user], ['User-Password', password], ['NAS-Identifier', 'probe-nas'], ['NAS-Port', 0]] }, { secret, messageAuthenticator: true })
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 1500)
        sock.once('message', (m) => {
          clearTimeout(timer)
          resolve(m)
        })
        sock.send(req, authPort, host)
      })
      if (reply && verifyReply(reply, req.subarray(4, 20), secret).ok) return reply[0] === 2 ? 'accept' : reply[0] === 3 ? 'reject' : undefined
    }
    return undefined
  } finally {
    await new Promise<void>((r) => sock.close(() => r()))
  }
}
