import t from 'tap'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { EmbeddedRedis, SOCKET_FILE } from '../../src/balance/embedded-redis.js'
import { connectRedis } from '../../src/balance/connect.js'
import { createLogger } from '../../src/lib/logger.js'

// The embedded redis-server: the OCS talks to it over a Unix socket only it may open, and falls
// back to loopback TCP where the data dir's path is too long for a socket.

const log = createLogger('silent')
const redisCfg = { commandTimeoutMs: 1000, autoPipelining: false }

async function clients(c: Redis): Promise<string[]> {
  return ((await c.client('LIST')) as string).trim().split('\n')
}

t.test('a Unix socket beside the AOF (mode 0700), the client URL names it, TCP on loopback stays for tools', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-emb-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = new EmbeddedRedis(join(dir, 'redis'), log)
  await r.start()
  t.teardown(() => r.stop())
  t.equal(r.socketPath, join(dir, 'redis', SOCKET_FILE))
  t.equal(r.clientUrl, r.socketPath)
  t.ok(statSync(r.socketPath!).isSocket(), 'the socket file exists')
  t.equal(statSync(r.socketPath!).mode & 0o777, 0o700, 'only the OCS user may connect through it')

  const viaSocket = connectRedis(redisCfg, r.clientUrl) as Redis
  t.teardown(() => viaSocket.disconnect())
  await viaSocket.set('k', 'v')
  const viaTcp = new Redis(r.url)
  t.teardown(() => viaTcp.disconnect())
  t.equal(await viaTcp.get('k'), 'v', 'the same server on TCP')
  const id = await viaSocket.client('ID')
  const mine = (await clients(viaTcp)).find((l) => l.startsWith(`id=${id} `))
  t.match(mine, new RegExp(`laddr=${r.socketPath}:0 `), 'the OCS client is connected over the socket')
})

t.test('a data dir too long for a socket path: TCP only', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'ocs-emb-'))
  t.teardown(() => rmSync(base, { recursive: true, force: true }))
  const dir = join(base, 'x'.repeat(100), 'redis')
  const r = new EmbeddedRedis(dir, log)
  await r.start()
  t.teardown(() => r.stop())
  t.equal(r.socketPath, undefined)
  t.equal(r.clientUrl, r.url)
  t.match(r.url, /^redis:\/\/127\.0\.0\.1:\d+$/)
  const c = connectRedis(redisCfg, r.clientUrl) as Redis
  t.teardown(() => c.disconnect())
  t.equal(await c.ping(), 'PONG')
  t.same(await c.config('GET', 'unixsocket'), ['unixsocket', ''], 'no socket configured')
})

t.test('the AOF is on (everysec) and not rewritten below 512 MB, or the size asked for', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-emb-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [opts, mb] of [[undefined, 512], [{ aofRewriteMinSizeMb: 64 }, 64]] as const) {
    const r = new EmbeddedRedis(join(dir, `redis-${mb}`), log, opts)
    await r.start()
    const c = new Redis(r.url)
    try {
      t.same(await c.config('GET', 'appendonly'), ['appendonly', 'yes'])
      t.same(await c.config('GET', 'appendfsync'), ['appendfsync', 'everysec'])
      t.same(await c.config('GET', 'auto-aof-rewrite-min-size'), ['auto-aof-rewrite-min-size', String(mb * 1024 * 1024)], `${mb} MB`)
      t.same(await c.config('GET', 'auto-aof-rewrite-percentage'), ['auto-aof-rewrite-percentage', '100'], 'a large dataset is still rewritten once its AOF doubles')
    } finally {
      c.disconnect()
      await r.stop()
    }
  }
})
