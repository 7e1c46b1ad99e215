import { createServer, type Server } from 'node:http'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import type { Metrics } from './metrics.js'

export type ReadinessCheck = () => Promise<string | undefined>

/**
 * /metrics (Prometheus text), /healthz (the process answers) and /readyz (Redis reachable,
 * listeners bound, …: each named check returns undefined when fine or a reason) on the metrics port.
 */
export class MetricsServer implements Component {
  readonly name = 'metrics-http'
  private server?: Server
  port = 0
  private readonly checks = new Map<string, ReadinessCheck>()
  /** refreshed before each scrape (gauges read from Redis) */
  beforeScrape?: () => Promise<void>

  constructor(
    private readonly host: string,
    private readonly wantPort: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check)
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req.url ?? '/', res)
    })
    await new Promise<void>((res, rej) => {
      this.server!.once('error', rej)
      this.server!.listen(this.wantPort, this.host, () => res())
    })
    const addr = this.server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : this.wantPort
    this.log.info({ host: this.host, port: this.port }, 'metrics and health endpoints listening')
  }

  private async handle(url: string, res: import('node:http').ServerResponse): Promise<void> {
    const path = url.split('?')[0]
    try {
      if (path === '/metrics') {
        await this.beforeScrape?.().catch(() => undefined)
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType })
        res.end(await this.metrics.registry.metrics())
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"status":"ok"}')
      } else if (path === '/readyz') {
        const failing: Record<string, string> = {}
        await Promise.all(
          [...this.checks].map(async ([name, check]) => {
            const why = await check().catch((e: Error) => e.message)
            if (why) failing[name] = why
          }),
        )
        const ok = Object.keys(failing).length === 0
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify(ok ? { status: 'ready', checks: [...this.checks.keys()] } : { status: 'not ready', failing }))
      } else {
        res.writeHead(404).end()
      }
    } catch (err) {
      res.writeHead(500).end((err as Error).message)
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()))
  }
}
