import { z } from 'zod'
import ipaddr from 'ipaddr.js'

// The one config schema. Every key has a default and a one-line description;
// src/config/load.ts fills it from config/ocs.yaml (or OCS_CONFIG) and the OCS_* env vars.

const PORT_RANGE = { error: 'a port number 0..65535 (0 = pick a free port)' }
const port = z.number(PORT_RANGE).int(PORT_RANGE).min(0, PORT_RANGE).max(65535, PORT_RANGE)
const host = z.string().min(1)

/**
 * The AOF size below which the embedded Redis never rewrites it. Redis's own default (64 MB) suits
 * a cache, not an OCS: every charging step appends ~1.1 KB (the script's effects), so at 10,000
 * CCR/s a 64 MB AOF filled every ~6 s and the rewrites followed each other. Each one forks, runs a
 * child that competes for the cores, and blocks Redis's main thread on two fsyncs of the AOF
 * manifest (~15 ms seen in a scheduler trace), and the answers in flight wait. Measured at 10,500
 * CCR/s, two OCS processes interleaved: p99 3.8 ms with 512 MB against 5.7 ms with 64 MB (BENCHMARKS.md).
 * The cost: up to this much more AOF on disk, replayed at a restart (~2.5 s for 512 MB here).
 * Redis's percentage rule still rewrites a large dataset's AOF once it doubles.
 */
export const DEFAULT_AOF_REWRITE_MIN_MB = 512

/** An IP address or CIDR block, as NAS clients and Diameter peers are allow-listed. */
const addressOrCidr = z.string().refine((v) => {
  try {
    if (v.includes('/')) ipaddr.parseCIDR(v)
    else ipaddr.parse(v)
    return true
  } catch {
    return false
  }
}, 'an IPv4/IPv6 address or CIDR block')

export const NAS_VENDORS = ['generic', 'mikrotik', 'chillispot', 'pppd'] as const

const diameterPeer = z.object({
  originHost: z.string().min(1).default('*').describe('Origin-Host the peer must present in its CER; "*" = any from the listed addresses'),
  addresses: z.array(addressOrCidr).min(1).describe('source addresses/CIDRs the peer may connect from'),
})

const radiusClient = z.object({
  address: addressOrCidr.describe('NAS source address or CIDR block'),
  secret: z.string().min(1).describe('RADIUS shared secret'),
  vendor: z.enum(NAS_VENDORS).default('generic').describe('NAS profile: how quota is expressed and whether CoA/DM reach it'),
  coaPort: port.default(3799).describe('UDP port of the NAS CoA/Disconnect listener (RFC 5176)'),
})

