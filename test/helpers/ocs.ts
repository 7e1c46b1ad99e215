import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/lib/logger.js'
import { startOcs, type Ocs } from '../../src/main.js'
import { Writable } from 'node:stream'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const TEST_API_KEY = 'test-key-0123456789abcdef'

/** An in-process OCS on free ports against the given Redis; `logs` collects every log line. */
export async function startTestOcs(redisUrl: string, overrides: Record<string, unknown> = {}): Promise<{ ocs: Ocs; base: string; logs: string[]; printed: string[] }> {
  const logs: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString())
      cb()
    },
  })
  const dataDir = mkdtempSync(join(tmpdir(), 'ocs-test-data-'))
  const config = loadConfig({
    env: {},
    file: '/dev/null',
    overrides: {
      apiKey: TEST_API_KEY,
      dataDir,
      demoData: false,
      logLevel: 'debug',
      http: { port: 0 },
      metrics: { port: 0 },
      diameter: { port: 0 },
      radius: { authPort: 0, acctPort: 0 },
      redis: redisUrl ? { url: redisUrl } : {},
      ...overrides,
    },
  })
  const printed: string[] = []
  const ocs = await startOcs(config, createLogger('debug', sink), (l) => printed.push(l))
  // The data dir (billing SQLite, secrets key) goes with the OCS.
  const stop = ocs.stop
  ocs.stop = async () => {
    await stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  return { ocs, base: `http://127.0.0.1:${ocs.api.port}`, logs, printed }
}

export function api(base: string, key = TEST_API_KEY) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }
}
