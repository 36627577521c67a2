/**
 * One engine connection with a push-back buffer. Reads never overwrite
 * bytes handed out before, so the views that parsers slice from them stay
 * valid after the next read (zero-copy bodies).
 *
 * @module
 */

/** Smallest read size; each request starts again from here. */
const MIN_READ_SIZE = 16 * 1024;
/**
 * Largest read size; reached by doubling while reads fill the buffer.
 * Measured on a 256 MiB logs read: 256 KiB reads peaked ~35 MiB higher in
 * RSS than 64 KiB reads (V8 frees the dropped buffers only when a GC runs,
 * and fewer, larger buffers mean rarer GCs), for no throughput gain.
 */
const MAX_READ_SIZE = 64 * 1024;
/**
 * Reads are carved out of slabs of this size, one after the other, so a
 * short read uses only what it filled. Measured on a 256 MiB logs read:
 * 64 KiB slabs (one per 64 KiB read, most reads being far shorter) came to
 * 2.5 bytes allocated per byte read; 256 KiB slabs with reads fitted into
 * their tails come to about 1.
 */
const SLAB_SIZE = 256 * 1024;
/** A slab tail shorter than this is left unused rather than read into. */
const MIN_TAIL = 4 * 1024;

/** Whether every read gets a buffer of its own; see {@linkcode useExclusiveReadBuffers}. */
let exclusiveReads = false;

/**
 * Makes every later read (of every connection in this thread) land in a
 * buffer of its own rather than in a shared slab. A stream worker calls it
 * once: it transfers the buffers of completed reads to the main thread while
 * the next read is in flight, which would detach a slab under that read.
 */
export function useExclusiveReadBuffers(): void {
  exclusiveReads = true;
}

/**
 * Whether {@linkcode useExclusiveReadBuffers} was called in this thread:
 * then read buffers get transferred, and whatever must outlive that
 * (response heads) needs a copy.
 *
 * @returns `true` in a stream worker.
 */
export function readBuffersAreExclusive(): boolean {
  return exclusiveReads;
}

/**
 * A `Deno.Conn` with buffered reads, whole writes, a close that never
 * throws, and the bookkeeping the pool needs.
 */
export class Connection {
  /** The socket. */
  readonly conn: Deno.Conn;
  /** Total bytes read from the socket. */
  bytesRead = 0;
  /** Total bytes written to the socket (counted as each write returns). */
  bytesWritten = 0;
  /**
   * Whether a write that fails may have delivered part of its bytes: a TLS
   * connection sends a write as records and can fail after the first went
   * out. A write to a plain socket (or an ssh pipe) that fails sent nothing.
   */
  readonly failedWritesMaySend: boolean;
  /** Requests that completed on this connection (0 = fresh). */
  uses = 0;
  /** `Date.now()` when the pool last took it back as idle. */
  idleSince = 0;
  #closeReason: unknown = undefined;
  /** Run once when the connection closes (see {@linkcode Connection.onClose}). */
  #closeListeners: (() => void)[] | undefined = undefined;
  #pending: Uint8Array | null = null;
  #readSize = MIN_READ_SIZE;
  #slab = new Uint8Array(0);
  #slabOffset = 0;
  #closed = false;

