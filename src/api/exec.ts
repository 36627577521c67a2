/**
 * `docker.exec`: run extra processes in a running container.
 *
 * @module
 */

import { DockerError } from "../errors.ts";
import { collectFrames } from "../stream/demux.ts";
import type { ExecCreateBody, ExecInspectResponse, IdResponse } from "../types/mod.ts";
import {
  type ApiCall,
  type ApiClient,
  containerSegment,
  type RequestOptions,
  segment,
  type StreamOptions,
} from "./_client.ts";
import { rejecting } from "./_failing.ts";
import { DEFAULT_MAX_OUTPUT } from "./_frames.ts";
import { assertSize, type HijackedSession, hijackedSession, throwIfAborted } from "./_session.ts";

/**
 * Options of {@linkcode Exec.start} for an attached session. With `worker`
 * the session runs in a stream worker, which starts the exec itself (a
 * socket cannot move between threads), decodes the output there and writes
 * the stdin chunks sent to it; the session looks the same.
 */
export interface ExecStartOptions extends StreamOptions {
  /** Whether the exec was created with `Tty: true` (output is then raw). @default false */
  tty?: boolean;
  /** Initial terminal size `[rows, columns]` for TTY sessions, set right after start. */
  consoleSize?: [number, number];
}

/** Options of {@linkcode Exec.start} for a detached process. */
export interface ExecStartDetachedOptions extends RequestOptions {
  /** Run without attaching; the call returns once the process started. */
  detach: true;
  /** Whether the exec was created with `Tty: true`. @default false */
  tty?: boolean;
}

/** An attached exec session: stdin, output, and terminal resize. */
export interface ExecSession extends HijackedSession {
  /** The exec instance id. */
  readonly id: string;
  /**
   * Resizes the TTY (`POST /exec/{id}/resize`).
   *
   * @param rows Terminal height.
   * @param columns Terminal width.
   */
  resize(rows: number, columns: number): Promise<void>;
}

/** Options of {@linkcode Exec.resize}. */
export interface ExecResizeOptions extends RequestOptions {
  /** Terminal height in rows. */
  h: number;
  /** Terminal width in columns. */
  w: number;
}

/** Options of {@linkcode Exec.run}. */
export interface ExecRunOptions extends StreamOptions {
  /**
   * Bytes or text for the process's stdin, then EOF. Not with `tty`: the
   * call then fails with a `TypeError` (see `tty`).
   */
  stdin?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** Extra environment, `KEY=value`. */
  env?: string[];
  /** Working directory inside the container. */
  workingDir?: string;
  /** User (`name`, `uid`, `uid:gid`). */
  user?: string;
  /** Run with extended privileges. @default false */
  privileged?: boolean;
  /**
   * Allocate a TTY (stdout and stderr are then merged, raw). Not with
   * `stdin`, which fails the call with a `TypeError` before any I/O: when
   * the input of a TTY session ends, the engine closes the session's output
   * instead of the process's stdin, so the output after that point is lost
   * and the process never sees EOF (the docker CLI likewise refuses `-t`
   * when its input is not a terminal). Run without `tty`, or use
   * {@linkcode Exec.start} for an interactive session and end its input as
   * a terminal does, with Ctrl-D (`"\x04"`).
   * @default false
   */
  tty?: boolean;
  /**
   * Most bytes of output (stdout and stderr together) held in memory. A
   * command that writes more fails the call with `DockerOutputLimitError`
   * (the session is closed, so the process's next write fails).
   * @default 67108864 (64 MiB)
   */
  maxOutput?: number;
}

/** Result of {@linkcode Exec.run}. */
export interface ExecRunResult {
  /** The process's exit code. */
  exitCode: number;
  /** Everything it wrote to stdout. */
  stdout: Uint8Array;
  /** Everything it wrote to stderr (empty with a TTY). */
  stderr: Uint8Array;
}

const encoder = new TextEncoder();

/** Exec calls. Reach it as `docker.exec`. */
export class Exec {
  readonly #api: ApiClient;

