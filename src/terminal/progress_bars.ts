/**
 * Per-layer progress bars for pull, push, load and build events, drawn on
 * a terminal (`Deno.stdout` by default) the way the docker CLI draws them:
 *
 * ```text
 * latest: Pulling from library/busybox
 * 9ad63333ebc9: Downloading [=====================>          ]  1.52MB/2.22MB
 * 3d2a1b0c4e5f: Pull complete
 * Digest: sha256:…
 * ```
 *
 * Lines with an `id` are bars that are redrawn in place; lines without one
 * (and build `stream` text) are printed once, above the bars; BuildKit
 * progress records (a build event's `buildkit`) are printed as plain text
 * lines (see {@linkcode BuildKitPlainText}). When the
 * output is not a terminal, only status changes are printed, one line
 * each, with no escape codes. No timers are used: redraws of mere progress
 * are skipped when they come faster than `interval`, and the last state is
 * drawn by {@linkcode ProgressBars.done}.
 *
 * @module
 */

import type { BuildKitStatus } from "../build/buildkit_trace.ts";
import type { ProgressDetail } from "../types/mod.ts";
import { BuildKitPlainText } from "./buildkit_plain.ts";

export type { BuildKitStatus, ProgressDetail };

/** The fields of a progress event the renderer uses; pull, push, load and build events all fit. */
export interface ProgressBarEvent {
  /** Layer or tag the line is about; lines with an id are bars. */
  id?: string | undefined;
  /** Status text, such as `Downloading` or `Pull complete`. */
  status?: string | undefined;
  /** Numbers of the bar. */
  progressDetail?: ProgressDetail | undefined;
  /** Build output text, printed as is. */
  stream?: string | undefined;
  /** A BuildKit build's decoded progress record, printed as plain text lines. */
  buildkit?: BuildKitStatus | undefined;
}

/** Where the bars are drawn: `Deno.stdout`, `Deno.stderr`, or anything alike. */
export interface ProgressOutput {
  /**
   * Writes some of `bytes` synchronously.
   *
   * @param bytes What to write.
   * @returns How many bytes were written.
   */
  writeSync(bytes: Uint8Array): number;
  /**
   * Whether the output is a terminal.
   *
   * @returns `true` for a terminal.
   */
  isTerminal?(): boolean;
}

/** Options of {@linkcode ProgressBars}. */
export interface ProgressBarsOptions {
  /** Where to draw. @default Deno.stdout */
  output?: ProgressOutput;
  /** Draw bars in place with escape codes. @default output.isTerminal() */
  terminal?: boolean;
  /** Width of a line; longer lines are cut. @default the console width, else 80 */
  columns?: number;
  /** Most bars shown at once (the newest are kept). @default the console height - 2, else 20 */
  maxBars?: number;
  /** Least milliseconds between two redraws for progress alone. @default 100 */
  interval?: number;
}

/** One bar's state. */
interface Bar {
  id: string;
  status: string;
  current: number | undefined;
  total: number | undefined;
}

const encoder = new TextEncoder();
const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

/**
 * Formats a byte count like the docker CLI (decimal units, 3 significant
 * digits): `1.52MB`.
 *
 * @param bytes A number of bytes.
 * @returns The size text.
 *
 * @example Format sizes
 * ```ts
 * import assert from "node:assert/strict";
 * import { humanSize } from "./progress_bars.ts";
 *
 * assert.equal(humanSize(999), "999B");
 * assert.equal(humanSize(1_520_000), "1.52MB");
 * ```
 */
export function humanSize(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const text = unit === 0 ? String(Math.round(value)) : String(Number(value.toPrecision(3)));
  return `${text}${UNITS[unit]}`;
}

/** The console size, when Deno can tell. */
function consoleSize(): { columns: number; rows: number } | undefined {
  try {
    const size = Deno.consoleSize();
    // A pseudo-terminal nobody sized reports 0 x 0.
    return size.columns > 0 && size.rows > 0 ? size : undefined;
  } catch {
    return undefined;
  }
}

