// An OCS of its own for scripts/fuzz.ts and scripts/overload.ts: scripts/ocs-node.ts (the src/main.ts
// composition, embedded Redis on free ports, CDR worker child) in a child process on free ports, with
// a temporary data dir and config file; its log is watched for error/fatal lines and its stderr for
// crash output (an uncaught exception or unhandled rejection ends the process with a stack on stderr).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { Redis } from 'ioredis'
import { PORT_FILE } from '../src/balance/embedded-redis.js'
import { BalanceStore } from '../src/balance/store.js'
import { audit, type AuditReport } from '../src/cdr/audit.js'
import { SqliteBillingStore } from '../src/cdr/sqlite-store.js'
import { DEMO_PLAN } from '../src/rating/plan.js'

export const OWN_API_KEY = 'own-ocs-key-0123456789abcdef'

export interface OwnOcs {
  pid: number
  proc: ChildProcess
  http: string
  diameterPort: number
  authPort: number
  acctPort: number
  metricsUrl: string
  /** error/fatal log lines and non-JSON stderr output, first 50 */
  errors: string[]
  errorCount: number
  /** error lines by message */
  errorKinds: Map<string, number>
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  alive(): boolean
  /** Resident set size of the OCS process (not its Redis or CDR worker children), bytes. */
  rss(): number
  /** A metric's value from /metrics: the sum over series whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>
  api(method: string, path: string, body?: unknown): Promise<any>
  /**
   * The money-conservation audit (src/cdr/audit.ts, as `npm run audit`) on this OCS's Redis and
   * billing store, once the CDR worker drained the outbox (at most 60 s), with the outbox entries the
   * worker refused (cdr_rejects) summed per account.
   */
  audit(): Promise<{ report: AuditReport; rejects: Map<string, { count: number; total: bigint; errors: Map<string, number> }> }>
  /** A prepaid account on the demo plan with one subscriber. */
  subscriber(o: { balance: string; msisdn?: string; imsi?: string; username?: string; password?: string }): Promise<{ account: string }>
  stop(): Promise<void>
}

