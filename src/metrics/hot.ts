import { performance } from 'node:perf_hooks'
import type { Registry } from 'prom-client'

// The per-request counter and histograms (every CCR and RADIUS request touches three), kept in plain
// numbers and handed to prom-client's registry only when Prometheus scrapes. prom-client hashes the
// label object on every inc/observe (its keys sorted each time) and times with process.hrtime; these
// find a series with one Map lookup per label value (0.2 against 1.2-1.4 µs per inc and timer here).
// The exposition is prom-client's own (its registry formats what get() returns): names, label sets
// and bucket lines are unchanged, and test/unit/hot-metrics.test.ts compares the two line for line.

type Labels<L extends string> = Partial<Record<L, string | number>>

interface HotOptions<L extends string> {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly L[]
  readonly registers: readonly Registry[]
}

/** One series: the labels as given the first time, and its numbers. */
interface Series<L extends string> {
  readonly labels: Labels<L>
  value: number
  counts?: Float64Array
}

abstract class HotMetric<L extends string> {
  readonly name: string
  readonly help: string
  readonly aggregator = 'sum' as const
  /** Every series, in the order they appeared. */
  protected readonly series: Array<Series<L>> = []
  /** label value → … → series, one level per label name in declaration order. */
  private root = new Map<unknown, unknown>()

  private readonly labelNames: readonly L[]

  constructor(o: HotOptions<L>) {
    this.name = o.name
    this.help = o.help
    this.labelNames = o.labelNames
    for (const r of o.registers) r.registerMetric(this as never)
  }

  abstract readonly type: 'counter' | 'histogram'

  /** The series of these label values (created at zero on first use). */
  protected seriesOf(labels: Labels<L>): Series<L> {
    // One Map lookup per label value: no key string built, no label names sorted.
    const names = this.labelNames
    let level = this.root
    for (let i = 0; i < names.length - 1; i++) {
      const v = labels[names[i]]
      let next = level.get(v) as Map<unknown, unknown> | undefined
      if (next === undefined) level.set(v, (next = new Map()))
      level = next
    }
    const last = labels[names[names.length - 1]]
    let s = level.get(last) as Series<L> | undefined
    if (s === undefined) {
      s = this.newSeries({ ...labels })
      level.set(last, s)
      this.series.push(s)
    }
    return s
  }

  protected abstract newSeries(labels: Labels<L>): Series<L>

  reset(): void {
    this.series.length = 0
    this.root = new Map()
  }
}

export class HotCounter<L extends string> extends HotMetric<L> {
  readonly type = 'counter' as const

  inc(labels: Labels<L>, value = 1): void {
    this.seriesOf(labels).value += value
  }

  protected newSeries(labels: Labels<L>): Series<L> {
    return { labels, value: 0 }
  }

  /** As prom-client's Counter.get(). */
  async get(): Promise<{ name: string; help: string; type: 'counter'; aggregator: 'sum'; values: Array<{ value: number; labels: Labels<L> }> }> {
    const values = this.series.map((s) => ({ value: s.value, labels: s.labels }))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}

type HistogramValue<L extends string> = {
  labels: Labels<L | 'le'>
  sharedLabels?: Labels<L>
  value: number
  metricName: string
  exemplar?: null
}

export class HotHistogram<L extends string> extends HotMetric<L> {
  readonly type = 'histogram' as const
  private readonly upperBounds: readonly number[]

  constructor(o: HotOptions<L> & { readonly buckets: readonly number[] }) {
    super(o)
    this.upperBounds = [...o.buckets].sort((a, b) => a - b)
  }

  observe(labels: Labels<L>, seconds: number): void {
    const s = this.seriesOf(labels)
    const b = this.upperBounds
    let i = 0
    while (i < b.length && seconds > b[i]) i++
    // counts[b.length]: above the last bound (only in +Inf); value: the sum; count: the sum of counts.
    s.counts![i]++
    s.value += seconds
  }

  /** Returns the function that observes the seconds elapsed since this call. */
  startTimer(labels: Labels<L>): () => void {
    const t0 = performance.now()
    return () => this.observe(labels, (performance.now() - t0) / 1000)
  }

  protected newSeries(labels: Labels<L>): Series<L> {
    return { labels, value: 0, counts: new Float64Array(this.upperBounds.length + 1) }
  }

  /** As prom-client's Histogram.getForPromString(): the series' labels shared, `le` per bucket line. */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<HistogramValue<L>> }> {
    const values: Array<HistogramValue<L>> = []
    for (const s of this.series) {
      const counts = s.counts!
      let acc = 0
      this.upperBounds.forEach((le, i) => {
        acc += counts[i]
        values.push({ labels: { le } as Labels<L | 'le'>, sharedLabels: s.labels, value: acc, metricName: `${this.name}_bucket`, exemplar: null })
      })
      const count = acc + counts[this.upperBounds.length]
      values.push(
        { labels: { le: '+Inf' } as Labels<L | 'le'>, sharedLabels: s.labels, value: count, metricName: `${this.name}_bucket`, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.value, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: count, metricName: `${this.name}_count` },
      )
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** As prom-client's Histogram.get(): each value's labels in one object. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<{ labels: Labels<L | 'le'>; value: number; metricName: string; exemplar?: null }> }> {
    const data = await this.getForPromString()
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) }
  }
}