/** Cuts a line to `width` characters (code points). */
function cut(line: string, width: number): string {
  const chars = Array.from(line);
  return chars.length <= width ? line : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/**
 * Draws progress events as per-layer bars.
 *
 * @example Show a pull's progress
 * ```ts ignore
 * import { Docker, ProgressBars } from "@berth/docker";
 *
 * await using docker = new Docker();
 * const bars = new ProgressBars();
 * await docker.images.pull("alpine:3.20", { onProgress: (event) => bars.update(event) });
 * bars.done();
 * ```
 *
 * @example Render into a string
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressBars } from "./progress_bars.ts";
 *
 * let text = "";
 * const decoder = new TextDecoder();
 * const output = { writeSync: (bytes: Uint8Array) => (text += decoder.decode(bytes), bytes.length) };
 * const bars = new ProgressBars({ output, terminal: false });
 * bars.update({ id: "abc", status: "Downloading", progressDetail: { current: 1, total: 2 } });
 * bars.update({ id: "abc", status: "Pull complete" });
 * bars.update({ status: "Digest: sha256:0" });
 * bars.done();
 * assert.equal(text, "abc: Downloading\nabc: Pull complete\nDigest: sha256:0\n");
 * ```
 */
export class ProgressBars {
  readonly #output: ProgressOutput;
  readonly #terminal: boolean;
  readonly #columns: number;
  readonly #maxBars: number;
  readonly #interval: number;
  readonly #bars = new Map<string, Bar>();
  /** Lines of bars currently on screen, below the cursor's line start. */
  #drawn = 0;
  #lastDraw = -Infinity;
  #dirty = false;
  #buildkit: BuildKitPlainText | undefined;

  /**
   * Creates a renderer; nothing is written until the first event.
   *
   * @param options `output`, `terminal`, `columns`, `maxBars`, `interval`.
   */
  constructor(options: ProgressBarsOptions = {}) {
    this.#output = options.output ?? Deno.stdout;
    this.#terminal = options.terminal ?? (this.#output.isTerminal?.() ?? false);
    const size = this.#terminal ? consoleSize() : undefined;
    this.#columns = Math.max(20, options.columns ?? size?.columns ?? 80);
    this.#maxBars = Math.max(1, options.maxBars ?? (size ? size.rows - 2 : 20));
    this.#interval = options.interval ?? 100;
  }

  /**
   * Takes one event: updates its bar, or prints its text.
   *
   * @param event A pull, push, load or build event.
   */
  update(event: ProgressBarEvent): void {
    if (!event || typeof event !== "object") return;
    if (typeof event.stream === "string") {
      const text = event.stream.replace(/\n$/, "");
      if (text !== "") this.message(text);
    }
    if (event.buildkit && typeof event.buildkit === "object") {
      this.#buildkit ??= new BuildKitPlainText();
      const lines = this.#buildkit.update(event.buildkit);
      if (lines.length > 0) this.message(lines.join("\n"));
    }
    const status = typeof event.status === "string" ? event.status : undefined;
    if (status === undefined) return;
    if (typeof event.id !== "string" || event.id === "") {
      this.message(status);
      return;
    }
    const previous = this.#bars.get(event.id);
    const detail = event.progressDetail;
    const bar: Bar = {
      id: event.id,
      status,
      current: typeof detail?.current === "number" ? detail.current : undefined,
      total: typeof detail?.total === "number" && detail.total > 0 ? detail.total : undefined,
    };
    this.#bars.set(event.id, bar);
    const changed = previous === undefined || previous.status !== status;
    if (!this.#terminal) {
      if (changed) this.#write(`${event.id}: ${status}\n`);
      return;
    }
    if (!changed && performance.now() - this.#lastDraw < this.#interval) {
      this.#dirty = true;
      return;
    }
    this.#write(this.#redraw(""));
  }

  /**
   * Prints a line (or several) above the bars.
   *
   * @param text The text, without a trailing newline.
   */
  message(text: string): void {
    const lines = String(text).split("\n");
    if (!this.#terminal) {
      this.#write(lines.map((line) => `${line}\n`).join(""));
      return;
    }
    this.#write(this.#redraw(lines.map((line) => `\r\x1b[2K${line}\n`).join("")));
  }

  /**
   * Draws the final state of every bar, and prints BuildKit output held
   * back for want of a line end; call it once the stream ended.
   */
  done(): void {
    const rest = this.#buildkit?.flush() ?? [];
    if (rest.length > 0) this.message(rest.join("\n"));
    if (this.#terminal && this.#dirty) this.#write(this.#redraw(""));
  }

  /** Moves up over the bars, prints `above`, then the bars again. */
  #redraw(above: string): string {
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    if (above) out += `\r\x1b[J${above}`;
    const bars = [...this.#bars.values()].slice(-this.#maxBars);
    for (const bar of bars) out += `\r\x1b[2K${this.#line(bar)}\n`;
    this.#drawn = bars.length;
    this.#lastDraw = performance.now();
    this.#dirty = false;
    return out;
  }

  /** One bar's line: `id: status [====>   ] 1.2MB/3.4MB`. */
  #line(bar: Bar): string {
    const head = `${bar.id}: ${bar.status}`;
    if (bar.total === undefined || bar.current === undefined) return cut(head, this.#columns - 1);
    const sizes = `${humanSize(bar.current)}/${humanSize(bar.total)}`;
    const room = this.#columns - 1 - head.length - sizes.length - 4;
    const width = Math.min(50, room);
    if (width < 10) return cut(`${head} ${sizes}`, this.#columns - 1);
    const ratio = Math.min(1, Math.max(0, bar.current / bar.total));
    const filled = Math.floor(ratio * width);
    const arrow = filled < width ? ">" : "";
    const body = "=".repeat(filled) + arrow +
      " ".repeat(Math.max(0, width - filled - arrow.length));
    return `${head} [${body}] ${sizes}`;
  }

  #write(text: string): void {
    if (text === "") return;
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += this.#output.writeSync(bytes.subarray(offset));
  }
}
