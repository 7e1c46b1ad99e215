import { spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { freePort } from '../../src/balance/embedded-redis.js'

// A tshark capture on loopback whose start and end are known, not guessed. tshark says "Capturing on"
// a moment before packets are really seen, and on SIGINT it may not have written what the kernel
// still holds: a sleep either side was a race on a loaded box. Here UDP probes to a port nobody
// listens on mark both ends: the capture is live once tshark prints a probe (-P prints each packet
// it writes), and complete once it prints the probe sent after the traffic, since packets on
// loopback reach it in order. The probes are in the file too (plain UDP: no dissector, no warning).

export interface Capture {
  /** Waits for the end marker, stops tshark and resolves once the file is closed. */
  stop(): Promise<void>
}

const PROBE_EVERY_MS = 100
const WAIT_MS = 15_000

/** Starts `tshark` writing `file` with the capture filter `filter` (its probes are added to it). */
export async function startCapture(tshark: string, filter: string, file: string): Promise<Capture> {
  const probePort = await freePort()
  const cap: ChildProcess = spawn(tshark, ['-i', 'lo', '-n', '-l', '-P', '-f', `(${filter}) or udp port ${probePort}`, '-w', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  cap.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  cap.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((resolve) => cap.once('exit', () => resolve()))
  // -P summary lines: "… UDP 55 41234 → <probePort> Len=13" (-n keeps ports numeric)
  const probeLine = new RegExp(`(→|->) ${probePort}\\b`, 'g')
  const probes = (): number => (out.match(probeLine) ?? []).length

  /** Sends probes until tshark has printed more than `seen` of them. */
  const mark = async (seen: number, what: string): Promise<void> => {
    const probe = createSocket('udp4')
    try {
      const deadline = Date.now() + WAIT_MS
      while (probes() <= seen) {
        if (cap.exitCode !== null || cap.signalCode !== null) throw new Error(`tshark exited before ${what}:\n${out.slice(-2000)}`)
        if (Date.now() > deadline) throw new Error(`tshark: no ${what} within ${WAIT_MS} ms:\n${out.slice(-2000)}`)
        probe.send('capture probe', probePort, '127.0.0.1')
        await new Promise((r) => setTimeout(r, PROBE_EVERY_MS))
      }
    } finally {
      probe.close()
    }
  }

  try {
    await mark(0, 'start probe')
  } catch (err) {
    cap.kill('SIGKILL')
    throw err
  }
  return {
    async stop() {
      if (cap.exitCode === null && cap.signalCode === null) {
        await mark(probes(), 'end probe')
        cap.kill('SIGINT')
        const killer = setTimeout(() => cap.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(killer)
      }
    },
  }
}
