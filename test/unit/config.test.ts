import t from 'tap'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'

const dir = mkdtempSync(join(tmpdir(), 'ocs-cfg-'))
const file = (name: string, text: string): string => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

t.test('defaults match the SPEC table and trust loopback only', async (t) => {
  const c = loadConfig({ env: {}, file: file('empty.yaml', '') })
  t.match(c, {
    diameter: { host: '0.0.0.0', port: 3868, originHost: 'ocs.localdomain', originRealm: 'localdomain', peers: [{ originHost: '*', addresses: ['127.0.0.1', '::1'] }], maxInFlight: 4096, maxInFlightPerPeer: 1024 },
    radius: { authPort: 1812, acctPort: 1813, maxInFlight: 2000, maxQueueWaitMs: 1, maxReportsPerSession: 8, socketBufferBytes: 4_194_304, clients: [{ address: '127.0.0.0/8', secret: 'testing123', vendor: 'generic', coaPort: 3799 }] },
    http: { host: '127.0.0.1', port: 8080 },
    metrics: { host: '127.0.0.1', port: 9464 },
  })
  t.equal(c.redis.url, undefined, 'no Redis URL: embedded Redis')
  t.ok(Object.isFrozen(c.diameter), 'config is frozen')
})

t.test('env vars from the SPEC table override the file', async (t) => {
  const f = file('ocs.yaml', 'http:\n  port: 9000\nradius:\n  clients:\n    - address: 10.0.0.0/8\n      secret: s3cret\n      vendor: mikrotik\n')
  const c = loadConfig({
    env: { OCS_HTTP_PORT: '0', OCS_DIAMETER_PORT: '3900', OCS_ORIGIN_HOST: 'ocs.example.net', OCS_ORIGIN_REALM: 'example.net', OCS_RADIUS_AUTH_PORT: '0', OCS_RADIUS_ACCT_PORT: '0', OCS_METRICS_PORT: '0', OCS_REDIS_URL: 'redis://10.1.1.1:6379', OCS_BILLING_DB: 'postgres://u@h/db', OCS_API_KEY: 'k'.repeat(20) },
    file: f,
  })
  t.match(c, { http: { port: 0 }, diameter: { port: 3900, originHost: 'ocs.example.net', originRealm: 'example.net' }, redis: { url: 'redis://10.1.1.1:6379' }, billing: { db: 'postgres://u@h/db' } })
  t.match(c.radius.clients, [{ address: '10.0.0.0/8', secret: 's3cret', vendor: 'mikrotik', coaPort: 3799 }])
  const cl = loadConfig({ env: { OCS_REDIS_CLUSTER: '127.0.0.1:7000, 127.0.0.1:7001' }, file: f })
  t.same(cl.redis.cluster, ['127.0.0.1:7000', '127.0.0.1:7001'])
  t.equal(loadConfig({ env: { OCS_REDIS_URL: '/run/redis/redis.sock' }, file: f }).redis.url, '/run/redis/redis.sock', 'a Unix socket path')
  const viaEnvFile = loadConfig({ env: { OCS_CONFIG: f } })
  t.equal(viaEnvFile.http.port, 9000, 'OCS_CONFIG names the file')
  t.equal(loadConfig({ env: {}, file: f }).scheduling.cdrWorkerIdle, true, 'the CDR worker is SCHED_IDLE by default')
  t.equal(loadConfig({ env: {}, file: f }).scheduling.idlePoll, 'off', 'no idle polling by default')
  t.equal(loadConfig({ env: { OCS_IDLE_POLL: 'auto' }, file: f }).scheduling.idlePoll, 'auto', 'OCS_IDLE_POLL')
  t.equal(loadConfig({ env: {}, file: f }).redis.aofRewriteMinSizeMb, 512, 'the embedded AOF is not rewritten below 512 MB by default')
  t.equal(loadConfig({ env: { OCS_REDIS_AOF_REWRITE_MIN_MB: '64' }, file: f }).redis.aofRewriteMinSizeMb, 64, 'OCS_REDIS_AOF_REWRITE_MIN_MB')
  for (const [raw, want] of [['false', false], ['0', false], ['true', true], ['1', true], [' FALSE ', false]] as const) {
    t.equal(loadConfig({ env: { OCS_CDR_WORKER_IDLE: raw }, file: f }).scheduling.cdrWorkerIdle, want, `OCS_CDR_WORKER_IDLE=${raw}`)
  }
})

