import { setFlagsFromString } from 'node:v8'

// V8 sizes the old generation after each full collection at the live size times a growing factor
// it derives from how fast it collects. The OCS's live heap is small (~30 MB) and collected fast,
// so V8 picks a factor of ~1.5 and runs a mark-compact every ~1.5 s at 9,000 CCR/s (every ~2.5 s
// even at 2,000 CCR/s): each one stops the event loop for 2–10 ms, plus marking steps on it, and
// every request in flight waits. At 2,000 CCR/s each of them was a 16–32 ms episode of slow answers.
// A fixed factor of 1 + percent/100 trades heap for fewer of them: with 400 (×5), ~150 MB at most
// instead of ~45, and a mark-compact every ~10 s at 9,000 CCR/s. The flag is read at every full
// collection, so it takes effect when set at start-up.

/** Sets V8's heap growing factor to 1 + percent/100; 0 leaves V8's own choice. Per process. */
export function setHeapGrowingPercent(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.trunc(percent)}`)
}
