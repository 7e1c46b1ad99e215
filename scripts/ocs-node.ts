// The OCS as `node dist/main.js` runs it (src/main.ts startOcs: embedded Redis, CDR worker child,
// REST API, metrics, RADIUS, Diameter), started from the sources, for the scripts that need an OCS
// of their own in its own process (scripts/fuzz.ts, scripts/overload.ts). Config comes from
// OCS_CONFIG and the OCS_* variables as usual.
import { loadConfig } from '../src/config/load.js'
import { createLogger } from '../src/lib/logger.js'
import { exitOnSignals } from '../src/lib/shutdown.js'
import { startOcs } from '../src/main.js'
import { setHeapGrowingPercent } from '../src/lib/gc-tuning.js'

const config = loadConfig()
setHeapGrowingPercent(config.scheduling.heapGrowingPercent)
const log = createLogger(config.logLevel)
try {
  const ocs = await startOcs(config, log)
  exitOnSignals(log, () => ocs.stop())
} catch (err) {
  process.stderr.write(`OCS failed to start: ${(err as Error).message}\n`)
  process.exit(1)
}
