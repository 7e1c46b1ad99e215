import { createHash } from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Redis, Cluster } from 'ioredis'

// Lua scripts are files under ./lua, one per atomic operation. A `--!include lib.lua` line is
// replaced by the shared helpers, so every script is self-contained when it reaches Redis.

const here = dirname(fileURLToPath(import.meta.url))
const luaDir = existsSync(join(here, 'lua')) ? join(here, 'lua') : join(here, '..', '..', 'src', 'balance', 'lua')

const INCLUDE = /^--!include (\S+)\s*$/m

/**
 * The shared helpers as a script sent by EVAL must start: lib.lua, then the call that binds its
 * upvalues for Redis's libraries (a function library binds them per call, in resetCallState).
 */
export function luaLib(file = 'lib.lua'): string {
  return `${readFileSync(join(luaDir, file), 'utf8')}\nbindGlobals()\n`
}

export function loadLua(name: string): string {
  const text = readFileSync(join(luaDir, `${name}.lua`), 'utf8')
  return text.replace(INCLUDE, (_, file: string) => luaLib(file))
}

/** name → number of KEYS; the file is src/balance/lua/<name>.lua */
export const SCRIPTS = {
  'session-charge': 11,
  'event-charge': 5,
  reap: 9,
  topup: 5,
  'bucket-add': 3,
  'cycle-renew': 6,
} as const

export type ScriptName = keyof typeof SCRIPTS

export interface ScriptCommands {
  sessionCharge(...args: string[]): Promise<string>
  eventCharge(...args: string[]): Promise<string>
  reap(...args: string[]): Promise<number>
  topup(...args: string[]): Promise<string>
  bucketAdd(...args: string[]): Promise<number>
  cycleRenew(...args: string[]): Promise<string>
}

const camel = (n: string): string => n.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())

/**
 * The scripts run on every charging request, also loaded as one Redis 7 function library: a script
 * sent by EVALSHA runs lib.lua's top level — three dozen closures — on every call, a function library
 * once at load (1.2–2.8 µs less per call in Redis, of ~35–42: BENCHMARKS.md).
 */
export const FUNCTION_SCRIPTS = ['session-charge', 'event-charge'] as const satisfies readonly ScriptName[]

export interface FunctionLibrary {
  /** ocs_<first 16 hex digits of the code's SHA-1>: two OCS versions on one Redis never run each other's code */
  readonly name: string
  readonly code: string
  /** the registered function of each script */
  readonly functions: Readonly<Record<(typeof FUNCTION_SCRIPTS)[number], string>>
}

let library: FunctionLibrary | undefined

/** lib.lua and each script's body as a function (KEYS and ARGV its arguments), registered under a content-derived name. */
export function functionLibrary(): FunctionLibrary {
  if (library !== undefined) return library
  const lib = readFileSync(join(luaDir, 'lib.lua'), 'utf8')
  const bodies = FUNCTION_SCRIPTS.map((name) => {
    const body = readFileSync(join(luaDir, `${name}.lua`), 'utf8').replace(INCLUDE, '')
    const fn = name.replace(/-/g, '_')
    // lib.lua's per-call state is fresh in a script; a function shares it between calls: reset it.
    return { name, fn, text: `local function ${fn}(KEYS, ARGV)\nresetCallState()\n${body}\nend\n` }
  })
  const source = `${lib}\n${bodies.map((b) => b.text).join('')}`
  const name = `ocs_${createHash('sha1').update(source).digest('hex').slice(0, 16)}`
  const code = `#!lua name=${name}\n${source}${bodies.map((b) => `redis.register_function('${name}_${b.fn}', ${b.fn})\n`).join('')}`
  const functions = Object.fromEntries(bodies.map((b) => [b.name, `${name}_${b.fn}`])) as Record<(typeof FUNCTION_SCRIPTS)[number], string>
  library = { name, code, functions }
  return library
}

/** Per client: whether its Redis runs functions (Redis 7; an ACL may forbid them), and a library load in progress. */
const functionState = new WeakMap<Redis | Cluster, { use: boolean; loading?: Promise<void> }>()

/** Loads the library on every master (already there: fine). */
export async function loadFunctionLibrary(client: Redis | Cluster, lib = functionLibrary()): Promise<void> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis]
  await Promise.all(
    nodes.map((n) =>
      n.call('FUNCTION', 'LOAD', lib.code).catch((err: Error) => {
        if (!/already exists/i.test(err.message)) throw err
      }),
    ),
  )
}

/**
 * Redis cannot run functions for this client: the command itself unknown (before Redis 7) or
 * refused by an ACL. Either is answered before anything runs; an error from inside a function
 * (which may have written) never matches, so nothing is ever run twice.
 */
const refused = (command: 'fcall' | 'function', err: Error): boolean =>
  new RegExp(`^ERR unknown command [\`']${command}[\`']|^NOPERM .*'${command}[|']`, 'i').test(err.message)
/** The answer of an FCALL whose function Redis does not have: nothing ran. */
const NOT_FOUND = /^ERR Function not found$/

/**
 * Defines every script on the client (EVALSHA with automatic EVAL fallback, as ioredis does); the
 * FUNCTION_SCRIPTS go by FCALL, the library loaded on first use and again whenever Redis no longer
 * has it (restarted without persistence, a new cluster master) — FCALL of a missing function runs
 * nothing, so the call is simply repeated — and by EVALSHA where Redis has no functions.
 */
export function defineScripts(client: Redis | Cluster): Redis & ScriptCommands {
  for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
    client.defineCommand(camel(name), { numberOfKeys, lua: loadLua(name) })
  }
  const lib = functionLibrary()
  let state = functionState.get(client)
  if (state === undefined) functionState.set(client, (state = { use: true }))
  const st = state
  const target = client as unknown as Record<string, (...args: string[]) => Promise<string>>
  const load = (): Promise<void> =>
    (st.loading ??= loadFunctionLibrary(client, lib).finally(() => {
      st.loading = undefined
    }))
  for (const name of FUNCTION_SCRIPTS) {
    const evalsha = target[camel(name)].bind(client)
    const fn = lib.functions[name]
    const numberOfKeys = String(SCRIPTS[name])
    const fcall = (args: string[]): Promise<string> => client.call('FCALL', fn, numberOfKeys, ...args) as Promise<string>
    // Off the common path: the first call, a lost library, a Redis without functions.
    const recover = async (err: Error, args: string[]): Promise<string> => {
      if (refused('fcall', err)) {
        st.use = false
        return evalsha(...args)
      }
      if (!NOT_FOUND.test(err.message)) throw err
      try {
        await load()
      } catch (loadErr) {
        if (!refused('function', loadErr as Error)) throw loadErr
        st.use = false
        return evalsha(...args)
      }
      return fcall(args)
    }
    target[camel(name)] = (...args: string[]): Promise<string> => (st.use ? fcall(args).catch((err: Error) => recover(err, args)) : evalsha(...args))
  }
  return client as unknown as Redis & ScriptCommands
}
