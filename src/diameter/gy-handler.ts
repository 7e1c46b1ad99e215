// Gy/Ro credit control (RFC 4006, TS 32.299): CCR → protocol-neutral charging request → core → CCA.
// This module only translates: no balance arithmetic, no Redis. Result-Codes come from results.ts.
//
// Liberal in what it accepts from a known peer (SPEC "What real Gy/Ro clients send"): the first of a
// duplicated single AVP wins, Requested-Action/AoC-Request-Type on session CCRs are ignored, an MSCC
// without Rating-Group/Service-Identifier is one service, MSI=0 with an MSCC present is fine, a USU
// without CC-Total-Octets counts input + output. Each tolerated irregularity is counted. 5005/5004/5001
// are kept for what charging cannot do without: Session-Id, CC-Request-Type, CC-Request-Number, a
// subscriber identity (CCR-I/EVENT), readable unit values, and unknown M-bit AVPs at the top level or
// inside MSCC/RSU/USU.
import type { ChargingService } from '../core/charging.js'
import {
  itemKey,
  outcomesInOrder,
  type ChargeAnswer,
  type ChargeItem,
  type EventRequest,
  type Identity,
  type ItemOutcome,
  type SessionRequest,
  type UsedUnits,
} from '../core/types.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Logger } from '../lib/logger.js'
import {
  avpNumber,
  avpString,
  childrenOf,
  defaultDictionary,
  findAvp,
  findAvps,
  verbatimAvp,
  type Avp,
  type AvpInput,
  type DiameterMessage,
} from './codec.js'
import { LIMITS, textProblem, unitsProblem } from '../core/validate.js'
import { RC, commandResultCode, currencyNumber, failureResultCode, outcomeResultCode, unitValue } from './results.js'

export const CREDIT_CONTROL_APPLICATION = 4
export const CREDIT_CONTROL_COMMAND = 272

export type RequestTypeLabel = 'INITIAL' | 'UPDATE' | 'TERMINATION' | 'EVENT' | '-'
const TYPE_LABELS: Record<number, RequestTypeLabel> = { 1: 'INITIAL', 2: 'UPDATE', 3: 'TERMINATION', 4: 'EVENT' }

/** What the network is told to do when the last units are granted (RFC 4006 §8.34). */
export type FinalUnitPolicy =
  | { action: 'TERMINATE' }
  | { action: 'REDIRECT'; address: string; addressType?: 'IPV4_ADDRESS' | 'IPV6_ADDRESS' | 'URL' | 'SIP_URI' }
  | { action: 'RESTRICT_ACCESS'; filterIds?: string[]; filterRules?: string[] }

export interface GyHandlerOptions {
  charging: ChargingService
  metrics: Metrics
  log: Logger
  originHost: string
  originRealm: string
  finalUnit?: FinalUnitPolicy
  /** Refuse unknown M-bit AVPs anywhere (not only where charging looks). Default false. */
  strict?: boolean
}

/** The CCA to send, plus what the server needs for metrics, session routing and the duplicate cache. */
export interface GyAnswer {
  avps: AvpInput[]
  resultCode: number
  /** E bit (protocol errors, 3xxx). */
  error: boolean
  type: RequestTypeLabel
  sessionId: string | undefined
  requestType: number | undefined
  /** False for transient answers (3004): a retransmission must be processed again, not replayed. */
  cacheable: boolean
}

const RT = { INITIAL: 1, UPDATE: 2, TERMINATION: 3, EVENT: 4 } as const
const RA = { DIRECT_DEBITING: 0, REFUND_ACCOUNT: 1, CHECK_BALANCE: 2, PRICE_ENQUIRY: 3 } as const
const SUBSCRIPTION_KIND: Record<number, Identity['kind']> = { 0: 'msisdn', 1: 'imsi', 2: 'sip', 3: 'username', 4: 'username' }
const UNIT_AVPS = ['CC-Time', 'CC-Total-Octets', 'CC-Input-Octets', 'CC-Output-Octets', 'CC-Service-Specific-Units'] as const
type UnitHint = 'octets' | 'seconds' | 'events' | undefined

/** A CCR that cannot be charged: answered with this Result-Code (and Failed-AVP). */
export class CcrRejection extends Error {
  readonly code = 'OCS_ERR_DIAMETER_CCR_REJECTED'
  constructor(
    readonly resultCode: number,
    message: string,
    readonly failedAvp?: AvpInput,
  ) {
    super(message)
  }
}

