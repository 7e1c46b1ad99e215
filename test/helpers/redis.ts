import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../../src/balance/embedded-redis.js'

export interface TestRedis {
  port: number
  url: string
  client: Redis
  proc: ChildProcess
  dir: string
  stop(): Promise<void>
}

async function waitPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    c.on('error', () => undefined)
    try {
      await c.connect()
      if ((await c.ping()) === 'PONG') return
    } catch {
      if (Date.now() > deadline) throw new Error(`redis on ${port} did not start`)
    } finally {
      c.disconnect()
    }
    await new Promise((r) => setTimeout(r, 30))
  }
}

/** A private redis-server on a free loopback port for one test file; stop() kills it and removes its dir. */
export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ocs-redis-'))
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extra], {
    stdio: 'ignore',
  })
  await waitPing(port)
  const client = new Redis({ port })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    proc,
    dir,
    async stop() {
      client.disconnect()
      if (proc.exitCode === null) {
        const done = new Promise((r) => proc.once('exit', r))
        proc.kill('SIGKILL')
        await done
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
