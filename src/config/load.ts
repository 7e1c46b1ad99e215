import { readFileSync, existsSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { configSchema, type Config } from './schema.js'
import { OcsError } from '../lib/errors.js'

/** Env vars from the SPEC table → config paths. Numbers are parsed here so the schema sees typed values. */
const ENV_MAP: Array<[string, string[], 'string' | 'int' | 'list' | 'bool']> = [
  ['OCS_DIAMETER_PORT', ['diameter', 'port'], 'int'],
  ['OCS_DIAMETER_HOST', ['diameter', 'host'], 'string'],
  ['OCS_ORIGIN_HOST', ['diameter', 'originHost'], 'string'],
  ['OCS_ORIGIN_REALM', ['diameter', 'originRealm'], 'string'],
  ['OCS_RADIUS_AUTH_PORT', ['radius', 'authPort'], 'int'],
  ['OCS_RADIUS_ACCT_PORT', ['radius', 'acctPort'], 'int'],
  ['OCS_HTTP_PORT', ['http', 'port'], 'int'],
  ['OCS_HTTP_HOST', ['http', 'host'], 'string'],
  ['OCS_METRICS_PORT', ['metrics', 'port'], 'int'],
  ['OCS_REDIS_URL', ['redis', 'url'], 'string'],
  ['OCS_REDIS_CLUSTER', ['redis', 'cluster'], 'list'],
  ['OCS_REDIS_AOF_REWRITE_MIN_MB', ['redis', 'aofRewriteMinSizeMb'], 'int'],
  ['OCS_BILLING_DB', ['billing', 'db'], 'string'],
  ['OCS_API_KEY', ['apiKey'], 'string'],
  ['OCS_DATA_DIR', ['dataDir'], 'string'],
  ['OCS_LOG_LEVEL', ['logLevel'], 'string'],
  ['OCS_NODE_ID', ['nodeId'], 'string'],
  ['OCS_SECRETS_KEY', ['secretsKey'], 'string'],
  ['OCS_REALTIME_PRIORITY', ['scheduling', 'realtimePriority'], 'int'],
  ['OCS_HEAP_GROWING_PERCENT', ['scheduling', 'heapGrowingPercent'], 'int'],
  ['OCS_CDR_WORKER_IDLE', ['scheduling', 'cdrWorkerIdle'], 'bool'],
  ['OCS_IDLE_POLL', ['scheduling', 'idlePoll'], 'string'],
]

type Json = Record<string, unknown>

function setPath(obj: Json, path: string[], value: unknown): void {
  let cur = obj
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {}
    cur = cur[k] as Json
  }
  cur[path[path.length - 1]] = value
}

function getPath(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<PropertyKey, unknown>)[k]
  }
  return cur
}

function envValue(name: string, raw: string, kind: 'string' | 'int' | 'list' | 'bool'): unknown {
  if (kind === 'string') return raw
  if (kind === 'list') return raw.split(',').map((s) => s.trim()).filter(Boolean)
  if (kind === 'bool') {
    // Anything else is passed through so the schema reports it with the key name.
    const v = raw.trim().toLowerCase()
    return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : raw
  }
  // A non-numeric string is passed through so the schema reports it with the key name.
  return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw
}

/** One line: key, offending value, what is allowed. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const key = issue.path.join('.') || '(root)'
  const value = getPath(input, issue.path)
  const shown = value === undefined ? '(missing)' : JSON.stringify(value)
  return `invalid config ${key} = ${shown}: ${issue.message}`
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv
  /** explicit file; else OCS_CONFIG; else config/ocs.yaml when present */
  file?: string
  /** values layered over the file and env (tests) */
  overrides?: Json
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env
  const file = opts.file ?? env.OCS_CONFIG ?? (existsSync('config/ocs.yaml') ? 'config/ocs.yaml' : undefined)
  let raw: Json = {}
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new OcsError('OCS_ERR_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`)
    }
    try {
      raw = (parseYaml(text) as Json | null) ?? {}
    } catch (err) {
      throw new OcsError('OCS_ERR_CONFIG', `config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new OcsError('OCS_ERR_CONFIG', `config file ${file} must hold a mapping`)
  }
  for (const [name, path, kind] of ENV_MAP) {
    const v = env[name]
    if (v !== undefined && v !== '') setPath(raw, path, envValue(name, v, kind))
  }
  if (opts.overrides) deepMerge(raw, opts.overrides)
  const parsed = configSchema.strict().safeParse(raw)
  if (!parsed.success) {
    throw new OcsError('OCS_ERR_CONFIG', describeIssue(parsed.error.issues[0], raw))
  }
  const cfg = parsed.data
  crossCheck(cfg)
  return deepFreeze(cfg)
}

function deepMerge(target: Json, src: Json): void {
  for (const [k, v] of Object.entries(src)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && target[k] && typeof target[k] === 'object' && !Array.isArray(target[k])) {
      deepMerge(target[k] as Json, v as Json)
    } else target[k] = v
  }
}

/** Checks that span keys, after each key is valid on its own. */
function crossCheck(cfg: Config): void {
  if (cfg.redis.url && cfg.redis.cluster) {
    throw new OcsError('OCS_ERR_CONFIG', `invalid config redis.cluster: set either redis.url (OCS_REDIS_URL) or redis.cluster (OCS_REDIS_CLUSTER), not both`)
  }
  const ports: Array<[string, number]> = [
    ['diameter.port', cfg.diameter.port],
    ['radius.authPort', cfg.radius.authPort],
    ['radius.acctPort', cfg.radius.acctPort],
    ['http.port', cfg.http.port],
    ['metrics.port', cfg.metrics.port],
  ]
  const seen = new Map<string, string>()
  for (const [key, p] of ports) {
    if (p === 0) continue
    // TCP and UDP ports live in different spaces, but one number for two jobs is still a mistake worth refusing.
    const prev = seen.get(String(p))
    if (prev) throw new OcsError('OCS_ERR_CONFIG', `invalid config ${key} = ${p}: already used by ${prev}`)
    seen.set(String(p), key)
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}
