/**
 * The `ssh://` transport: one `ssh … -- host docker system dial-stdio`
 * process per connection, whose stdin and stdout carry the HTTP/1.1 bytes
 * (the docker CLI on the remote bridges them to its engine socket). The pool
 * reuses each process for many requests; upgrades (attach, exec) work over
 * it like over a socket, half-close included.
 *
 * @module
 */

import { DockerConnectionError, DockerTimeoutError } from "../errors.ts";

/** How {@linkcode Docker} runs ssh for `ssh://` hosts. */
export interface SshOptions {
  /**
   * The ssh executable (a name looked up on `PATH`, or a path). Deno needs
   * `--allow-run` for it.
   * @default "ssh"
   */
  command?: string;
  /**
   * Extra arguments, placed before berth's own (`-o BatchMode=yes`, `-p`,
   * `-l`, `--`, the host and `docker system dial-stdio`), such as
   * `["-i", "/path/key", "-o", "UserKnownHostsFile=/path/known_hosts"]`.
   * @default []
   */
  args?: string[];
}

/** An `ssh://[user@]host[:port][/path]` address. */
export interface SshAddress {
  /** Always `"ssh"`. */
  transport: "ssh";
  /** Login name (`-l`); ssh's own default (config, current user) when absent. */
  user?: string;
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** Port (`-p`); ssh's own default (config, 22) when absent. */
  port?: number;
  /**
   * The remote engine's socket (`docker --host unix://<path>`); the remote
   * CLI's own choice (its `DOCKER_HOST`, context or default) when absent.
   */
  path?: string;
}

/** Most stderr bytes kept per process, for error messages (the last ones win). */
const MAX_STDERR = 8 * 1024;
/** Longest probe answer head accepted. */
const MAX_PROBE_HEAD = 64 * 1024;
/** How long a failed connect waits for ssh to exit, so that its stderr is complete. */
const EXIT_GRACE_MS = 2000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The probe sent on every new process. `HEAD` answers have no body, so the
 * connection is left exactly at the start of the next response; any HTTP
 * answer (even a 404 from an engine older than API 1.40) proves that ssh
 * logged in and the remote reached an engine.
 */
const PROBE = encoder.encode("HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");

/**
 * The argument list for one connection: the extra arguments, then
 * `-o BatchMode=yes` (never a password prompt on a terminal), `-p`, `-l`,
 * `--` and the host, then the remote command.
 *
 * @param address The parsed `ssh://` address.
 * @param extra Arguments from {@linkcode SshOptions.args}.
 * @returns Arguments for the ssh executable.
 */
export function sshArgs(address: SshAddress, extra: readonly string[] = []): string[] {
  const args = [...extra, "-o", "BatchMode=yes", "-T"];
  if (address.port !== undefined) args.push("-p", String(address.port));
  if (address.user !== undefined) args.push("-l", address.user);
  args.push("--", address.hostname, "docker");
  // ssh hands the command to the remote shell as one line: quote the path.
  if (address.path !== undefined) args.push("--host", shellQuote(`unix://${address.path}`));
  args.push("system", "dial-stdio");
  return args;
}

/** `value` in single quotes for a POSIX shell (a quote inside becomes `'\''`). */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * The ends of a running ssh process, shaped as the part of `Deno.Conn` that
 * {@linkcode Connection} uses: `read`, `write`, `closeWrite`, `close`.
 */
class SshConn {
  readonly #child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Bytes of the last stdout chunk that did not fit the caller's buffer. */
  #leftover: Uint8Array | null = null;
  #stderr: Uint8Array[] = [];
  #stderrLength = 0;
  #status: Deno.CommandStatus | undefined;
  /** Settles once the process exited and its stderr was read to the end. */
  readonly exited: Promise<void>;
  #closed = false;

  readonly #closing: Set<Promise<void>>;

  /**
   * @param child The running ssh process, all three pipes piped.
   * @param closing Where {@linkcode SshConn.close} puts the exit to await.
   */
  constructor(child: Deno.ChildProcess, closing: Set<Promise<void>>) {
    this.#child = child;
    this.#closing = closing;
    this.#reader = child.stdout.getReader();
    this.#writer = child.stdin.getWriter();
    // A rejected write or close also rejects `ready`/`closed`; nobody waits on those.
    this.#writer.closed.catch(() => {});
    this.exited = Promise.all([
      child.status.then((status) => {
        this.#status = status;
      }),
      this.#pumpStderr(child.stderr),
    ]).then(() => {}, () => {});
  }

