import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { setPriority } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Component } from '../lib/lifecycle.js'
import type { Logger } from '../lib/logger.js'
import type { Metrics } from '../metrics/metrics.js'
import { OcsError } from '../lib/errors.js'
import { setIdle, setOrdinary } from '../lib/realtime.js'
import type { WorkerChildConfig } from './worker-child.js'

/** The CDR worker as a child process of the OCS, so SQLite commits never block charging. */
export class CdrWorkerProcess implements Component {
  readonly name = 'cdr-worker-process'
  private child?: ChildProcess

  /** idle: SCHED_IDLE (scheduling.cdrWorkerIdle); else nice 10. */
  constructor(
    private readonly cfg: WorkerChildConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly idle = false,
  ) {}

  async start(): Promise<void> {
    const js = fileURLToPath(new URL('./worker-child.js', import.meta.url))
    // Compiled: dist/cdr/worker-child.js; from sources (tests run .ts through a loader in execArgv): the .ts file.
    const entry = existsSync(js) ? js : js.replace(/\.js$/, '.ts')
    const child = fork(entry, [], { env: { ...process.env, OCS_CDR_WORKER: JSON.stringify(this.cfg) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child = child
    // Background work: on a busy node the CDR batches wait for a core, charging does not (the
    // outbox absorbs the delay). Nice 10 at once; SCHED_IDLE (when chosen) once the child is ready,
    // when its threads exist (any it starts later inherits it from its main thread).
    try {
      if (child.pid !== undefined) setPriority(child.pid, 10)
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'CDR worker priority not lowered')
    }
    child.on('message', (m: { written?: number; failed?: number }) => {
      if (m.written) this.metrics.cdrsWritten.inc(m.written)
      if (m.failed) this.metrics.cdrsFailed.inc(m.failed)
    })
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new OcsError('OCS_ERR_SETUP', 'CDR worker process did not start within 20 s')), 20_000)
      child.on('message', (m: { ready?: boolean }) => {
        if (m.ready) {
          clearTimeout(timer)
          if (this.idle && child.pid !== undefined) {
            // Measured at half of the Diameter maximum: the OCS's event loop waited ~45 instead of
            // ~62 ms a second for a core, and the p99 fell by about a quarter (BENCHMARKS.md).
            const why = setIdle(child.pid)
            if (why !== undefined) this.log.warn({ err: why }, 'CDR worker not set to SCHED_IDLE; it runs at nice 10')
          }
          res()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        rej(new OcsError('OCS_ERR_SETUP', `CDR worker process exited (${code}) on start`))
      })
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.log.error({ code, signal }, 'CDR worker process exited; CDRs wait in the outbox until it runs again')
    })
    this.log.info({ pid: child.pid }, 'CDR worker process started')
  }

  async stop(): Promise<void> {
    const child = this.child
    this.child = undefined
    if (!child || child.exitCode !== null) return
    const done = new Promise<void>((r) => child.once('exit', () => r()))
    if (this.idle && child.pid !== undefined) {
      // Charging has stopped by now (components stop in reverse order), so nothing needs the cores
      // more than the worker's last batch and XACKs. Left SCHED_IDLE on cores other processes keep
      // busy, it might not run at all before the SIGKILL below, and the OCS's stop would overrun.
      const why = setOrdinary(child.pid)
      if (why !== undefined) this.log.info({ err: why }, 'CDR worker kept SCHED_IDLE for its stop (leaving it needs root or CAP_SYS_NICE)')
    }
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 4500)
    await done
    clearTimeout(timer)
  }
}
