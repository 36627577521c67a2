/**
 * The base of the in-memory `Deno.Conn`s the HTTP tests script
 * (`_chaos.ts`, `_scripted_conn.ts`): what a socket has that they have
 * nothing to do for, and their `Deno.Conn` face.
 */
export abstract class InMemoryConn {
  /** Reads as `Deno.Conn.read` does. */
  abstract read(into: Uint8Array): Promise<number | null>;
  /** Writes as `Deno.Conn.write` does. */
  abstract write(bytes: Uint8Array): Promise<number>;
  /** Closes as `Deno.Conn.close` does. */
  abstract close(): void;

  /** The `Deno.Conn` face of this object. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  ref(): void {}
  unref(): void {}
  setNoDelay(): void {}
  setKeepAlive(): void {}
  get localAddr(): Deno.Addr {
    return { transport: "unix", path: "memory" };
  }
  get remoteAddr(): Deno.Addr {
    return { transport: "unix", path: "memory" };
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
