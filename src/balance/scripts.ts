import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Redis, Cluster } from 'ioredis'

// Lua scripts are files under ./lua, one per atomic operation. A `--!include lib.lua` line is
// replaced by the shared helpers, so every script is self-contained when it reaches Redis.

const here = dirname(fileURLToPath(import.meta.url))
const luaDir = existsSync(join(here, 'lua')) ? join(here, 'lua') : join(here, '..', '..', 'src', 'balance', 'lua')

export function loadLua(name: string): string {
  const text = readFileSync(join(luaDir, `${name}.lua`), 'utf8')
  return text.replace(/^--!include (\S+)\s*$/m, (_, file: string) => readFileSync(join(luaDir, file), 'utf8'))
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

/** Defines every script on the client (EVALSHA with automatic EVAL fallback, as ioredis does). */
export function defineScripts(client: Redis | Cluster): Redis & ScriptCommands {
  for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
    client.defineCommand(camel(name), { numberOfKeys, lua: loadLua(name) })
  }
  return client as unknown as Redis & ScriptCommands
}
