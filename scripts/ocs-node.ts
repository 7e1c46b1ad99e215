// The OCS as `node dist/main.js` runs it (src/main.ts startOcs: embedded Redis, CDR worker child,
// REST API, metrics, RADIUS, Diameter), started from the sources, for the scripts that need an OCS
// of their own in its own process (scripts/fuzz.ts, scripts/overload.ts). Config comes from
// OCS_CONFIG and the OCS_* variables as usual.
//
// The servers' in-flight bounds (DiameterServer maxInFlight / maxInFlightPerPeer, RadiusServer
// maxInFlight) are constructor options that no config key reaches yet; for the overload measurement
// they can be set here through
//   OCS_DIAMETER_MAX_IN_FLIGHT, OCS_DIAMETER_MAX_IN_FLIGHT_PER_PEER, OCS_RADIUS_MAX_IN_FLIGHT
// (applied on the server objects before they start).
import { loadConfig } from '../src/config/load.js'
import { createLogger } from '../src/lib/logger.js'
import { exitOnSignals } from '../src/lib/shutdown.js'
import { startOcs } from '../src/main.js'
import { DiameterServer } from '../src/diameter/server.js'
import { RadiusServer } from '../src/radius/server.js'

function bound(name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`)
  return n
}

const limits: Array<[{ prototype: { start(): Promise<void> } }, Array<[string, number | undefined]>]> = [
  [DiameterServer, [['maxInFlight', bound('OCS_DIAMETER_MAX_IN_FLIGHT')], ['maxInFlightPerPeer', bound('OCS_DIAMETER_MAX_IN_FLIGHT_PER_PEER') ?? bound('OCS_DIAMETER_MAX_IN_FLIGHT')]]],
  [RadiusServer, [['maxInFlight', bound('OCS_RADIUS_MAX_IN_FLIGHT')]]],
]
for (const [cls, fields] of limits) {
  const set = fields.filter(([, v]) => v !== undefined)
  if (set.length === 0) continue
  const start = cls.prototype.start
  cls.prototype.start = function (this: Record<string, unknown>): Promise<void> {
    for (const [field, value] of set) {
      // The field must exist (a rename in src/ must not silently turn the bound off).
      if (typeof this[field] !== 'number') throw new Error(`${cls === DiameterServer ? 'DiameterServer' : 'RadiusServer'}.${field} not found`)
      this[field] = value
    }
    return start.call(this)
  }
}

const config = loadConfig()
const log = createLogger(config.logLevel)
try {
  const ocs = await startOcs(config, log)
  exitOnSignals(log, () => ocs.stop())
} catch (err) {
  process.stderr.write(`OCS failed to start: ${(err as Error).message}\n`)
  process.exit(1)
}
