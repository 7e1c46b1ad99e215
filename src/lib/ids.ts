import { randomBytes } from 'node:crypto'

/** Short, URL-safe, sortable-enough ids: time prefix + randomness. */
export function newId(prefix = ''): string {
  const t = Date.now().toString(36)
  const r = randomBytes(8).toString('base64url').replace(/[-_]/g, 'x')
  return `${prefix}${t}${r}`
}
