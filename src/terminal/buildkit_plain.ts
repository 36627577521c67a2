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

import type { BuildKitStatus, BuildKitVertex } from "../build/buildkit_trace.ts";

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
  /** Statuses already shown as done. */
  doneStatuses: Set<string>;
}

function seconds(from: Date | undefined, to: Date | undefined): string {
  if (!from || !to) return "";
  return (Math.max(0, to.getTime() - from.getTime()) / 1000).toFixed(1);
}

/**
 * Turns BuildKit progress records into plain text lines: a step's name when
 * it starts, the lines its command writes (with the seconds since the step
 * started), transfers and exports when they end, and how the step ended.
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
      if (!step || !item.completed || step.doneStatuses.has(item.id)) continue;
      step.doneStatuses.add(item.id);
      const took = seconds(item.started, item.completed);
      lines.push(`#${step.number} ${item.name || item.id} done${took ? ` ${took}s` : ""}`);
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
      doneStatuses: new Set(),
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