interface ParsedItem {
  item: ChargeItem
  /** Echoed in the answer's MSCC when the request had them. */
  ratingGroup?: number
  serviceId?: number
}

interface ParsedCcr {
  sessionId: string
  requestType: number
  requestNumber: number
  requestedAction: number
  identities: Identity[]
  /** true: the request used MSCCs (answer per MSCC); false: single-service top-level units. */
  multiple: boolean
  items: ParsedItem[]
  closeReason?: string
}

/** Partial header values echoed in every CCA, errors included (Open5GS asserts them). */
interface Echo {
  sessionId?: string
  requestType?: number
  requestNumber?: number
}

export class GyHandler {
  private readonly dict = defaultDictionary()

  constructor(private readonly opts: GyHandlerOptions) {}

  /**
   * Answer one CCR. Never throws: anything unexpected becomes 5012. `routeFor`: the route to store
   * with a CCR-I/U's session (SessionRequest.route), if any.
   */
  async handle(req: DiameterMessage, routeFor?: (sessionId: string) => string | undefined): Promise<GyAnswer> {
    const echo: Echo = {}
    try {
      const parsed = this.parse(req, echo)
      return await this.charge(parsed, routeFor)
    } catch (err) {
      if (err instanceof CcrRejection) {
        this.opts.metrics.malformed.inc({ protocol: 'diameter', reason: `ccr-${err.resultCode}` })
        return this.errorAnswer(echo, err.resultCode, err.message, err.failedAvp)
      }
      this.opts.log.error({ err: (err as Error)?.stack ?? String(err), sessionId: echo.sessionId }, 'CCR handling failed')
      return this.errorAnswer(echo, RC.UNABLE_TO_COMPLY, 'internal error')
    }
  }

  /** A CCA carrying only a Result-Code (errors, overload), echoing what was readable of the request. */
  errorAnswer(echo: Echo, resultCode: number, message?: string, failedAvp?: AvpInput): GyAnswer {
    const avps = this.head(echo.sessionId, resultCode, echo.requestType, echo.requestNumber)
    if (message) avps.push({ name: 'Error-Message', value: message.slice(0, 200) })
    if (failedAvp) avps.push({ name: 'Failed-AVP', value: [failedAvp] })
    return {
      avps,
      resultCode,
      error: resultCode >= 3000 && resultCode < 4000,
      type: TYPE_LABELS[echo.requestType ?? 0] ?? '-',
      sessionId: echo.sessionId,
      requestType: echo.requestType,
      cacheable: resultCode !== RC.TOO_BUSY,
    }
  }

  /** Reads Session-Id / CC-Request-Type / CC-Request-Number as far as possible (for error answers elsewhere). */
  static echoOf(avps: readonly Avp[] | undefined): Echo {
    const echo: Echo = {}
    const sid = avpString(findAvp(avps, 'Session-Id'))
    if (sid !== undefined) echo.sessionId = sid
    const type = avpNumber(findAvp(avps, 'CC-Request-Type'))
    if (type !== undefined && TYPE_LABELS[type]) echo.requestType = type
    const num = avpNumber(findAvp(avps, 'CC-Request-Number'))
    if (num !== undefined) echo.requestNumber = num
    return echo
  }

  // ------------------------------------------------------------------------------------------
  // CCR → ParsedCcr

