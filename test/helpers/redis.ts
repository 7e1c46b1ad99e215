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

/** cmdstat_<cmd> of INFO commandstats: calls, failed_calls and rejected_calls (0 for a command never run). */
export async function commandStat(client: Redis, cmd: string): Promise<{ calls: number; failed: number; rejected: number }> {
  const line = (await client.info('commandstats')).split('\r\n').find((l) => l.startsWith(`cmdstat_${cmd}:`)) ?? ''
  const n = (k: string): number => Number(new RegExp(`${k}=(\\d+)`).exec(line)?.[1] ?? 0)
  return { calls: n('calls'), failed: n('failed_calls'), rejected: n('rejected_calls') }
}

/** The names of the function libraries Redis holds (FUNCTION LIST). */
export async function functionLibraries(client: Redis): Promise<string[]> {
  const list = (await client.call('FUNCTION', 'LIST')) as unknown[][]
  return list.map((lib) => String(lib[lib.indexOf('library_name') + 1]))
}