t.test('a bad value is one line naming the key, the value and what is allowed', async (t) => {
  const cases: Array<[Record<string, string>, string | undefined, RegExp]> = [
    [{ OCS_HTTP_PORT: 'abc' }, undefined, /^invalid config http\.port = "abc": .*port number 0\.\.65535/],
    [{ OCS_DIAMETER_PORT: '70000' }, undefined, /^invalid config diameter\.port = 70000: .*0\.\.65535/],
    [{ OCS_REDIS_URL: 'localhost:6379' }, undefined, /^invalid config redis\.url = "localhost:6379": a redis:\/\/ or rediss:\/\/ URL/],
    [{ OCS_BILLING_DB: 'mysql://x' }, undefined, /^invalid config billing\.db = "mysql:\/\/x": sqlite:PATH or postgres/],
    [{}, 'radius:\n  clients:\n    - address: 10.0.0.300\n      secret: x\n', /^invalid config radius\.clients\.0\.address = "10\.0\.0\.300": an IPv4\/IPv6 address or CIDR block/],
    [{}, 'radius:\n  clients:\n    - address: 10.0.0.1\n      secret: x\n      vendor: cisco\n', /^invalid config radius\.clients\.0\.vendor = "cisco": .*generic.*mikrotik/],
    [{}, 'radius:\n  clients:\n    - address: 10.0.0.1\n', /^invalid config radius\.clients\.0\.secret = \(missing\)/],
    [{}, 'diameter:\n  peers:\n    - originHost: pgw\n      addresses: []\n', /^invalid config diameter\.peers\.0\.addresses/],
    [{}, 'diameter:\n  maxInFlight: 0\n', /^invalid config diameter\.maxInFlight = 0/],
    [{}, 'radius:\n  socketBufferBytes: 1000\n', /^invalid config radius\.socketBufferBytes = 1000/],
    [{}, 'logLevel: loud\n', /^invalid config logLevel = "loud"/],
    [{}, 'bogus: 1\n', /Unrecognized key.*bogus/],
    [{ OCS_HTTP_PORT: '9464' }, undefined, /^invalid config metrics\.port = 9464: already used by http\.port/],
    [{ OCS_REDIS_URL: 'redis://a:1', OCS_REDIS_CLUSTER: 'a:1' }, undefined, /either redis\.url .* or redis\.cluster/],
    [{}, 'http: [1, 2\n', /is not valid YAML/],
    [{ OCS_CDR_WORKER_IDLE: 'maybe' }, undefined, /^invalid config scheduling\.cdrWorkerIdle = "maybe": .*boolean/],
    [{ OCS_IDLE_POLL: 'always' }, undefined, /^invalid config scheduling\.idlePoll = "always": .*auto.*on.*off/],
    [{ OCS_REDIS_AOF_REWRITE_MIN_MB: '0' }, undefined, /^invalid config redis\.aofRewriteMinSizeMb = 0/],
  ]
  for (const [env, yaml, re] of cases) {
    const f = file('bad.yaml', yaml ?? '')
    t.throws(() => loadConfig({ env, file: f }), { code: 'OCS_ERR_CONFIG', message: re }, `${JSON.stringify(env)} ${yaml ?? ''}`.trim())
    try {
      loadConfig({ env, file: f })
    } catch (err) {
      t.notOk((err as Error).message.includes('\n'), 'one line')
    }
  }
})
