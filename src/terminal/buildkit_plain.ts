/**
 * BuildKit progress as plain text lines, in the manner of `docker build
 * --progress=plain`: each step gets a number when it first shows up, and
 * every line names the step it is about.
 *
 * ```text
 * #4 [2/3] RUN make
 * #4 0.412 cc -o app main.c
 * #4 DONE 1.3s
 * #5 [3/3] COPY app /app
 * #5 CACHED
 * ```
 *
 * `ProgressBars` uses it for the `buildkit` field of build events; use it
 * directly to send a build's output somewhere else than a terminal.
 *
 * @module
 */

import type {
  BuildKitStatus,
  BuildKitVertex,
  BuildKitVertexStatus,
} from "../build/buildkit_trace.ts";

/** What is known of a step that was shown. */
interface Step {
  number: number;
  started: Date | undefined;
  /** Whether the step's outcome (DONE, CACHED, ERROR) was shown. */
  ended: boolean;
  /**
   * Per stream of the step's output: its decoder, its unfinished line, and
   * the seconds into the step when that line began.
   */
  output: Map<number, { decoder: TextDecoder; partial: string; at: string }>;
  /** Per status id: what its last line showed, and whether it said done. */
  statuses: Map<string, { current: number; timestamp: Date | undefined; done: boolean }>;
}

/** A status is shown again, before it is done, only after this share of its total… */
const MIN_PROGRESS = 0.05;
/** …or this many milliseconds (BuildKit's plain printer's thresholds). */
const MIN_INTERVAL = 5000;
/**
 * A status gets a line before it is done only once it has run this long:
 * BuildKit's printer shows what piled up every 150 ms, so work that ends
 * sooner shows only as done.
 */
const FIRST_LINE_AFTER = 150;

/**
 * Bytes as BuildKit's plain printer shows them: whole bytes below 1 kB
 * (`288B`), else two decimals of decimal units (`3.00MB`).
 */
function formatBytes(count: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  let unit = 0;
  let value = count;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${count}B` : `${value.toFixed(2)}${units[unit]}`;
}

function seconds(from: Date | undefined, to: Date | undefined): string {
  if (!from || !to) return "";
  return (Math.max(0, to.getTime() - from.getTime()) / 1000).toFixed(1);
}

/**
 * A status's line as BuildKit's plain printer writes it (`#4 transferring
 * context: 3.00MB 0.3s done`), or `undefined` when it is not news: done
 * already, or too little progress since its last line.
 */
function statusLine(step: Step, item: BuildKitVertexStatus): string | undefined {
  const last = step.statuses.get(item.id);
  if (last?.done) return undefined;
  if (last && !item.completed) {
    const progress = item.total > 0 ? (item.current - last.current) / item.total : 0;
    const elapsed = item.timestamp && last.timestamp
      ? item.timestamp.getTime() - last.timestamp.getTime()
      : 0;
    if (progress < MIN_PROGRESS && elapsed < MIN_INTERVAL) return undefined;
  } else if (!last && !item.completed && item.started && item.timestamp) {
    if (item.timestamp.getTime() - item.started.getTime() < FIRST_LINE_AFTER) return undefined;
  }
  step.statuses.set(item.id, {
    current: item.current,
    timestamp: item.timestamp,
    done: item.completed !== undefined,
  });
  let line = `#${step.number} ${item.id}`;
  if (item.total !== 0) line += ` ${formatBytes(item.current)} / ${formatBytes(item.total)}`;
  else if (item.current !== 0) line += ` ${formatBytes(item.current)}`;
  const end = item.completed ?? item.timestamp;
  if (item.started && end) {
    const took = (end.getTime() - item.started.getTime()) / 1000;
    if (took > 0.01) line += ` ${took.toFixed(1)}s`;
  }
  return item.completed ? `${line} done` : line;
}

/**
 * Turns BuildKit progress records into plain text lines: a step's name when
 * it starts, the lines its command writes (with the seconds since the step
 * started), the progress of transfers and exports (as BuildKit's printer
 * does: when they end, and in between every 5 % or 5 s), and how the step
 * ended.
 *
 * @example Format a step that prints a line and ends
 * ```ts
 * import assert from "node:assert/strict";
 * import { BuildKitPlainText } from "./buildkit_plain.ts";
 *
 * const started = new Date(0);
 * const step = { digest: "sha256:1", inputs: [], name: "[1/1] RUN echo hi", cached: false, started };
 * const text = new BuildKitPlainText();
 * const none = { statuses: [], logs: [], warnings: [] };
 * const lines = [
 *   ...text.update({ ...none, vertexes: [step] }),
 *   ...text.update({
 *     vertexes: [],
 *     statuses: [],
 *     warnings: [],
 *     logs: [{ vertex: "sha256:1", stream: 1, data: new TextEncoder().encode("hi\n"), timestamp: new Date(250) }],
 *   }),
 *   ...text.update({ ...none, vertexes: [{ ...step, completed: new Date(1200) }] }),
 * ];
 * assert.deepEqual(lines, ["#1 [1/1] RUN echo hi", "#1 0.250 hi", "#1 DONE 1.2s"]);
 * ```
 */