  private parse(msg: DiameterMessage, echo: Echo): ParsedCcr {
    const avps = msg.avps
    const m = this.opts.metrics
    for (const irr of msg.irregularities ?? []) m.tolerated.inc({ protocol: 'diameter', kind: irr.kind })

    // What every answer echoes, as far as readable, before anything can refuse the request.
    Object.assign(echo, GyHandler.echoOf(avps))
    const sidAvp = this.single(avps, 'Session-Id')
    if (sidAvp === undefined) throw new CcrRejection(RC.MISSING_AVP, 'Session-Id is missing', { name: 'Session-Id', value: '' })
    const sessionId = avpString(this.readable(msg, sidAvp))
    if (sessionId === undefined || sessionId.length === 0) throw this.invalid(msg, sidAvp, 'Session-Id is empty')
    echo.sessionId = sessionId
    this.chargeableText(msg, sidAvp, sessionId, LIMITS.sessionId)

    const typeAvp = this.single(avps, 'CC-Request-Type')
    const numAvp = this.single(avps, 'CC-Request-Number')
    const requestType = typeAvp && avpNumber(this.readable(msg, typeAvp))
    if (requestType !== undefined && TYPE_LABELS[requestType]) echo.requestType = requestType
    const requestNumber = numAvp && avpNumber(this.readable(msg, numAvp))
    if (requestNumber !== undefined) echo.requestNumber = requestNumber
    if (typeAvp === undefined) throw new CcrRejection(RC.MISSING_AVP, 'CC-Request-Type is missing', { name: 'CC-Request-Type', value: 0 })
    if (requestType === undefined || !TYPE_LABELS[requestType]) throw this.invalid(msg, typeAvp, 'CC-Request-Type is not 1..4')
    if (numAvp === undefined) throw new CcrRejection(RC.MISSING_AVP, 'CC-Request-Number is missing', { name: 'CC-Request-Number', value: 0 })
    if (requestNumber === undefined) throw this.invalid(msg, numAvp, 'CC-Request-Number is unreadable')

    for (const name of ['Origin-Host', 'Origin-Realm', 'Destination-Realm', 'Service-Context-Id']) this.single(avps, name)
    if (findAvp(avps, 'Auth-Application-Id') === undefined) m.tolerated.inc({ protocol: 'diameter', kind: 'missing-auth-application-id' })

    // Unknown M-bit AVPs: refused only where charging reads (top level, MSCC, RSU, USU) unless strict.
    this.checkMandatory(avps, this.opts.strict === true)

    let requestedAction: number = RA.DIRECT_DEBITING
    if (requestType === RT.EVENT) {
      const raAvp = this.single(avps, 'Requested-Action')
      if (raAvp !== undefined) {
        const ra = avpNumber(this.readable(msg, raAvp))
        if (ra === undefined || ra < 0 || ra > 3) throw this.invalid(msg, raAvp, 'Requested-Action is not 0..3')
        requestedAction = ra
      }
    } else if (findAvp(avps, 'Requested-Action') !== undefined) {
      // Open5GS sends DIRECT_DEBITING on session CCRs: meaningless there (RFC 4006 §8.41), ignored.
      m.tolerated.inc({ protocol: 'diameter', kind: 'requested-action-on-session' })
    }

    const identities = this.identities(msg)
    if (identities.length === 0 && (requestType === RT.INITIAL || requestType === RT.EVENT)) {
      throw new CcrRejection(RC.MISSING_AVP, 'no subscriber identity (Subscription-Id or User-Name)', {
        name: 'Subscription-Id',
        value: [
          { name: 'Subscription-Id-Type', value: 0 },
          { name: 'Subscription-Id-Data', value: '' },
        ],
      })
    }

    const contextAvp = findAvp(avps, 'Service-Context-Id')
    const context = avpString(contextAvp)
    if (context !== undefined) this.chargeableText(msg, contextAvp!, context, LIMITS.serviceContext)
    const hint = unitHint(context)
    const destination = this.destination(avps)
    const items: ParsedItem[] = []
    const msccs = findAvps(avps, 'Multiple-Services-Credit-Control')
    const multiple = msccs.length > 0
    if (multiple) {
      for (const mscc of msccs) {
        const kids = childrenOf(this.readable(msg, mscc))!
        items.push(this.item(msg, kids, requestType, context, hint, destination))
      }
    } else {
      items.push(this.item(msg, avps, requestType, context, hint, destination))
    }

    const parsed: ParsedCcr = { sessionId, requestType, requestNumber, requestedAction, identities, multiple, items }
    const tc = avpNumber(findAvp(avps, 'Termination-Cause'))
    if (tc !== undefined) parsed.closeReason = this.dict.enumName('Termination-Cause', tc) ?? `termination-cause-${tc}`
    return parsed
  }

