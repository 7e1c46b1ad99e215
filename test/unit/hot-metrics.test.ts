import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { HotCounter, HotHistogram } from '../../src/metrics/hot.js'

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/** The same metrics twice: prom-client's and ours, each in its own registry. */
function pair(): {
  prom: { reg: Registry; c: Counter<'protocol' | 'command' | 'type' | 'result'>; h: Histogram<'protocol' | 'command'> }
  hot: { reg: Registry; c: HotCounter<'protocol' | 'command' | 'type' | 'result'>; h: HotHistogram<'protocol' | 'command'> }
} {
  const counter = { name: 'ocs_requests_total', help: 'Requests answered', labelNames: ['protocol', 'command', 'type', 'result'] as const }
  const histogram = { name: 'ocs_request_duration_seconds', help: 'Time to answer', labelNames: ['protocol', 'command'] as const, buckets: BUCKETS }
  const p = new Registry()
  const h = new Registry()
  return {
    prom: { reg: p, c: new Counter({ ...counter, registers: [p] }), h: new Histogram({ ...histogram, registers: [p] }) },
    hot: { reg: h, c: new HotCounter({ ...counter, registers: [h] }), h: new HotHistogram({ ...histogram, registers: [h] }) },
  }
}

t.test('the exposition is prom-client\'s, line for line', async (t) => {
  const { prom, hot } = pair()
  const ops: Array<[string, string, string, string, number]> = [
    ['diameter', 'CCR', 'INITIAL', '2001', 0.0004],
    ['diameter', 'CCR', 'UPDATE', '2001', 0.001], // on a bound: in that bucket
    ['diameter', 'CCR', 'UPDATE', '4012', 0.0031],
    ['radius', 'Accounting-Request', 'Interim-Update', 'ok', 0.7],
    ['radius', 'Accounting-Request', 'Interim-Update', 'ok', 2.5], // above the last bound: +Inf only
    ['radius', 'Access-Request', '-', 'accept', 0],
    ['diameter', 'CCR', 'UPDATE', '2001', 0.02],
  ]
  for (const [protocol, command, type, result, seconds] of ops) {
    for (const m of [prom, hot]) {
      m.c.inc({ protocol, command, type, result })
      m.h.observe({ protocol, command }, seconds)
    }
  }
  prom.c.inc({ protocol: 'api', command: 'topup', type: '-', result: '201' }, 3)
  hot.c.inc({ protocol: 'api', command: 'topup', type: '-', result: '201' }, 3)
  const text = await hot.reg.metrics()
  t.equal(text, await prom.reg.metrics())
  t.match(text, /ocs_request_duration_seconds_bucket\{le="\+Inf",protocol="radius",command="Accounting-Request"\} 2\n/)
  t.match(text, /ocs_requests_total\{protocol="diameter",command="CCR",type="UPDATE",result="2001"\} 2\n/)
  // As JSON (prom-client's objects carry some keys as undefined, which JSON leaves out).
  const json = async (r: Registry): Promise<unknown> => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown
  t.same(await json(hot.reg), await json(prom.reg))
})

t.test('startTimer observes the seconds since it was called', async (t) => {
  const { hot } = pair()
  const end = hot.h.startTimer({ protocol: 'radius', command: 'Accounting-Request' })
  await new Promise((r) => setTimeout(r, 30))
  end()
  const text = await hot.reg.metrics()
  t.match(text, /ocs_request_duration_seconds_bucket\{le="0.025",protocol="radius",command="Accounting-Request"\} 0\n/)
  t.match(text, /ocs_request_duration_seconds_bucket\{le="0.05",protocol="radius",command="Accounting-Request"\} 1\n/)
  const sum = Number(/ocs_request_duration_seconds_sum\{[^}]*\} ([\d.]+)/.exec(text)?.[1])
  t.ok(sum >= 0.029 && sum < 0.05, `sum ${sum}`)
})

t.test('resetMetrics empties them, as prom-client\'s', async (t) => {
  const { prom, hot } = pair()
  for (const m of [prom, hot]) {
    m.c.inc({ protocol: 'radius', command: 'x', type: '-', result: 'ok' })
    m.h.observe({ protocol: 'radius', command: 'x' }, 0.1)
    m.reg.resetMetrics()
    m.c.inc({ protocol: 'radius', command: 'y', type: '-', result: 'ok' })
  }
  const text = await hot.reg.metrics()
  t.equal(text, await prom.reg.metrics())
  t.notMatch(text, /command="x"/)
})