export async function startOwnOcs(o: { config?: Record<string, unknown>; env?: Record<string, string>; logLevel?: string } = {}): Promise<OwnOcs> {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-own-'))
  const cfg = join(dir, 'ocs.yaml')
  writeFileSync(cfg, stringify({ logLevel: o.logLevel ?? 'error', demoData: false, ...o.config }))
  const { OCS_REDIS_URL: _u, OCS_REDIS_CLUSTER: _c, ...env } = process.env
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/ocs-node.ts'], {
    env: {
      ...env,
      OCS_CONFIG: cfg,
      OCS_DATA_DIR: join(dir, 'data'),
      OCS_API_KEY: OWN_API_KEY,
      OCS_HTTP_PORT: '0',
      OCS_METRICS_PORT: '0',
      OCS_DIAMETER_PORT: '0',
      OCS_RADIUS_AUTH_PORT: '0',
      OCS_RADIUS_ACCT_PORT: '0',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const errors: string[] = []
  const errorKinds = new Map<string, number>()
  let errorCount = 0
  const note = (line: string, kind: string): void => {
    errorCount++
    errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1)
    if (errors.length < 50) errors.push(line.slice(0, 2000))
  }
  let out = ''
  let ready: ((m: RegExpExecArray) => void) | undefined
  const readyRe = /REST API http:\/\/[^:]+:(\d+)\/.*Diameter (\d+), RADIUS auth (\d+) acct (\d+), metrics (http:\/\/[^ ]+\/metrics)/
  const onLine = (line: string, stream: 'out' | 'err'): void => {
    if (!line.trim()) return
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string }
        if (j.level! >= 50) note(line, `${j.level === 60 ? 'fatal' : 'error'}: ${j.msg}`)
      } catch {
        note(line, 'unparsable log line')
      }
      return
    }
    const m = readyRe.exec(line)
    if (m && ready) ready(m)
    else if (stream === 'err') note(line, 'stderr (crash output)')
  }
  const pipe = (stream: 'out' | 'err') => {
    let buf = ''
    return (d: Buffer): void => {
      buf += d.toString()
      const lines = buf.split('\n')
      buf = lines.pop() ?? ''
      for (const l of lines) onLine(l, stream)
      if (stream === 'out') out = (out + d.toString()).slice(-4000)
    }
  }
  // Should this script die first (an exception, EPIPE on a closed stdout), the OCS goes with it.
  const orphanGuard = (): void => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
  }
  process.once('exit', orphanGuard)
  proc.stdout!.on('data', pipe('out'))
  proc.stderr!.on('data', pipe('err'))
  const self: Partial<OwnOcs> = { proc, errors, errorKinds, exit: undefined }
  proc.once('exit', (code, signal) => {
    self.exit = { code, signal }
  })
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the OCS did not start within 60 s: ${out.slice(-1000)} ${errors.join('\n')}`)), 60_000)
    ready = (x) => {
      clearTimeout(timer)
      resolve(x)
    }
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the OCS exited (${code}) on start: ${errors.join('\n')}`))
    })
  })
  const http = `http://127.0.0.1:${m[1]}`
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${http}${path}`, {
      method,
      headers: { authorization: `Bearer ${OWN_API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  await api('PUT', `/v1/plans/${DEMO_PLAN.id}`, DEMO_PLAN)
  const metricsUrl = m[5].replace('0.0.0.0', '127.0.0.1')
  Object.assign(self, {
    pid: proc.pid!,
    http,
    diameterPort: Number(m[2]),
    authPort: Number(m[3]),
    acctPort: Number(m[4]),
    metricsUrl,
    alive: () => self.exit === undefined && proc.exitCode === null && proc.signalCode === null,
    rss: () => {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))
        return kb ? Number(kb[1]) * 1024 : 0
      } catch {
        return 0
      }
    },
    metric: async (name: string, labels: Record<string, string> = {}) => {
      const text = await (await fetch(metricsUrl)).text()
      let sum = 0
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue
        const mm = /^([a-z_:]+)(\{[^}]*\})? ([-+\d.eE]+|NaN)$/.exec(line)
        if (!mm || mm[1] !== name) continue
        const ls = mm[2] ?? ''
        if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(mm[3])
      }
      return sum
    },
    api,
    audit: async () => {
      const dataDir = join(dir, 'data')
      const redis = new Redis({ port: Number(readFileSync(join(dataDir, 'redis', PORT_FILE), 'utf8')), lazyConnect: false })
      const billing = new SqliteBillingStore(join(dataDir, 'billing.sqlite'))
      try {
        let report = await audit(redis, new BalanceStore(redis), billing)
        for (let i = 0; i < 120 && report.outboxBacklog > 0; i++) {
          await new Promise((r) => setTimeout(r, 500))
          report = await audit(redis, new BalanceStore(redis), billing)
        }
        const rejects = new Map<string, { count: number; total: bigint; errors: Map<string, number> }>()
        for (const r of await billing.rejects(1_000_000)) {
          let account = '?'
          let total = 0n
          try {
            const j = JSON.parse(r.raw) as { account?: string; total?: string }
            account = j.account ?? '?'
            total = BigInt(j.total ?? 0)
          } catch {
            // not JSON: counted under '?'
          }
          const e = rejects.get(account) ?? { count: 0, total: 0n, errors: new Map<string, number>() }
          e.count++
          e.total += total
          const kind = r.error.replace(/\d+/g, 'N')
          e.errors.set(kind, (e.errors.get(kind) ?? 0) + 1)
          rejects.set(account, e)
        }
        return { report, rejects }
      } finally {
        redis.disconnect()
        await billing.close()
      }
    },
    subscriber: async (s: { balance: string; msisdn?: string; imsi?: string; username?: string; password?: string }) => {
      const acct = (await api('POST', '/v1/accounts', { currency: 'EUR', type: 'prepaid', plan: DEMO_PLAN.id, balance: s.balance })) as { id: string }
      const { balance: _b, ...ids } = s
      await api('POST', '/v1/subscribers', { account: acct.id, ...ids })
      return { account: acct.id }
    },
    stop: async () => {
      if (self.exit === undefined) {
        const done = new Promise((r) => proc.once('exit', r))
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), 8000)
        await done
        clearTimeout(timer)
      }
      process.off('exit', orphanGuard)
      if (process.env.OCS_OWN_KEEP === '1') process.stderr.write(`kept the OCS data dir ${dir}\n`)
      else rmSync(dir, { recursive: true, force: true })
    },
  })
  // A live count (Object.assign would copy a getter's value once).
  Object.defineProperty(self, 'errorCount', { get: () => errorCount, enumerable: true })
  return self as OwnOcs
}