export class BuildKitPlainText {
  readonly #steps = new Map<string, Step>();

  /**
   * Formats one record.
   *
   * @param status A decoded record (an event's `buildkit`).
   * @returns The lines it adds, without line ends; none for a record that
   *   only repeats what was shown.
   */
  update(status: BuildKitStatus): string[] {
    const lines: string[] = [];
    for (const vertex of status.vertexes) this.#start(vertex, lines);
    for (const log of status.logs) {
      const step = this.#steps.get(log.vertex);
      if (!step) continue;
      let stream = step.output.get(log.stream);
      if (!stream) {
        stream = { decoder: new TextDecoder(), partial: "", at: "" };
        step.output.set(log.stream, stream);
      }
      const at = step.started && log.timestamp
        ? (Math.max(0, log.timestamp.getTime() - step.started.getTime()) / 1000).toFixed(3)
        : "";
      // A line is stamped with the time its first part was written.
      const first = stream.partial === "" ? at : stream.at;
      const parts = (stream.partial + stream.decoder.decode(log.data, { stream: true })).split(
        "\n",
      );
      stream.partial = parts.pop()!;
      parts.forEach((line, i) => {
        const time = i === 0 ? first : at;
        lines.push(`#${step.number} ${time ? `${time} ` : ""}${line}`);
      });
      stream.at = parts.length > 0 ? at : first;
    }
    for (const item of status.statuses) {
      const step = this.#steps.get(item.vertex);
      const line = step && statusLine(step, item);
      if (line) lines.push(line);
    }
    for (const warning of status.warnings) {
      const step = this.#steps.get(warning.vertex);
      lines.push(`${step ? `#${step.number} ` : ""}WARNING: ${warning.short}`);
      for (const detail of warning.detail) lines.push(`  ${detail}`);
      if (warning.url) lines.push(`  More info: ${warning.url}`);
    }
    // How steps ended comes last: the record's output and statuses belong before it.
    for (const vertex of status.vertexes) this.#end(vertex, lines);
    return lines;
  }

  /**
   * Formats what is still held back: output lines that did not end with a
   * newline. Call it once the build's stream ended.
   *
   * @returns The remaining lines.
   */
  flush(): string[] {
    const lines: string[] = [];
    for (const step of this.#steps.values()) this.#flushOutput(step, lines);
    return lines;
  }

  /** Shows a step the first time it starts or ends; a step only scheduled is not news. */
  #start(vertex: BuildKitVertex, lines: string[]): void {
    const step = this.#steps.get(vertex.digest);
    if (step) {
      if (vertex.started && !step.started) step.started = vertex.started;
      return;
    }
    if (!vertex.started && !vertex.completed && !vertex.cached && vertex.error === undefined) {
      return;
    }
    const number = this.#steps.size + 1;
    this.#steps.set(vertex.digest, {
      number,
      started: vertex.started,
      ended: false,
      output: new Map(),
      statuses: new Map(),
    });
    lines.push(`#${number} ${vertex.name}`);
  }

  /** Shows how a step ended, once. */
  #end(vertex: BuildKitVertex, lines: string[]): void {
    const step = this.#steps.get(vertex.digest);
    if (!step || step.ended) return;
    if (vertex.cached) {
      step.ended = true;
      lines.push(`#${step.number} CACHED`);
    } else if (vertex.error !== undefined) {
      step.ended = true;
      this.#flushOutput(step, lines);
      lines.push(`#${step.number} ERROR: ${vertex.error}`);
    } else if (vertex.completed) {
      step.ended = true;
      this.#flushOutput(step, lines);
      const took = seconds(vertex.started ?? step.started, vertex.completed);
      lines.push(`#${step.number} DONE${took ? ` ${took}s` : ""}`);
    }
  }

  #flushOutput(step: Step, lines: string[]): void {
    for (const stream of step.output.values()) {
      const rest = stream.partial + stream.decoder.decode();
      stream.partial = "";
      if (rest !== "") lines.push(`#${step.number} ${stream.at ? `${stream.at} ` : ""}${rest}`);
    }
  }
}
