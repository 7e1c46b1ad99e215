import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import { freePort } from '../../src/balance/embedded-redis.js'

const run = promisify(execFile)

export interface TestCluster {
  ports: number[]
  client: Cluster
  stop(): Promise<void>
}

/** A 3-master Redis Cluster on loopback (redis-server --cluster-enabled + redis-cli --cluster create). */
export async function startCluster(masters = 3): Promise<TestCluster> {
  const procs: ChildProcess[] = []
  const dirs: string[] = []
  const ports: number[] = []
  for (let i = 0; i < masters; i++) {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'ocs-cluster-'))
    ports.push(port)
    dirs.push(dir)
    procs.push(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
    )
  }
  for (const port of ports) {
    for (let i = 0; ; i++) {
      const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      c.on('error', () => undefined)
      try {
        await c.connect()
        await c.ping()
        c.disconnect()
        break
      } catch {
        c.disconnect()
        if (i > 200) throw new Error(`cluster node ${port} did not start`)
        await new Promise((r) => setTimeout(r, 30))
      }
    }
  }
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
  // Wait until every node agrees the cluster is up.
  for (const port of ports) {
    for (let i = 0; ; i++) {
      const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'])
      if (/cluster_state:ok/.test(stdout)) break
      if (i > 200) throw new Error('cluster did not converge')
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const client = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })))
  await new Promise<void>((res) => client.once('ready', () => res()))
  return {
    ports,
    client,
    async stop() {
      client.disconnect()
      await Promise.all(procs.map((p) => new Promise((res) => (p.exitCode !== null ? res(null) : (p.once('exit', res), p.kill('SIGKILL'))))))
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
}