  /** Reads stderr to its end, keeping the last {@linkcode MAX_STDERR} bytes. */
  async #pumpStderr(stderr: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stderr) {
      this.#stderr.push(chunk);
      this.#stderrLength += chunk.length;
      while (this.#stderrLength - this.#stderr[0]!.length >= MAX_STDERR) {
        this.#stderrLength -= this.#stderr.shift()!.length;
      }
    }
  }

  /** What ssh wrote on stderr (its last 8 KiB), trimmed. */
  get stderr(): string {
    const joined = new Uint8Array(this.#stderrLength);
    let offset = 0;
    for (const chunk of this.#stderr) {
      joined.set(chunk, offset);
      offset += chunk.length;
    }
    return decoder.decode(joined.subarray(Math.max(0, joined.length - MAX_STDERR))).trim();
  }

  /** The exit status, once the process exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /**
   * Reads from ssh's stdout into `buffer`; what does not fit is kept for
   * the next read.
   *
   * @returns The number of bytes read, or `null` at end of stream.
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    let chunk = this.#leftover;
    this.#leftover = null;
    while (chunk === null || chunk.length === 0) {
      if (this.#closed) return null;
      const { value, done } = await this.#reader.read();
      if (done) return null;
      chunk = value;
    }
    const n = Math.min(chunk.length, buffer.length);
    buffer.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#leftover = chunk.subarray(n);
    return n;
  }

  /**
   * Writes all of `bytes` to ssh's stdin.
   *
   * @returns `bytes.length`.
   * @throws {Deno.errors.BrokenPipe} When ssh exited.
   */
  async write(bytes: Uint8Array): Promise<number> {
    await this.#writer.write(bytes);
    return bytes.length;
  }

  /** Closes ssh's stdin: the engine sees EOF, output keeps flowing. */
  async closeWrite(): Promise<void> {
    await this.#writer.close();
  }

  /**
   * Stops ssh (SIGTERM) and releases its pipes; never throws. The exit is
   * awaited by the connector's `close`, so a closed client leaves no process.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#leftover = null;
    const exited = this.exited;
    this.#closing.add(exited);
    exited.then(() => this.#closing.delete(exited));
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    // Later writes fail like those on a closed socket.
    this.#writer.abort(new Deno.errors.BadResource("The ssh connection is closed")).catch(() => {});
    this.#reader.cancel().catch(() => {});
  }

  /** Waits up to `ms` for the process to exit; whether it did. */
  async waitExit(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]);
    clearTimeout(timer);
    return done;
  }
}

/** A connector for `ssh://` hosts; see {@linkcode createSshConnector}. */
export interface SshConnector {
  /** Starts one ssh process and checks it reaches the engine. */
  (): Promise<Deno.Conn>;
  /**
   * Stops the processes still being set up, and resolves once every
   * process closed so far has exited.
   */
  close(): Promise<void>;
}

/**
 * Builds the connector for an `ssh://` address. Each call starts
 * `ssh [args] -o BatchMode=yes -T [-p port] [-l user] -- host docker system
 * dial-stdio` and sends `HEAD /_ping` through it before handing it out, so a
 * failed login, an unknown host or a remote without the docker CLI fails
 * the connect (with ssh's stderr in the message), and `connectTimeout`
 * bounds the whole setup rather than the first real response.
 *
 * @param address The parsed address.
 * @param host The address as text, for messages.
 * @param connectTimeout Milliseconds until the engine answered the probe; 0 = forever.
 * @param options The ssh executable and extra arguments.
 * @returns A function that starts one process per call.
 */
