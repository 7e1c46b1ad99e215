import type { ChargeItem, EventRequest, Identity, SessionRequest, UsedUnits } from './types.js'
import { UNIT_TYPES } from '../rating/plan.js'

// What the core accepts from a front end, checked before any balance moves. Every text field here
// ends up in a CDR, and the billing store refuses NUL characters and over-long values: a charge
// whose CDR cannot be stored would break the money audit, so such a request is refused up front.
// Usage beyond MAX_REPORTED_UNITS in one report is no real usage (2^48 octets = 256 TiB; 2^48 s =
// 8.9 million years) but a broken or hostile counter; charging it would sink the account for ever.

export const MAX_REPORTED_UNITS = 2 ** 48
export const LIMITS = {
  sessionId: 256,
  requestId: 600,
  identity: 256,
  destination: 256,
  serviceContext: 256,
  radiusService: 64,
  closeReason: 128,
  items: 64,
  usedPerItem: 16,
} as const

export interface InvalidRequest {
  kind: 'invalidRequest'
  field: string
  reason: string
}

/** Why a text value cannot be charged (and stored on a CDR), or undefined when it can. */
export function textProblem(v: string, max: number): string | undefined {
  if (v.length > max) return `longer than ${max} characters`
  if (v.includes('\u0000')) return 'contains a NUL character'
  return undefined
}

/** Why a unit count cannot be charged, or undefined when it can. */
export function unitsProblem(n: number): string | undefined {
  if (!Number.isSafeInteger(n) || n < 0) return 'not a non-negative integer'
  if (n > MAX_REPORTED_UNITS) return `more than ${MAX_REPORTED_UNITS} in one report`
  return undefined
}

export function validateSession(req: SessionRequest): InvalidRequest | undefined {
  return (
    text('sessionId', req.sessionId, LIMITS.sessionId, true) ??
    text('requestId', req.requestId, LIMITS.requestId, true) ??
    (req.sequence !== undefined && (!Number.isSafeInteger(req.sequence) || req.sequence < 0) ? invalid('sequence', 'not a non-negative integer') : undefined) ??
    identities(req.identities) ??
    (req.closeReason !== undefined ? text('closeReason', req.closeReason, LIMITS.closeReason) : undefined) ??
    items(req.items)
  )
}

export function validateEvent(req: EventRequest): InvalidRequest | undefined {
  return (
    text('requestId', req.requestId, LIMITS.requestId, true) ??
    (req.sessionId !== undefined ? text('sessionId', req.sessionId, LIMITS.sessionId) : undefined) ??
    identities(req.identities) ??
    items(req.items) ??
    req.items.map((it, i) => units(`items[${i}].units`, it.units)).find((p) => p !== undefined)
  )
}

function invalid(field: string, reason: string): InvalidRequest {
  return { kind: 'invalidRequest', field, reason }
}

function text(field: string, v: string, max: number, required = false): InvalidRequest | undefined {
  if (required && v.length === 0) return invalid(field, 'empty')
  const p = textProblem(v, max)
  return p === undefined ? undefined : invalid(field, p)
}

function units(field: string, n: number | undefined): InvalidRequest | undefined {
  if (n === undefined) return undefined
  const p = unitsProblem(n)
  return p === undefined ? undefined : invalid(field, p)
}

function identities(ids: Identity[]): InvalidRequest | undefined {
  for (const [i, id] of ids.entries()) {
    const p = text(`identities[${i}].${id.kind}`, id.value, LIMITS.identity)
    if (p) return p
  }
  return undefined
}

function items(list: ChargeItem[]): InvalidRequest | undefined {
  if (list.length > LIMITS.items) return invalid('items', `more than ${LIMITS.items} rating groups`)
  for (const [i, it] of list.entries()) {
    const at = `items[${i}]`
    const p =
      (it.serviceContext !== undefined ? text(`${at}.serviceContext`, it.serviceContext, LIMITS.serviceContext) : undefined) ??
      (it.destination !== undefined ? text(`${at}.destination`, it.destination, LIMITS.destination) : undefined) ??
      (it.radiusService !== undefined ? text(`${at}.radiusService`, it.radiusService, LIMITS.radiusService) : undefined) ??
      used(at, it.used)
    if (p) return p
  }
  return undefined
}

function used(at: string, list: UsedUnits[] | undefined): InvalidRequest | undefined {
  if (list === undefined) return undefined
  if (list.length > LIMITS.usedPerItem) return invalid(`${at}.used`, `more than ${LIMITS.usedPerItem} usage reports`)
  for (const [j, u] of list.entries()) {
    const p = units(`${at}.used[${j}].units`, u.units) ?? units(`${at}.used[${j}].inputOctets`, u.inputOctets) ?? units(`${at}.used[${j}].outputOctets`, u.outputOctets)
    if (p) return p
    const byUnit = u.byUnit
    if (byUnit !== undefined) {
      // (every report of a RADIUS session carries it: no field name is built unless one is wrong)
      for (const unit of UNIT_TYPES) {
        const n = byUnit[unit]
        const q = n === undefined ? undefined : unitsProblem(n)
        if (q !== undefined) return invalid(`${at}.used[${j}].byUnit.${unit}`, q)
      }
    }
  }
  return undefined
}
