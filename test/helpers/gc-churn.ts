// Child process for test/unit/gc-tuning.test.ts (run with --expose-gc): sets the heap growing percent
// given as argv[2] the way the OCS does at start-up, collects fully, then grows a retained heap
// 10,000 small objects at a time until the next full (major) collection starts, and prints how far the old
// generation had grown by then relative to its live size after the first collection.
import { getHeapStatistics } from 'node:v8'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { setHeapGrowingPercent } from '../../src/lib/gc-tuning.js'

setHeapGrowingPercent(Number(process.argv[2]))
const live: unknown[] = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `live-${i}` }))
;(globalThis as unknown as { gc: () => void }).gc()
const base = getHeapStatistics().used_heap_size
let major = false
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true
})
obs.observe({ entryTypes: ['gc'] })
let peak = base
for (let round = 0; round < 2000 && !major; round++) {
  live.push(Array.from({ length: 10_000 }, (_, i) => ({ i })))
  peak = Math.max(peak, getHeapStatistics().used_heap_size)
  await new Promise((r) => setImmediate(r)) // let the GC observer report
}
obs.disconnect()
console.log(JSON.stringify({ major, growth: peak / base }))