  /** @param conn An open socket. */
  constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.failedWritesMaySend = "handshake" in conn;
  }

  /** Whether {@linkcode Connection.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Why the connection was closed, when whoever closed it said (the client
   * being closed): what a read cut short by the close should fail with.
   */
  get closeReason(): unknown {
    return this.#closeReason;
  }

  /** Starts a new request: reads start small again. */
  resetReadSize(): void {
    this.#readSize = MIN_READ_SIZE;
  }

  /**
   * Reads the next bytes: pushed-back bytes first, else one socket read.
   *
   * Reads land in never-reused regions of a slab (a fresh slab once the
   * current one runs low), so every returned view stays valid for as long
   * as its holder keeps it, at one allocation per slab rather than per read.
   * The read size doubles while reads fill it. A slab whose buffer has been
   * transferred away (detached) is replaced at the next read.
   *
   * @param into A buffer of the caller's to read into instead (it is
   *   overwritten by each such read, so earlier views into it go stale).
   * @returns The bytes, or `null` at end of stream.
   */
  async read(into?: Uint8Array): Promise<Uint8Array | null> {
    const pending = this.#pending;
    if (pending) {
      this.#pending = null;
      return pending;
    }
    if (into !== undefined) {
      const n = await this.conn.read(into);
      if (n === null) return null;
      this.bytesRead += n;
      return into.subarray(0, n);
    }
    const view = this.readView();
    const n = await this.conn.read(view);
    return n === null ? null : this.commitRead(view, n);
  }

  /**
   * Where the next socket read lands: a fresh region of the slab (the
   * first half of {@linkcode Connection.read}, for a caller that awaits the
   * socket read itself). Take pushed-back bytes first.
   *
   * @returns The region to pass to `conn.read`.
   */
  readView(): Uint8Array {
    const size = this.#readSize;
    if (exclusiveReads) return new Uint8Array(size);
    const offset = this.#slabOffset;
    // The tail of the slab takes a read (up to the read size) when it is
    // long enough: a short read then costs only what it filled. A slab
    // whose buffer was transferred (detached: its length reads 0) is
    // replaced like a full one.
    const tail = this.#slab.length - offset;
    if (tail >= MIN_TAIL) {
      return this.#slab.subarray(offset, offset + Math.min(size, tail));
    }
    this.#slab = new Uint8Array(Math.max(SLAB_SIZE, size));
    this.#slabOffset = 0;
    return this.#slab.subarray(0, size);
  }

  /**
   * Accounts for a socket read into the region {@linkcode Connection.readView}
   * gave (the second half of {@linkcode Connection.read}).
   *
   * @param view That region.
   * @param n What the read returned (not `null`).
   * @returns The bytes read.
   */
  commitRead(view: Uint8Array, n: number): Uint8Array {
    this.#slabOffset += n;
    this.bytesRead += n;
    // Only a read that filled a full-size region says the peer has more.
    const size = this.#readSize;
    if (n === size && size < MAX_READ_SIZE) this.#readSize = size * 2;
    return view.subarray(0, n);
  }

  /**
   * Pushes bytes back so the next {@linkcode Connection.read} returns them.
   *
   * @param bytes Unconsumed bytes (prepended to any already pushed back).
   */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const pending = this.#pending;
    if (!pending) {
      this.#pending = bytes;
      return;
    }
    const joined = new Uint8Array(bytes.length + pending.length);
    joined.set(bytes);
    joined.set(pending, bytes.length);
    this.#pending = joined;
  }

  /** How many bytes wait in the push-back buffer. */
  get pendingLength(): number {
    return this.#pending?.length ?? 0;
  }

  /** Whether bytes are waiting in the push-back buffer. */
  get hasPending(): boolean {
    return this.#pending !== null;
  }

  /** Takes the pushed-back bytes (for handing a connection over). */
  takePending(): Uint8Array {
    const pending = this.#pending ?? new Uint8Array(0);
    this.#pending = null;
    return pending;
  }

  /**
   * Starts writing `bytes` with one socket write and returns that write's
   * own promise, so the caller awaits the socket directly (one async step
   * fewer than {@linkcode Connection.write} on the per-request path); pass
   * its result to {@linkcode Connection.finishWrite}.
   *
   * @param bytes What to send.
   * @returns How many bytes the socket took.
   */
  writeOnce(bytes: Uint8Array): Promise<number> {
    return this.conn.write(bytes);
  }

  /**
   * Completes a {@linkcode Connection.writeOnce}: counts what it wrote and
   * writes the rest, if the socket took less than all.
   *
   * @param bytes What was being sent.
   * @param written What `writeOnce` resolved to.
   * @returns `undefined` when all was written, else the rest's write.
   */
  finishWrite(bytes: Uint8Array, written: number): Promise<void> | undefined {
    this.bytesWritten += written;
    return written < bytes.length ? this.write(bytes.subarray(written)) : undefined;
  }

  /**
   * Writes all of `bytes`.
   *
   * @param bytes What to send.
   */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const written = await this.conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      // Counted as it goes: a write that breaks half way has sent something
      // (see Exchange's retry rule).
      this.bytesWritten += written;
      offset += written;
    }
  }

  /** Half-closes the write side (sends EOF to the peer); reads continue. */
  async closeWrite(): Promise<void> {
    if (this.#closed) return;
    await this.conn.closeWrite();
  }

  /**
   * Closes the socket; safe to call more than once.
   *
   * @param reason Why, for reads the close cuts short ({@linkcode Connection.closeReason}).
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#pending = null;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer or the runtime: nothing left to release.
    }
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    if (listeners) { for (const listener of listeners) listener(); }
  }

  /**
   * Runs `listener` once when the connection closes, or at once if it has:
   * how a handed-over connection is untracked and its call recorded.
   *
   * @param listener Called with no arguments; it must not throw.
   */
  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else (this.#closeListeners ??= []).push(listener);
  }
}