export function createSshConnector(
  address: SshAddress,
  host: string,
  connectTimeout: number,
  options: SshOptions = {},
): SshConnector {
  const command = options.command ?? "ssh";
  const args = sshArgs(address, options.args);
  const closing = new Set<Promise<void>>();
  const probing = new Set<SshConn>();
  let closed = false;
  const connect = async (): Promise<Deno.Conn> => {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, {
        args,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw spawnError(error, command, host);
    }
    const conn = new SshConn(child, closing);
    probing.add(conn);
    let timedOut = false;
    const timer = connectTimeout > 0
      ? setTimeout(() => {
        timedOut = true;
        conn.close();
      }, connectTimeout)
      : undefined;
    try {
      await probe(conn);
    } catch (error) {
      clearTimeout(timer);
      // A process that is going away gets a moment to finish its stderr.
      const ending = !(error instanceof ProbeFailure) || error.ended;
      if (!timedOut && ending) await conn.waitExit(EXIT_GRACE_MS);
      conn.close();
      if (closed) {
        throw new DockerConnectionError(
          `Cannot connect to ${host}: the client was closed while ssh was connecting`,
          host,
          { cause: error },
        );
      }
      throw timedOut
        ? new DockerTimeoutError(
          `Cannot connect to ${host}: ssh did not reach the engine within ${connectTimeout} ms${
            conn.stderr ? ` (ssh said: ${conn.stderr})` : ""
          }`,
          "connect",
          connectTimeout,
        )
        : probeError(error, conn, host);
    } finally {
      clearTimeout(timer);
      probing.delete(conn);
    }
    // SshConn has every member Connection uses (read, write, closeWrite,
    // close); nothing in src/http touches the rest of Deno.Conn.
    return conn as unknown as Deno.Conn;
  };
  return Object.assign(connect, {
    close: async () => {
      closed = true;
      for (const conn of probing) conn.close();
      await Promise.all([...closing]);
    },
  });
}

/** Sends `HEAD /_ping` and reads the answer's head; throws unless it is HTTP. */
async function probe(conn: SshConn): Promise<void> {
  await conn.write(PROBE);
  const buffer = new Uint8Array(MAX_PROBE_HEAD);
  let length = 0;
  while (true) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) throw new ProbeFailure("ssh exited before the engine answered", true);
    length += n;
    const text = decoder.decode(buffer.subarray(0, length));
    if (length >= 5 && !text.startsWith("HTTP/")) {
      throw new ProbeFailure(
        `the remote command did not answer HTTP (it printed ${
          JSON.stringify(text.slice(0, 80))
        }); it must run docker system dial-stdio`,
      );
    }
    const end = text.indexOf("\r\n\r\n");
    if (end !== -1) {
      if (end + 4 < length) {
        throw new ProbeFailure("the engine answered HEAD /_ping with a body");
      }
      return;
    }
    if (length === buffer.length) throw new ProbeFailure("the probe answer's head is too large");
  }
}

/** A probe that got no answer (`ended`: stdout ended), or not the expected one. */
class ProbeFailure extends Error {
  readonly ended: boolean;
  constructor(message: string, ended = false) {
    super(message);
    this.ended = ended;
  }
}

/** The error for a process that could not be started. */
function spawnError(error: unknown, command: string, host: string): DockerConnectionError {
  let hint: string;
  if (error instanceof Deno.errors.NotCapable) {
    hint = `Deno lacks permission to run ${command}: run with --allow-run=${command}`;
  } else if (error instanceof Deno.errors.NotFound) {
    hint = `${command} was not found; install the OpenSSH client or set the ssh.command option`;
  } else {
    hint = `cannot start ${command}: ${error instanceof Error ? error.message : String(error)}`;
  }
  return new DockerConnectionError(
    `Cannot connect to the Docker engine at ${host}: ${hint}`,
    host,
    {
      cause: error,
    },
  );
}

/** The error for a process that died or misbehaved before the probe's answer. */
function probeError(error: unknown, conn: SshConn, host: string): DockerConnectionError {
  const status = conn.status;
  const stderr = conn.stderr;
  let why: string;
  if (status !== undefined && !status.success) {
    why = status.signal
      ? `ssh was killed by ${status.signal}`
      : `ssh exited with code ${status.code}`;
  } else if (error instanceof ProbeFailure) {
    why = error.message;
  } else if (error instanceof Deno.errors.BrokenPipe) {
    why = "ssh exited before the engine answered";
  } else {
    why = error instanceof Error ? error.message : String(error);
  }
  return new DockerConnectionError(
    `Cannot connect to the Docker engine at ${host}: ${why}${stderr ? `: ${stderr}` : ""}`,
    host,
    { cause: error },
  );
}
