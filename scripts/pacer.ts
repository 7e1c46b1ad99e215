// Rate control for the load generators: requests wait in one FIFO queue that a single 1 ms timer
// releases as tokens accrue, so a paced run spreads its requests over each millisecond instead of
// every waiting worker polling with a timer of its own (128 timers a millisecond measured as event-
// loop lag in the generator itself, i.e. as latency of the server under test).
export class Pacer {
  private tokens = 0
  private last = performance.now()
  private readonly waiters: Array<() => void> = []
  private timer: NodeJS.Timeout | undefined
  /** At most ~5 ms worth of requests at once after an idle spell. */
  private readonly burst: number

  constructor(private readonly perSecond: number) {
    this.burst = Math.max(1, perSecond / 200)
  }

  /** Resolves when the request may go; at once without a rate. */
  take(): Promise<void> | undefined {
    if (this.perSecond <= 0) return undefined
    this.refill()
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1
      return undefined
    }
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve)
      this.arm()
    })
  }

  private refill(): void {
    const now = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000)
    this.last = now
  }

  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      this.refill()
      while (this.tokens >= 1 && this.waiters.length > 0) {
        this.tokens -= 1
        this.waiters.shift()!()
      }
      if (this.waiters.length > 0) this.arm()
    }, 1)
  }
}