  /** One service: an MSCC's children, or the CCR's top level in single-service mode. */
  private item(msg: DiameterMessage, list: Avp[], requestType: number, context: string | undefined, hint: UnitHint, destination: string | undefined): ParsedItem {
    const item: ChargeItem = {}
    if (context !== undefined) item.serviceContext = context
    const rgAvp = findAvp(list, 'Rating-Group')
    const rg = rgAvp && avpNumber(this.readable(msg, rgAvp))
    if (rgAvp && rg === undefined) throw this.invalid(msg, rgAvp, 'Rating-Group is unreadable')
    if (rg !== undefined) item.ratingGroup = rg
    const siAvp = findAvp(list, 'Service-Identifier')
    const si = siAvp && avpNumber(this.readable(msg, siAvp))
    if (siAvp && si === undefined) throw this.invalid(msg, siAvp, 'Service-Identifier is unreadable')
    if (si !== undefined) item.serviceId = si
    if (destination !== undefined) item.destination = destination

    const rsuAvp = findAvp(list, 'Requested-Service-Unit')
    if (rsuAvp !== undefined) {
      const u = this.units(msg, this.readable(msg, rsuAvp))
      const n = pickUnits(u, hint)
      // An empty (or all-zero) RSU leaves the size to us (older Open5GS releases, RFC 4006 §5.1.2).
      item.requested = n === undefined || n === 0 ? 'default' : n
    } else {
      // No RSU: on CCR-I the client still wants to start (grant the default); on U/T it only reports.
      item.requested = requestType === RT.INITIAL ? 'default' : null
    }
    const used: UsedUnits[] = []
    for (const usuAvp of findAvps(list, 'Used-Service-Unit')) {
      const u = this.units(msg, this.readable(msg, usuAvp))
      for (const n of [u.time, u.total, u.input, u.output, u.ssu]) {
        if (n !== undefined && unitsProblem(n) !== undefined) throw this.invalid(msg, usuAvp, `Used-Service-Unit: ${unitsProblem(n)}`)
      }
      const units: UsedUnits = { units: pickUnits(u, hint) ?? 0 }
      // The plan may rate the rating group in another unit than the Service-Context-Id suggests.
      const byUnit = reportedUnits(u)
      if (byUnit !== undefined) units.byUnit = byUnit
      if (u.input !== undefined) units.inputOctets = u.input
      if (u.output !== undefined) units.outputOctets = u.output
      // RFC 4006 §8.27: usage split at a Tariff-Time-Change; the part after it is rated with the new tariff.
      if (u.tariffChangeUsage === 1) units.afterTariffChange = true
      used.push(units)
    }
    if (used.length > 0) item.used = used
    // Reporting-Reason (TS 32.299 §7.2.175) may sit in the USU or at MSCC level: accepted, not needed to charge.
    return { item, ratingGroup: rg, serviceId: si }
  }

  private units(msg: DiameterMessage, group: Avp): { time?: number; total?: number; input?: number; output?: number; ssu?: number; tariffChangeUsage?: number } {
    const kids = childrenOf(group)
    const out: { time?: number; total?: number; input?: number; output?: number; ssu?: number; tariffChangeUsage?: number } = {}
    if (kids === undefined) return out
    for (const name of UNIT_AVPS) {
      const a = findAvp(kids, name)
      if (a === undefined) continue
      const n = avpNumber(this.readable(msg, a))
      if (n === undefined || n < 0) throw this.invalid(msg, a, `${name} is out of range`)
      if (name === 'CC-Time') out.time = n
      else if (name === 'CC-Total-Octets') out.total = n
      else if (name === 'CC-Input-Octets') out.input = n
      else if (name === 'CC-Output-Octets') out.output = n
      else out.ssu = n
    }
    const tcu = avpNumber(findAvp(kids, 'Tariff-Change-Usage'))
    if (tcu !== undefined) out.tariffChangeUsage = tcu
    return out
  }

  private identities(msg: DiameterMessage): Identity[] {
    const out: Identity[] = []
    const seen = new Set<string>()
    const add = (kind: Identity['kind'], value: string | undefined): void => {
      if (value === undefined || value.length === 0) return
      const k = `${kind}:${value}`
      if (seen.has(k)) return
      seen.add(k)
      out.push({ kind, value })
    }
    const fromList = (list: Avp[] | undefined): void => {
      for (const s of findAvps(list, 'Subscription-Id')) {
        const kids = childrenOf(s)
        if (kids === undefined) continue // opaque: counted as tolerated; another identity may do
        const type = avpNumber(findAvp(kids, 'Subscription-Id-Type'))
        const data = avpString(findAvp(kids, 'Subscription-Id-Data'))
        const kind = type === undefined ? undefined : SUBSCRIPTION_KIND[type]
        if (kind === undefined || data === undefined) continue
        this.chargeableText(msg, s, data, LIMITS.identity)
        add(kind, kind === 'msisdn' ? e164(data) ?? data : kind === 'imsi' ? data.replace(/\D/g, '') : data)
      }
    }
    // Top level first (Open5GS: IMSI then E.164), then the copy inside Service-Information (Kamailio), then User-Name.
    fromList(msg.avps)
    fromList(childrenOf(findAvp(msg.avps, 'Service-Information')))
    const userAvp = findAvp(msg.avps, 'User-Name')
    const user = avpString(userAvp)
    if (user !== undefined) add('username', this.chargeableText(msg, userAvp!, user, LIMITS.identity))
    return out
  }