export const configSchema = z.object({
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('pino log level'),
  dataDir: z.string().min(1).default('./data').describe('where the embedded Redis and the SQLite billing store keep their files'),
  nodeId: z.string().min(1).default('ocs-1').describe('this OCS node\'s name, written on every CDR it closes'),
  apiKey: z.string().min(16).optional().describe('admin API key; when unset one is generated on first start and printed once'),
  secretsKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, '32 bytes, base64-encoded').optional().describe('key sealing subscriber passwords (set the same on every node); unset = a key file in dataDir'),
  plansDir: z.string().min(1).default('./config/plans').describe('directory of plan files (YAML/JSON) stored at start when their version is new'),
  demoData: z.boolean().default(true).describe('load the demo plan and two demo subscribers into an empty store'),
  diameter: z
    .object({
      host: host.default('0.0.0.0').describe('Diameter listen address'),
      port: port.default(3868).describe('Diameter TCP port (0 = pick a free one)'),
      originHost: z.string().min(1).default('ocs.localdomain').describe('our Origin-Host'),
      originRealm: z.string().min(1).default('localdomain').describe('our Origin-Realm'),
      watchdogSeconds: z.number().int().min(6).max(300).default(30).describe('Tw: DWR after this much silence (RFC 3539 ≥ 6 s)'),
      peers: z
        .array(diameterPeer)
        .default([{ originHost: '*', addresses: ['127.0.0.1', '::1'] }])
        .describe('allow-listed Diameter peers; a CER from anything else gets 3010'),
      maxInFlight: z.number().int().min(1).max(1_000_000).default(4096).describe('CCRs being charged on this node at once; beyond it 3004 DIAMETER_TOO_BUSY at once'),
      maxInFlightPerPeer: z.number().int().min(1).max(1_000_000).default(1024).describe('the same per peer connection, so one flooding peer cannot starve the others'),
    })
    .prefault({}),
  radius: z
    .object({
      host: host.default('0.0.0.0').describe('RADIUS listen address'),
      authPort: port.default(1812).describe('RADIUS authentication UDP port'),
      acctPort: port.default(1813).describe('RADIUS accounting UDP port'),
      interimIntervalSeconds: z.number().int().min(60).max(86400).default(300).describe('Acct-Interim-Interval sent in Access-Accept'),
      fairUsage: z
        .object({
          thresholdOctets: z.number().int().min(1).describe('session volume (in + out) past which the session is throttled by CoA-Request'),
          restrict: z
            .partialRecord(z.enum(NAS_VENDORS), z.array(z.tuple([z.string().min(1), z.union([z.string(), z.number()])])))
            .optional()
            .describe('CoA attributes per NAS profile; default: the profile\'s (e.g. Mikrotik-Rate-Limit "1M/1M")'),
        })
        .optional()
        .describe('fair usage: throttle a session past a volume with a CoA-Request (NAS profiles with a CoA listener)'),
      clients: z
        .array(radiusClient)
        .default([{ address: '127.0.0.0/8', secret: 'testing123', vendor: 'generic', coaPort: 3799 }])
        .describe('NAS clients; packets from elsewhere are dropped and counted'),
      maxInFlight: z.number().int().min(1).max(1_000_000).default(2000).describe('RADIUS requests being processed at once; beyond it datagrams are dropped and counted (the NAS retransmits)'),
      maxQueueWaitMs: z
        .number()
        .min(0)
        .max(10_000)
        .default(1)
        .describe('while the in-flight bound is being hit, datagrams measured to have waited longer than this in the socket queue are dropped and counted (\'stale\'), so what is answered stays fast; 0 = off'),
      maxReportsPerSession: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(8)
        .describe('accounting reports of one session queued or in progress at once (a NAS has one or two outstanding); beyond it they are dropped and counted (\'busy\')'),
      socketBufferBytes: z.number().int().min(65536).max(268_435_456).default(4_194_304).describe('UDP receive buffer asked for each RADIUS socket (the kernel caps it at net.core.rmem_max)'),
    })
    .prefault({}),
  http: z
    .object({
      host: host.default('127.0.0.1').describe('REST API listen address'),
      port: port.default(8080).describe('REST API TCP port'),
    })
    .prefault({}),
  metrics: z
    .object({
      host: host.default('127.0.0.1').describe('metrics/health listen address'),
      port: port.default(9464).describe('Prometheus /metrics, /healthz, /readyz port'),
    })
    .prefault({}),
  redis: z
    .object({
      url: z.string().regex(/^(rediss?:\/\/|\/)/, 'a redis:// or rediss:// URL, or the absolute path of a Unix socket').optional().describe('single Redis node (URL or Unix socket path); unset = embedded redis-server child'),
      cluster: z.array(z.string().regex(/^[^:]+:\d+$/, 'host:port')).optional().describe('Redis Cluster seed nodes (host:port)'),
      commandTimeoutMs: z.number().int().min(10).max(60000).default(1000).describe('a Redis call slower than this fails (answered 3004/dropped)'),
      autoPipelining: z.boolean().default(false).describe('ioredis auto-pipelining (one write per event-loop tick); slower on loopback, may help across a network'),
      aofRewriteMinSizeMb: z
        .number()
        .int()
        .min(1)
        .max(1048576)
        .default(DEFAULT_AOF_REWRITE_MIN_MB)
        .describe('embedded redis-server only: its AOF is not rewritten below this size in MB (auto-aof-rewrite-min-size; each rewrite stalls charging for a moment, and ~1.1 KB is appended per charging step)'),
    })
    .prefault({}),
  billing: z
    .object({
      db: z.string().regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'sqlite:PATH or postgres://…').optional().describe('billing store; unset = sqlite:<dataDir>/billing.sqlite'),
      worker: z
        .enum(['process', 'inline', 'off'])
        .default('process')
        .describe('CDR worker: a child process of the OCS (process), in the OCS event loop (inline), or none (run `npm run cdr-worker`)'),
    })
    .prefault({}),
  scheduling: z
    .object({
      realtimePriority: z
        .number()
        .int()
        .min(1)
        .max(99)
        .optional()
        .describe('run this OCS and its embedded Redis under SCHED_RR at this priority (root or CAP_SYS_NICE): the answers\' tail latency on a box shared with other busy processes; unset = normal scheduling'),
      heapGrowingPercent: z
        .number()
        .int()
        .min(0)
        .max(1000)
        .default(400)
        .describe('V8 heap growing factor as 1 + this/100 (fewer full garbage collections, each a pause of every answer in flight, for more heap); 0 = V8\'s own choice'),
      idlePoll: z
        .enum(['auto', 'on', 'off'])
        .default('off')
        .describe('keep the CPUs from halting while the OCS is busy: one SCHED_IDLE poller per CPU that yields to any other task (src/lib/idle-poll.ts); auto = only on a virtual machine whose kernel has no cpuidle driver, where waking a halted vCPU costs tens to hundreds of µs a hop; on = on any machine; off = never (the default: the pollers spend the idle part of the cores, which CPU graphs then show busy, for a lower median latency, not a lower p99)'),
      cdrWorkerIdle: z
        .boolean()
        .default(true)
        .describe('run the CDR worker child under SCHED_IDLE: it gets a core only when charging and Redis leave one free (its CDRs wait in the outbox meanwhile); false = nice 10'),
    })
    .prefault({}),
  charging: z
    .object({
      defaultQuota: z
        .object({
          seconds: z.number().int().min(1).default(60).describe('default time grant'),
          octets: z.number().int().min(1).default(5 * 1024 * 1024).describe('default volume grant'),
          events: z.number().int().min(1).default(1).describe('default event grant'),
        })
        .prefault({}),
      validitySeconds: z.number().int().min(1).max(86400).default(900).describe('Validity-Time of a grant'),
      reaperGraceSeconds: z.number().int().min(0).max(86400).default(120).describe('an unreported reservation is released after validity + this'),
      reaperIntervalMs: z.number().int().min(50).max(600000).default(5000).describe('how often each node looks for expired reservations'),
      cycleIntervalMs: z.number().int().min(50).max(600000).default(5000).describe('how often each node starts billing cycles that are due (recurring fees, allowances)'),
      cycleRetrySeconds: z.number().int().min(1).max(86400).default(3600).describe('retry a cycle start whose fees the balance could not pay after this long (a top-up retries at once)'),
      quotaThresholdPercent: z.number().int().min(0).max(99).default(20).describe('Time/Volume-Quota-Threshold as a percentage of the grant'),
      idempotencySeconds: z.number().int().min(300).max(86400).default(600).describe('how long a request id\'s answer is kept for retransmissions (≥ 5 min)'),
    })
    .prefault({}),
})

export type Config = z.infer<typeof configSchema>
export type RadiusClientConfig = z.infer<typeof radiusClient>
export type DiameterPeerConfig = z.infer<typeof diameterPeer>
