// Splits a Diameter TCP byte stream into whole messages (RFC 6733 §3: the 24-bit Message Length
// field delimits each message). Feed it every 'data' chunk; it returns the complete messages found.
//
// - Several messages per chunk, and messages split anywhere across chunks (even byte by byte).
// - Bounded memory: at most one partial message (≤ maxMessageSize) plus 3 header bytes is buffered.
// - A length field that lies (< 20, > maxMessageSize) or a version byte other than 1 throws a
//   DiameterFrameError: the stream cannot be re-synchronised, the caller closes the connection.
//   After an error every further push() throws the same error.
//
// Messages that fit inside one chunk are returned as zero-copy views (subarray) of that chunk;
// messages spanning chunks are assembled into one exactly-sized Buffer.
// Pure module: no sockets, timers or logging.
import { DiameterErrorCodes as E, DiameterFrameError } from './errors.js'

export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
const MIN_MESSAGE_SIZE = 20
const MAX_LENGTH_FIELD = 0xffffff

export interface FramerOptions {
  /** Largest message accepted, in bytes (default 1 MiB; 20 … 16 MiB - 1). */
  maxMessageSize?: number
}

export class DiameterFramer {
  readonly maxMessageSize: number
  /** First bytes of a header split across chunks (fewer than 4 available). */
  private readonly head = Buffer.alloc(4)
  private headLen = 0
  /** Message being assembled across chunks. */
  private cur: Buffer | null = null
  private curFill = 0
  private failure: DiameterFrameError | null = null

  constructor(opts: FramerOptions = {}) {
    const max = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    if (!Number.isInteger(max) || max < MIN_MESSAGE_SIZE || max > MAX_LENGTH_FIELD) {
      throw new RangeError(`maxMessageSize must be an integer ${MIN_MESSAGE_SIZE}..${MAX_LENGTH_FIELD}, got ${max}`)
    }
    this.maxMessageSize = max
  }

  /** Bytes held for an incomplete message. */
  get bufferedBytes(): number {
    return this.cur !== null ? this.curFill : this.headLen
  }

  /** The error that stopped this framer, if any. */
  get error(): DiameterFrameError | null {
    return this.failure
  }

  /** Forget any partial message and error (e.g. when a connection object is reused). */
  reset(): void {
    this.headLen = 0
    this.cur = null
    this.curFill = 0
    this.failure = null
  }

  /** Add a chunk; returns the messages it completes (possibly none). Throws DiameterFrameError. */
  push(chunk: Buffer): Buffer[] {
    if (this.failure !== null) throw this.failure
    const out: Buffer[] = []
    const n = chunk.length
    let off = 0
    while (off < n) {
      if (this.cur !== null) {
        const take = Math.min(this.cur.length - this.curFill, n - off)
        chunk.copy(this.cur, this.curFill, off, off + take)
        this.curFill += take
        off += take
        if (this.curFill === this.cur.length) {
          out.push(this.cur)
          this.cur = null
          this.curFill = 0
        }
        continue
      }
      if (this.headLen > 0) {
        const take = Math.min(4 - this.headLen, n - off)
        chunk.copy(this.head, this.headLen, off, off + take)
        this.headLen += take
        off += take
        if (this.headLen < 4) break
        const len = this.check(this.head, 0)
        this.cur = Buffer.allocUnsafe(len)
        this.head.copy(this.cur, 0, 0, 4)
        this.curFill = 4
        this.headLen = 0
        continue
      }
      const left = n - off
      if (left < 4) {
        chunk.copy(this.head, 0, off, n)
        this.headLen = left
        break
      }
      const len = this.check(chunk, off)
      if (left >= len) {
        out.push(chunk.subarray(off, off + len))
        off += len
      } else {
        this.cur = Buffer.allocUnsafe(len)
        chunk.copy(this.cur, 0, off, n)
        this.curFill = left
        off = n
      }
    }
    return out
  }

  /** Validate version + Message Length at buf[off..off+4); returns the length. */
  private check(buf: Buffer, off: number): number {
    const version = buf[off]
    if (version !== 1) {
      this.failure = new DiameterFrameError(E.FRAME_VERSION, `Diameter version byte ${version}, expected 1`, version)
      throw this.failure
    }
    const len = (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]
    if (len < MIN_MESSAGE_SIZE) {
      this.failure = new DiameterFrameError(E.FRAME_LENGTH, `Message Length ${len} is below the 20-byte header`, len)
      throw this.failure
    }
    if (len > this.maxMessageSize) {
      this.failure = new DiameterFrameError(
        E.FRAME_TOO_LARGE,
        `Message Length ${len} exceeds the ${this.maxMessageSize}-byte limit`,
        len,
      )
      throw this.failure
    }
    return len
  }
}