  /** Called party for destination rating: IMS-Information Called-Party-Address, or the SMS recipient (E.164 digits). */
  private destination(avps: Avp[]): string | undefined {
    const si = childrenOf(findAvp(avps, 'Service-Information'))
    if (si === undefined) return undefined
    const ims = childrenOf(findAvp(si, 'IMS-Information'))
    if (ims !== undefined) {
      for (const name of ['Called-Party-Address', 'Requested-Party-Address', 'Called-Asserted-Identity']) {
        const d = e164(avpString(findAvp(ims, name)))
        if (d !== undefined) return d
      }
    }
    const sms = childrenOf(findAvp(si, 'SMS-Information'))
    if (sms !== undefined) {
      const recipients = [
        ...findAvps(sms, 'Recipient-Info').map((r) => childrenOf(findAvp(childrenOf(r), 'Recipient-Address'))),
        childrenOf(findAvp(sms, 'Recipient-Address')),
      ]
      for (const r of recipients) {
        const d = e164(avpString(findAvp(r, 'Address-Data')))
        if (d !== undefined) return d
      }
    }
    return undefined
  }

  // ------------------------------------------------------------------------------------------
  // Core call and CCA

  private async charge(p: ParsedCcr, routeFor: ((sessionId: string) => string | undefined) | undefined): Promise<GyAnswer> {
    const c = this.opts.charging
    const items = p.items.map((i) => i.item)
    const requestId = `${p.sessionId}/${p.requestNumber}`
    const extra: AvpInput[] = []
    let answer: ChargeAnswer
    if (p.requestType === RT.EVENT) {
      const evItems = items.map((it) => ({ ...it, units: eventUnits(it) }))
      const ev: EventRequest = { requestId, sessionId: p.sessionId, identities: p.identities, protocol: 'diameter', items: evItems }
      switch (p.requestedAction) {
        case RA.REFUND_ACCOUNT:
          answer = await c.refund(ev)
          break
        case RA.PRICE_ENQUIRY:
          answer = await c.priceEnquiry(ev)
          if (answer.kind === 'ok') extra.push(...costInformation(answer.outcomes))
          break
        case RA.CHECK_BALANCE: {
          // Enough when a DIRECT_DEBITING of the same items (one unit of a service that names none)
          // would be granted now: the same allowances and money buckets in scope, the same credit limit.
          const checked = await c.checkEvent(ev)
          if (checked.kind !== 'ok') return this.failure(p, checked)
          const enough = checked.outcomes.length > 0 && checked.outcomes.every((o) => o.kind === 'granted')
          const avps = this.head(p.sessionId, RC.SUCCESS, p.requestType, p.requestNumber)
          avps.push({ name: 'Check-Balance-Result', value: enough ? 'ENOUGH_CREDIT' : 'NO_CREDIT' })
          return this.done(p, avps, RC.SUCCESS)
        }
        default:
          answer = await c.event(ev)
      }
    } else {
      const sr: SessionRequest = { sessionId: p.sessionId, requestId, sequence: p.requestNumber, identities: p.identities, protocol: 'diameter', items }
      if (p.closeReason !== undefined) sr.closeReason = p.closeReason
      const route = p.requestType === RT.TERMINATION ? undefined : routeFor?.(p.sessionId)
      if (route !== undefined) sr.route = route
      answer = p.requestType === RT.INITIAL ? await c.initiate(sr) : p.requestType === RT.UPDATE ? await c.update(sr) : await c.terminate(sr)
    }
    if (answer.kind !== 'ok') return this.failure(p, answer)

    const inOrder = outcomesInOrder(p.items.map((pi) => itemKey(pi.item)), answer.outcomes)
    const codes: number[] = []
    const perItem: AvpInput[][] = []
    for (const [i, pi] of p.items.entries()) {
      const o = inOrder[i] ?? ({ kind: 'ratingFailed', key: itemKey(pi.item), reason: 'no outcome' } as ItemOutcome)
      const rc = outcomeResultCode(o)
      codes.push(rc)
      perItem.push(this.itemAvps(o, rc, pi, p))
    }
    const rc = commandResultCode(codes)
    const avps = this.head(p.sessionId, rc, p.requestType, p.requestNumber)
    if (p.multiple) {
      for (const list of perItem) avps.push({ name: 'Multiple-Services-Credit-Control', value: list })
    } else {
      // Single-service mode (RFC 4006 §5.1.1): the grant sits at the top level, without an MSCC Result-Code.
      for (const a of perItem[0] ?? []) if (a.name !== 'Result-Code' && a.name !== 'Rating-Group') avps.push(a)
    }
    avps.push(...extra)
    return this.done(p, avps, rc)
  }