  /**
   * Builds the namespace; reach it through a {@linkcode Docker} client.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `POST /containers/{id}/exec`: prepares a process in a running
   * container (started with {@linkcode Exec.start}).
   *
   * @param containerId Container id or name.
   * @param body Command, attach flags, TTY, environment, ...
   * @param options `signal`.
   * @returns `{ Id }` of the exec instance.
   * @throws {TypeError} When `containerId` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running or paused.
   *
   * @example Prepare a shell command
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.exec.create("web", { Cmd: ["ls", "/"], AttachStdout: true });
   * console.log(Id);
   * ```
   */
  create(
    containerId: string,
    body: ExecCreateBody,
    options: RequestOptions = {},
  ): Promise<IdResponse> {
    return rejecting(() => {
      if (!body || !Array.isArray(body.Cmd) || body.Cmd.length === 0) {
        throw new TypeError("An exec needs a non-empty Cmd");
      }
      return this.#api.json<IdResponse>({
        method: "POST",
        path: `/containers/${containerSegment(containerId)}/exec`,
        json: body,
        signal: options.signal,
        action: `create an exec in container "${containerId}"`,
      });
    });
  }

  /**
   * Sends `POST /exec/{id}/start`. Detached, it returns once the process
   * runs; otherwise the connection is hijacked and returned as a session:
   * `writable` is stdin (close it to send EOF), `readable` the output.
   * With a TTY, closing `writable` ends the session's output instead and
   * the process does not see EOF: write the terminal's EOF character,
   * Ctrl-D (`"\x04"`), instead.
   *
   * @param id Exec instance id.
   * @param options `detach`, `tty`, `consoleSize`, `signal`.
   * @returns Nothing when detached; the session otherwise.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such exec exists.
   *
   * @example Talk to `cat`
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.exec.create("web", {
   *   Cmd: ["cat"], AttachStdin: true, AttachStdout: true, AttachStderr: true,
   * });
   * await using session = await docker.exec.start(Id);
   * const writer = session.writable.getWriter();
   * await writer.write(new TextEncoder().encode("hello\n"));
   * await writer.close(); // EOF: cat exits after echoing
   * for await (const frame of session.readable) console.log(new TextDecoder().decode(frame.data));
   * ```
   */
  start(id: string, options: ExecStartDetachedOptions): Promise<void>;
  /**
   * Sends `POST /exec/{id}/start` and hijacks the connection: the returned
   * session's `writable` is stdin (close it to send EOF), `readable` the
   * output, `resize()` sets the TTY size. The output ends when the process
   * exits. Aborting `signal` closes the session: reads of `readable` and
   * writes to `writable` then reject with `signal.reason`.
   *
   * With a TTY (`Tty: true` at create), closing `writable` (or
   * `closeWrite()`) makes the engine end the session's output rather than
   * close the process's stdin, so the process does not see EOF and what it
   * writes afterwards is lost. End its input as a terminal does: write the
   * EOF character, Ctrl-D (`"\x04"`), at the start of a line.
   *
   * @param id Exec instance id.
   * @param options `tty`, `consoleSize`, `signal` (aborting closes the
   *   session and fails its streams with `signal.reason`), `worker`.
   * @returns The attached session.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such exec exists.
   *
   * @example Run `ls` attached
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.exec.create("web", { Cmd: ["ls"], AttachStdout: true });
   * await using session = await docker.exec.start(Id);
   * for await (const frame of session.readable) console.log(new TextDecoder().decode(frame.data));
   * ```
   *
   * @example End the input of a TTY session with Ctrl-D
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.exec.create("web", {
   *   Cmd: ["cat"], AttachStdin: true, AttachStdout: true, Tty: true,
   * });
   * await using session = await docker.exec.start(Id, { tty: true });
   * const writer = session.writable.getWriter();
   * await writer.write(new TextEncoder().encode("hi\n\x04")); // Ctrl-D: cat sees EOF
   * // The echo and cat's copy; the output ends when cat exits.
   * for await (const frame of session.readable) console.log(new TextDecoder().decode(frame.data));
   * ```
   */
  start(id: string, options?: ExecStartOptions): Promise<ExecSession>;
  async start(
    id: string,
    options: ExecStartOptions | ExecStartDetachedOptions = {},
  ): Promise<ExecSession | void> {
    const path = `/exec/${segment(id, "exec id")}/start`;
    const tty = options.tty === true;
    if ("detach" in options && options.detach) {
      await this.#api.empty({
        method: "POST",
        path,
        json: { Detach: true, Tty: tty },
        signal: options.signal,
        action: `start exec "${id}"`,
      });
      return;
    }
    const call: ApiCall = {
      method: "POST",
      path,
      json: { Detach: false, Tty: tty },
      signal: options.signal,
      action: `start exec "${id}"`,
    };
    const worker = (options as ExecStartOptions).worker;
    const session = this.#api.inWorker({ worker })
      ? await this.#api.sessionInWorker(call, { kind: "frames", tty })
      : hijackedSession(await this.#api.upgrade(call), tty, this.#api.host, options.signal);
    const resize = (rows: number, columns: number) => this.resize(id, { h: rows, w: columns });
    const consoleSize = (options as ExecStartOptions).consoleSize;
    if (consoleSize) {
      try {
        await resize(consoleSize[0], consoleSize[1]);
      } catch (error) {
        session.close();
        throw error;
      }
    }
    // The session watches the signal itself (an abort fails its streams).
    throwIfAborted(session, options.signal);
    return { ...session, id, resize };
  }

  /**
   * Sends `POST /exec/{id}/resize`: sets the TTY size of a running exec.
   *
   * @param id Exec instance id.
   * @param options `h` rows, `w` columns, `signal`.
   * @throws {TypeError} When `id` is empty or the size is not positive.
   * @throws {DockerNotFoundError} When no such exec exists.
   *
   * @example Match the local terminal
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { rows, columns } = Deno.consoleSize();
   * await docker.exec.resize("3f2a…", { h: rows, w: columns });
   * ```
   */
  async resize(id: string, options: ExecResizeOptions): Promise<void> {
    assertSize(options.h, options.w);
    await this.#api.empty({
      method: "POST",
      path: `/exec/${segment(id, "exec id")}/resize`,
      query: { h: options.h, w: options.w },
      signal: options.signal,
      action: `resize exec "${id}"`,
    });
  }

  /**
   * Sends `GET /exec/{id}/json`: state and exit code of an exec.
   *
   * @param id Exec instance id.
   * @param options `signal`.
   * @returns `Running`, `ExitCode`, `Pid`, the process config, ...
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such exec exists.
   *
   * @example Read an exit code
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Running, ExitCode } = await docker.exec.inspect("3f2a…");
   * console.log(Running, ExitCode);
   * ```
   */
  inspect(id: string, options: RequestOptions = {}): Promise<ExecInspectResponse> {
    return rejecting(() =>
      this.#api.json<ExecInspectResponse>({
        method: "GET",
        path: `/exec/${segment(id, "exec id")}/json`,
        signal: options.signal,
        action: `inspect exec "${id}"`,
      })
    );
  }

  /**
   * Runs a command in a running container and returns its exit code and
   * output: create, start attached, feed `stdin` then EOF, read the output
   * to its end, then read the exit code (waiting for the engine to record it).
   * The output is held in memory, up to `maxOutput` (64 MiB by default);
   * for a command that writes a lot, use {@linkcode Exec.start} and read
   * its session's stream instead.
   *
   * @param containerId Container id or name.
   * @param cmd The command and its arguments.
   * @param options `stdin`, `env`, `workingDir`, `user`, `privileged`, `tty`, `signal`.
   * @returns `{ exitCode, stdout, stderr }`.
   * @throws {TypeError} When `containerId` or `cmd` is empty, or `tty` is
   *   set together with `stdin`.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running.
   * @throws {DockerOutputLimitError} When the output exceeds `maxOutput`.
   *
   * @example Run a command and check it succeeded
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { exitCode, stdout } = await docker.exec.run("web", ["sh", "-c", "wc -c"], { stdin: "hello" });
   * console.log(exitCode, new TextDecoder().decode(stdout)); // 0 "5\n"
   * ```
   */
  async run(
    containerId: string,
    cmd: string[],
    options: ExecRunOptions = {},
  ): Promise<ExecRunResult> {
    if (options.tty === true && options.stdin !== undefined) {
      throw new TypeError(
        "exec.run cannot feed `stdin` to a process with a `tty`: when the input of a TTY " +
          "session ends, the engine closes the session's output instead of the process's " +
          "stdin, so the output after that is lost and the process never sees EOF (the " +
          "docker CLI refuses -t when its input is not a terminal). Run without `tty`, or " +
          "use exec.start for an interactive session and end its input as a terminal " +
          'does, with Ctrl-D ("\\x04")',
      );
    }
    const body: ExecCreateBody = {
      Cmd: cmd,
      AttachStdin: options.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: options.tty === true,
    };
    if (options.env) body.Env = options.env;
    if (options.workingDir) body.WorkingDir = options.workingDir;
    if (options.user) body.User = options.user;
    if (options.privileged) body.Privileged = true;
    const signal = options.signal;
    const { Id } = await this.create(containerId, body, signal ? { signal } : {});
    const startOptions: ExecStartOptions = { tty: options.tty === true };
    if (signal) startOptions.signal = signal;
    if (options.worker !== undefined) startOptions.worker = options.worker;
    // An abort closes the session, which fails its streams with the reason.
    await using session = await this.start(Id, startOptions);
    try {
      const feeding = feed(session, options.stdin);
      const output = collectFrames(session.readable, {
        maxBytes: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
        what: `the output of exec "${Id}" in container "${containerId}"`,
      });
      const [, { stdout, stderr }] = await Promise.all([feeding, output]);
      signal?.throwIfAborted();
      return { exitCode: await this.#exitCode(Id, signal), stdout, stderr };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  }

  /** Reads the exit code once the engine marks the exec as finished. */
  async #exitCode(id: string, signal: AbortSignal | undefined): Promise<number> {
    // The output has ended, so the process is gone; the engine records the
    // exit code a moment later. Give it a minute at most.
    const deadline = Date.now() + 60_000;
    for (let delay = 5;; delay = Math.min(delay * 2, 200)) {
      const state = await this.inspect(id, signal ? { signal } : {});
      if (!state.Running && typeof state.ExitCode === "number") return state.ExitCode;
      if (Date.now() > deadline) {
        throw new DockerError(
          `Exec "${id}" ended its output but the engine still reports it running`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      signal?.throwIfAborted();
    }
  }
}

/** Writes stdin (if any), then sends EOF. */
async function feed(session: HijackedSession, stdin: ExecRunOptions["stdin"]): Promise<void> {
  if (stdin === undefined) return;
  if (stdin instanceof ReadableStream) {
    await stdin.pipeTo(session.writable);
    return;
  }
  const writer = session.writable.getWriter();
  await writer.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin);
  await writer.close();
}
