/**
 * Options and result types of `docker.containers` (the `Containers` class),
 * kept apart so the namespace's file holds its calls.
 *
 * @module
 */

import type { ExtractTarOptions, ExtractTarResult } from "../stream/extract.ts";
import type { ContainerPathStat } from "../types/mod.ts";
import type { RequestOptions, StreamOptions } from "./_client.ts";
import type { OutputStreamOptions } from "./_frames.ts";

/** Options of {@linkcode Containers.list}. */
export interface ContainerListOptions extends RequestOptions {
  /** Include stopped containers. @default false */
  all?: boolean;
  /** Return at most this many of the most recently created containers. */
  limit?: number;
  /** Fill `SizeRw` and `SizeRootFs`. @default false */
  size?: boolean;
  /** Filters such as `{ label: ["app=web"], status: ["exited"] }`. */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Containers.create}. */
export interface ContainerCreateOptions extends RequestOptions {
  /** Container name (`/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`). */
  name?: string;
  /** Platform such as `linux/amd64` (API 1.41). */
  platform?: string;
}

/** Options of {@linkcode Containers.inspect}. */
export interface ContainerInspectOptions extends RequestOptions {
  /** Fill `SizeRw` and `SizeRootFs`. @default false */
  size?: boolean;
}

/** Options of {@linkcode Containers.start}. */
export interface ContainerStartOptions extends RequestOptions {
  /**
   * Key sequence that detaches from attached sessions, such as
   * `ctrl-p,ctrl-q` (`detachKeys`). The API reference lists it, but Docker
   * 20.10 does not read it on start: give it to `attach` or `exec` instead.
   */
  detachKeys?: string;
}

/** Result of {@linkcode Containers.start}. */
export interface ContainerStartResult {
  /** `true` when the container was already running (the engine answered 304). */
  alreadyStarted: boolean;
}

/** Options of {@linkcode Containers.wait}. */
export interface ContainerWaitOptions extends RequestOptions {
  /** What to wait for. @default "not-running" */
  condition?: "not-running" | "next-exit" | "removed";
}

/** Options of {@linkcode Containers.logs}. */
export interface ContainerLogsOptions extends OutputStreamOptions {
  /** Keep streaming new output until the container stops. @default false */
  follow?: boolean;
  /** Include stdout. @default true */
  stdout?: boolean;
  /** Include stderr. @default true */
  stderr?: boolean;
  /**
   * Only logs since this time: a Date, Unix seconds, an RFC 3339
   * timestamp, or a duration such as `"10m"` (before now).
   */
  since?: Date | number | string;
  /** Only logs before this time. */
  until?: Date | number | string;
  /** Prefix every line with an RFC 3339 timestamp. @default false */
  timestamps?: boolean;
  /** Only this many lines from the end (`"all"` or a number). @default "all" */
  tail?: number | "all";
  /**
   * Prefix every line with the extra attributes the log driver was told to
   * add (`--log-opt labels=…`/`env=…`: `key=value,…` and a space); lines
   * without any are unchanged. @default false
   */
  details?: boolean;
  /**
   * Whether the container has a TTY (its output is then raw, not
   * multiplexed). When unset berth asks the engine, concurrently with the
   * logs request.
   */
  tty?: boolean;
}

/** Options of {@linkcode Containers.remove}. */
export interface ContainerRemoveOptions extends RequestOptions {
  /** Kill the container first if it runs. @default false */
  force?: boolean;
  /** Remove its anonymous volumes too. @default false */
  volumes?: boolean;
  /** Remove the link with this name instead of the container. @default false */
  link?: boolean;
}

/** Options of {@linkcode Containers.top}. */
export interface ContainerTopOptions extends RequestOptions {
  /** Arguments for `ps` on the engine's host, such as `"-o pid,comm"`. @default "-ef" */
  psArgs?: string;
}

/** Options of {@linkcode Containers.changes}. */
export interface ContainerChangesOptions extends RequestOptions {}

/** Options of {@linkcode Containers.export}. */
export interface ContainerExportOptions extends StreamOptions {}

/** Options of {@linkcode Containers.stats}. */
export interface ContainerStatsOptions extends RequestOptions {
  /**
   * Always `false` here: one sample is returned. Use
   * {@linkcode Containers.statsStream} for a stream. @default false
   */
  stream?: false;
  /**
   * Answer at once with a single sample, instead of waiting for a second
   * sample (one to two seconds) to fill `precpu_stats`. @default false
   */
  oneShot?: boolean;
}

/** Options of {@linkcode Containers.statsStream}. */
export interface ContainerStatsStreamOptions extends StreamOptions {}