  private itemAvps(o: ItemOutcome, rc: number, pi: ParsedItem, p: ParsedCcr): AvpInput[] {
    const out: AvpInput[] = []
    if (o.kind === 'granted') out.push({ name: 'Granted-Service-Unit', value: [unitAvp(o.unit, o.units)] })
    if (pi.ratingGroup !== undefined) out.push({ name: 'Rating-Group', value: pi.ratingGroup })
    if (pi.serviceId !== undefined) out.push({ name: 'Service-Identifier', value: pi.serviceId })
    if (o.kind === 'granted' && p.requestType !== RT.EVENT) {
      if (o.validity > 0) out.push({ name: 'Validity-Time', value: o.validity })
    }
    out.push({ name: 'Result-Code', value: rc })
    if (o.kind === 'granted' && p.requestType !== RT.EVENT) {
      // Out of credit wins (TERMINATE/configured action); otherwise a crossed fair-usage limit
      // makes this grant the last one at full service: after it the gateway restricts or redirects.
      const fup = o.fairUsage
      if (o.finalUnit) out.push(this.finalUnitIndication())
      else if (fup?.action === 'restrict') out.push(this.finalUnitIndication({ action: 'RESTRICT_ACCESS', filterIds: fup.filterId ? [fup.filterId] : [] }))
      else if (fup?.action === 'redirect' && fup.redirectUrl) out.push(this.finalUnitIndication({ action: 'REDIRECT', address: fup.redirectUrl, addressType: 'URL' }))
      if (o.threshold > 0) {
        const name = o.unit === 'seconds' ? 'Time-Quota-Threshold' : o.unit === 'octets' ? 'Volume-Quota-Threshold' : 'Unit-Quota-Threshold'
        out.push({ name, value: Math.min(o.threshold, 0xffffffff) })
      }
    }
    return out
  }

  private finalUnitIndication(policy?: FinalUnitPolicy): AvpInput {
    const f = policy ?? this.opts.finalUnit ?? { action: 'TERMINATE' }
    const kids: AvpInput[] = [{ name: 'Final-Unit-Action', value: f.action }]
    if (f.action === 'REDIRECT') {
      kids.push({
        name: 'Redirect-Server',
        value: [
          { name: 'Redirect-Address-Type', value: f.addressType ?? 'URL' },
          { name: 'Redirect-Server-Address', value: f.address },
        ],
      })
    } else if (f.action === 'RESTRICT_ACCESS') {
      for (const r of f.filterRules ?? []) kids.push({ name: 'Restriction-Filter-Rule', value: r })
      for (const id of f.filterIds ?? []) kids.push({ name: 'Filter-Id', value: id })
    }
    return { name: 'Final-Unit-Indication', value: kids }
  }

  private failure(p: ParsedCcr, a: Exclude<ChargeAnswer, { kind: 'ok' }>): GyAnswer {
    const rc = failureResultCode(a)
    // Values only charging itself could judge (e.g. a price past what the scripts keep exactly) are bad
    // input too: counted as the handler's own refusals are.
    if (a.kind === 'invalidRequest') this.opts.metrics.malformed.inc({ protocol: 'diameter', reason: `ccr-${rc}` })
    return this.errorAnswer({ sessionId: p.sessionId, requestType: p.requestType, requestNumber: p.requestNumber }, rc, a.kind === 'invalidRequest' ? `${a.field}: ${a.reason}` : undefined)
  }

  private done(p: ParsedCcr, avps: AvpInput[], rc: number): GyAnswer {
    return { avps, resultCode: rc, error: false, type: TYPE_LABELS[p.requestType] ?? '-', sessionId: p.sessionId, requestType: p.requestType, cacheable: true }
  }

