import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from '../../src/balance/embedded-redis.js'

const run = promisify(execFile)

// A private PostgreSQL server from Debian's `postgresql` package for one test file: initdb into a
// temporary directory, pg_ctl start on a free loopback port, trust auth, removed on stop().
// initdb refuses to run as root, so as root every server command runs as the `postgres` user
// (runuser) and the directory is handed to that user.

export interface TestPostgres {
  port: number
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string
  dir: string
  /** stops the server, keeping the data (pg_ctl stop; `immediate` = crash-like, recovery on start) */
  pause(mode?: 'fast' | 'immediate'): Promise<void>
  /** starts it again on the same port with the same data */
  resume(): Promise<void>
  /** stops the server and removes the data directory */
  stop(): Promise<void>
}

/** Debian's server binaries (newest major installed), or null when the package is missing. */
export function findPgBin(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return majors.length ? join(root, majors[0], 'bin') : null
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0

async function asPostgres(bin: string, args: string[]): Promise<void> {
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  try {
    await run(cmd, argv, { timeout: 60_000 })
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string }
    throw new Error(`${bin.split('/').pop()} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
    c.on('error', () => undefined)
    try {
      await c.connect()
      await c.query('SELECT 1')
      await c.end()
      return
    } catch (err) {
      await c.end().catch(() => undefined)
      if (Date.now() > deadline) throw new Error(`postgres at ${url} did not become ready: ${(err as Error).message}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function startPostgres(opts: { fsync?: boolean } = {}): Promise<TestPostgres> {
  const bin = findPgBin()
  if (!bin) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: apt-get install -y postgresql (scripts/setup.sh installs it for tests)')
  }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ocs-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  if (isRoot()) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  await asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'])
  // Unix socket in our own dir (the system one may not exist); TCP on loopback for the tests.
  const conf = [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
    `fsync = ${opts.fsync === false ? 'off' : 'on'}`,
    'max_connections = 50',
    'shared_buffers = 128MB',
    "log_min_messages = 'warning'",
  ].join('\n')
  writeFileSync(join(data, 'postgresql.auto.conf'), `${conf}\n`)
  if (isRoot()) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(join(data, 'postgresql.auto.conf'), Number(stdout.trim()), Number(gid.trim()))
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const ctl = join(bin, 'pg_ctl')
  let running = false
  const startServer = async (): Promise<void> => {
    await asPostgres(ctl, ['-D', data, '-l', log, '-w', '-t', '60', 'start'])
    running = true
    await waitReady(url)
  }
  const stopServer = async (mode: 'fast' | 'immediate'): Promise<void> => {
    if (!running) return
    await asPostgres(ctl, ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'])
    running = false
  }
  // pg_ctl daemonises the server: if this test process dies without its teardown, stop it anyway.
  const onExit = (): void => {
    if (!running) return
    try {
      const args = ['-D', data, '-m', 'immediate', '-w', 'stop']
      if (isRoot()) execFileSync('runuser', ['-u', 'postgres', '--', ctl, ...args], { stdio: 'ignore' })
      else execFileSync(ctl, args, { stdio: 'ignore' })
    } catch {
      // best effort
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', onExit)
  try {
    await startServer()
  } catch (err) {
    process.removeListener('exit', onExit)
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    port,
    url,
    dir,
    pause: (mode = 'fast') => stopServer(mode),
    resume: startServer,
    async stop() {
      process.removeListener('exit', onExit)
      try {
        await stopServer('immediate')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