/** Options of {@linkcode Containers.resize}. */
export interface ContainerResizeOptions extends RequestOptions {
  /** Terminal height in rows. */
  h: number;
  /** Terminal width in columns. */
  w: number;
}

/** Options of {@linkcode Containers.stop}. */
export interface ContainerStopOptions extends RequestOptions {
  /**
   * Seconds to wait after the stop signal before killing the container.
   * @default the container's `StopTimeout` (10 s unless set at create)
   */
  t?: number;
  /**
   * Signal that asks the container to stop, such as `"SIGINT"` or `2`. Sent
   * as `signal`, which an engine reads only for a call of API 1.42 or later:
   * berth speaks at most 1.41 unless `apiVersion` says otherwise, so by
   * default the engine ignores it and uses the container's `StopSignal`
   * (Docker 20.10 never reads it).
   * @default the container's `StopSignal` (`SIGTERM` unless set at create)
   */
  stopSignal?: string | number;
}

/** Result of {@linkcode Containers.stop}. */
export interface ContainerStopResult {
  /** `true` when the container was not running (the engine answered 304). */
  alreadyStopped: boolean;
}

/** Options of {@linkcode Containers.restart}. */
export interface ContainerRestartOptions extends RequestOptions {
  /** Seconds to wait after the stop signal before killing the container. @default the container's `StopTimeout` */
  t?: number;
  /**
   * Signal that asks the container to stop; read only for calls of API
   * 1.42+ (set `apiVersion`), ignored otherwise, as for `stop`.
   * @default the container's `StopSignal`
   */
  stopSignal?: string | number;
}

/** Options of {@linkcode Containers.kill}. */
export interface ContainerKillOptions extends RequestOptions {
  /** Signal to send, as a name (`"SIGHUP"`, `"HUP"`) or number. @default "SIGKILL" */
  killSignal?: string | number;
}

/** Options of {@linkcode Containers.update}. */
export interface ContainerUpdateOptions extends RequestOptions {}

/** Options of {@linkcode Containers.rename}. */
export interface ContainerRenameOptions extends RequestOptions {}

/** Options of {@linkcode Containers.pause}. */
export interface ContainerPauseOptions extends RequestOptions {}

/** Options of {@linkcode Containers.unpause}. */
export interface ContainerUnpauseOptions extends RequestOptions {}

/**
 * Options of {@linkcode Containers.extractArchive}: the extractor's limits
 * and link policies; `signal` cancels the download and the extraction;
 * `worker` runs the download in a stream worker (the extraction stays here).
 */
export interface ContainerExtractArchiveOptions extends ExtractTarOptions, StreamOptions {}

/** Result of {@linkcode Containers.extractArchive}. */
export interface ContainerExtractArchiveResult {
  /** What the copied path is in the container. */
  stat: ContainerPathStat;
  /** What the extraction wrote. */
  extracted: ExtractTarResult;
}

/** Options of {@linkcode Containers.prune}. */
export interface ContainerPruneOptions extends RequestOptions {
  /**
   * Filters: `until` (timestamp or duration such as `"10m"`), `label`
   * (`key`, `key=value`, `label!` forms).
   */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Containers.run}. */
export interface ContainerRunOptions extends RequestOptions {
  /** Container name. */
  name?: string;
  /** Platform such as `linux/amd64` (API 1.41). */
  platform?: string;
  /**
   * Wait for the container to exit and return its exit code and output.
   * With `false` the call returns once the container started. @default true
   */
  wait?: boolean;
  /**
   * Collect stdout and stderr (attached before the start, so nothing is
   * missed, whatever the log driver). Only with `wait`. @default true
   */
  logs?: boolean;
  /**
   * Remove the container (forced, with its anonymous volumes) once it
   * exited, and also when the run fails or is aborted. Only with `wait`.
   * @default false
   */
  remove?: boolean;
  /**
   * Most bytes of output (stdout and stderr together) held in memory. A
   * container that writes more fails the call with
   * `DockerOutputLimitError`; the container is left running (its output
   * still goes to its log), or removed with `remove`.
   * @default 67108864 (64 MiB)
   */
  maxOutput?: number;
}

/** Result of {@linkcode Containers.run}. */
export interface ContainerRunResult {
  /** The container's id. */
  id: string;
  /** Its exit code; `null` when not waited for (`wait: false`). */
  exitCode: number | null;
  /** What it wrote to stdout (everything, with a TTY); empty without `logs`. */
  stdout: Uint8Array;
  /** What it wrote to stderr (empty with a TTY); empty without `logs`. */
  stderr: Uint8Array;
}