  /** Session-Id, Result-Code, Origin-Host/Realm, Auth-Application-Id, CC-Request-Type/-Number (RFC 4006 §3.2 order). */
  private head(sessionId: string | undefined, rc: number, type: number | undefined, num: number | undefined): AvpInput[] {
    const avps: AvpInput[] = []
    if (sessionId !== undefined) avps.push({ name: 'Session-Id', value: sessionId })
    avps.push(
      { name: 'Result-Code', value: rc },
      { name: 'Origin-Host', value: this.opts.originHost },
      { name: 'Origin-Realm', value: this.opts.originRealm },
      { name: 'Auth-Application-Id', value: CREDIT_CONTROL_APPLICATION },
    )
    if (type !== undefined) avps.push({ name: 'CC-Request-Type', value: type })
    if (num !== undefined) avps.push({ name: 'CC-Request-Number', value: num })
    return avps
  }

  // ------------------------------------------------------------------------------------------
  // Reading helpers

  /** First occurrence of a single-valued AVP; a duplicate (Kamailio's Origin-Host) is counted and ignored. */
  private single(avps: Avp[], name: string): Avp | undefined {
    const first = findAvp(avps, name)
    if (first !== undefined && findAvps(avps, name).length > 1) this.opts.metrics.tolerated.inc({ protocol: 'diameter', kind: 'duplicate-avp' })
    return first
  }

  /** The AVP, if the codec could read it; an AVP charging needs but could not read is refused with 5004. */
  private readable(msg: DiameterMessage, avp: Avp): Avp {
    if (avp.irregular === 'invalid-value' || avp.irregular === 'grouped-opaque') throw this.invalid(msg, avp, `${avp.name ?? `AVP ${avp.code}`} cannot be read`)
    return avp
  }

  /** A text the CDR will carry: NUL or over-long is refused here, with its Failed-AVP, before anything is charged. */
  private chargeableText(msg: DiameterMessage, avp: Avp, v: string, max: number): string {
    const p = textProblem(v, max)
    if (p !== undefined) throw this.invalid(msg, avp, `${avp.name ?? `AVP ${avp.code}`} ${p}`)
    return v
  }

  private invalid(msg: DiameterMessage, avp: Avp, message: string): CcrRejection {
    let rc: number = RC.INVALID_AVP_VALUE
    if (avp.irregular === 'grouped-opaque' && avp.raw !== undefined) {
      // The codec tells which Result-Code a strict server would send (5004, 5014, …).
      const irr = msg.irregularities?.find((i) => i.failedAvp !== undefined && i.failedAvp.byteOffset === avp.raw!.byteOffset && i.failedAvp.length === avp.raw!.length)
      if (irr !== undefined && irr.resultCode >= 5000) rc = irr.resultCode
    }
    return new CcrRejection(rc, message, failedAvpOf(avp))
  }

  private checkMandatory(avps: Avp[], everywhere: boolean): void {
    const scan = (list: Avp[] | undefined, depth: number): void => {
      for (const a of list ?? []) {
        if (a.name === undefined && a.flags.mandatory) {
          throw new CcrRejection(RC.AVP_UNSUPPORTED, `AVP ${a.code}${a.vendorId ? ` (vendor ${a.vendorId})` : ''} with the M bit is not supported`, failedAvpOf(a))
        }
        const kids = childrenOf(a)
        if (kids === undefined) continue
        const charged = (depth === 0 && a.name === 'Multiple-Services-Credit-Control') || (depth <= 1 && (a.name === 'Requested-Service-Unit' || a.name === 'Used-Service-Unit'))
        if (everywhere || charged) {
          scan(kids, depth + 1)
        } else if (hasUnknownMandatory(kids)) {
          this.opts.metrics.tolerated.inc({ protocol: 'diameter', kind: 'unknown-mandatory-avp' })
        }
      }
    }
    scan(avps, 0)
  }
}

function hasUnknownMandatory(list: Avp[]): boolean {
  for (const a of list) {
    if (a.name === undefined && a.flags.mandatory) return true
    const kids = childrenOf(a)
    if (kids !== undefined && hasUnknownMandatory(kids)) return true
  }
  return false
}

/** Failed-AVP content: the AVP as received (RFC 6733 §7.5), or re-encoded when the codec kept no bytes. */
function failedAvpOf(avp: Avp): AvpInput {
  if (avp.raw !== undefined) return verbatimAvp(avp.raw)
  return avp
}

/** TS 32.299 §7.1.12 Service-Context-Id: which unit the service is counted in, from its well-known tail. */
function unitHint(context: string | undefined): UnitHint {
  if (context === undefined) return undefined
  const m = /(\d{5})@3gpp\.org$/i.exec(context)
  switch (m?.[1]) {
    case '32251': // PS charging (Gy)
      return 'octets'
    case '32260': // IMS
    case '32275': // MMTel
      return 'seconds'
    case '32270': // MMS
    case '32274': // SMS
      return 'events'
    default:
      return undefined
  }
}

/** The octets of a RSU/USU: CC-Total-Octets, else input + output (Open5GS USU); undefined when it counts none. */
function octetsOf(u: { total?: number; input?: number; output?: number }): number | undefined {
  return u.total ?? (u.input !== undefined || u.output !== undefined ? (u.input ?? 0) + (u.output ?? 0) : undefined)
}

/** Units from a RSU/USU in the service's unit; CC-Total-Octets, else input + output (Open5GS USU). */
function pickUnits(u: { time?: number; total?: number; input?: number; output?: number; ssu?: number }, hint: UnitHint): number | undefined {
  const octets = octetsOf(u)
  if (hint === 'octets' && octets !== undefined) return octets
  if (hint === 'seconds' && u.time !== undefined) return u.time
  if (hint === 'events' && u.ssu !== undefined) return u.ssu
  return octets ?? u.time ?? u.ssu
}

/** A USU's usage in each unit it counts (CC-Time, octets, CC-Service-Specific-Units); undefined when it counts only one. */
function reportedUnits(u: { time?: number; total?: number; input?: number; output?: number; ssu?: number }): UsedUnits['byUnit'] {
  const octets = octetsOf(u)
  const counted = (u.time !== undefined ? 1 : 0) + (octets !== undefined ? 1 : 0) + (u.ssu !== undefined ? 1 : 0)
  if (counted < 2) return undefined
  const out: NonNullable<UsedUnits['byUnit']> = {}
  if (u.time !== undefined) out.seconds = u.time
  if (octets !== undefined) out.octets = octets
  if (u.ssu !== undefined) out.events = u.ssu
  return out
}

/** Units of an event item: what was requested, else what was reported used, else one event. */
function eventUnits(it: ChargeItem): number {
  if (typeof it.requested === 'number' && it.requested > 0) return it.requested
  const used = (it.used ?? []).reduce((s, u) => s + u.units, 0)
  return used > 0 ? used : 1
}

function unitAvp(unit: 'seconds' | 'octets' | 'events', units: number): AvpInput {
  if (unit === 'seconds') return { name: 'CC-Time', value: Math.min(units, 0xffffffff) }
  if (unit === 'octets') return { name: 'CC-Total-Octets', value: BigInt(units) }
  return { name: 'CC-Service-Specific-Units', value: BigInt(units) }
}

/** RFC 4006 §8.7 Cost-Information for a price enquiry: the total of the priced items. */
function costInformation(outcomes: ItemOutcome[]): AvpInput[] {
  let total = 0n
  let currency: string | undefined
  for (const o of outcomes) {
    if (o.kind !== 'priced') continue
    total += o.amount
    currency ??= o.currency
  }
  if (currency === undefined) return []
  const v = unitValue(total)
  return [
    {
      name: 'Cost-Information',
      value: [
        { name: 'Unit-Value', value: [{ name: 'Value-Digits', value: v.digits }, { name: 'Exponent', value: v.exponent }] },
        { name: 'Currency-Code', value: currencyNumber(currency) },
      ],
    },
  ]
}

/**
 * E.164 digits of a party address: 'tel:+46 70-123', 'sip:+33123@host;user=phone', '0046…' → '46…'.
 * undefined when the address is not a number (sip:alice@example.org).
 */
export function e164(address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  let s = address.trim()
  const scheme = /^(tel|sips?):/i.exec(s)
  if (scheme) {
    s = s.slice(scheme[0].length)
    if (scheme[1].toLowerCase() !== 'tel') s = s.split('@')[0]
  }
  s = s.split(';')[0].replace(/[\s\-.()]/g, '')
  if (s.startsWith('+')) s = s.slice(1)
  else if (s.startsWith('00')) s = s.slice(2)
  return /^\d{3,15}$/.test(s) ? s : undefined
}
