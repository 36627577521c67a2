/**
 * Decoding of BuildKit's progress records. A BuildKit build
 * (`Images.build` with `version: "2"`) reports its progress as lines
 * `{"id":"moby.buildkit.trace","aux":"<base64>"}` whose `aux` is a
 * protobuf `moby.buildkit.v1.StatusResponse`: the build graph's vertexes
 * (steps) as they start, finish, hit the cache or fail, the progress of
 * their transfers, the output of their `RUN` commands, and warnings.
 *
 * The reader here knows only the wire format and the fields berth
 * exposes; fields it does not know (added by newer engines) are skipped.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import { fields, ProtobufError, Reader, WIRE_BYTES, WIRE_VARINT } from "./_protobuf.ts";

/** A step of the build graph (a vertex), as it is scheduled, starts, ends or fails. */
export interface BuildKitVertex {
  /** Digest naming the vertex, such as `sha256:…`; other records refer to it. */
  digest: string;
  /** Digests of the vertexes this one depends on. */
  inputs: string[];
  /** What the step does, such as `[stage-0 2/3] RUN make` or `[internal] load build context`. */
  name: string;
  /** Whether the result came from the build cache. */
  cached: boolean;
  /** When the step started (absent while it waits). */
  started?: Date;
  /** When the step ended (absent while it runs). */
  completed?: Date;
  /** Why the step failed, such as `executor failed running [/bin/sh -c make]: exit code: 2`. */
  error?: string;
}

/** Progress of one piece of work inside a vertex, such as a layer download or an export. */
export interface BuildKitVertexStatus {
  /** Id of the piece of work, such as `exporting layers` or a layer digest. */
  id: string;
  /** Digest of the vertex it belongs to. */
  vertex: string;
  /** Display name, when it differs from `id`. */
  name: string;
  /** Work done so far (bytes for transfers). */
  current: number;
  /** Work in all, 0 when unknown. */
  total: number;
  /** When this progress was measured. */
  timestamp?: Date;
  /** When the piece of work started. */
  started?: Date;
  /** When the piece of work ended. */
  completed?: Date;
}

/** Output of a vertex, such as what a `RUN` command writes. */
export interface BuildKitVertexLog {
  /** Digest of the vertex that wrote it. */
  vertex: string;
  /** When it was written. */
  timestamp?: Date;
  /** The stream written to: 1 for stdout, 2 for stderr. */
  stream: number;
  /** The bytes written (not necessarily whole lines or whole UTF-8 sequences). */
  data: Uint8Array;
}

/** A warning BuildKit raised about a vertex, such as a deprecated Dockerfile form. */
export interface BuildKitVertexWarning {
  /** Digest of the vertex it is about. */
  vertex: string;
  /** Severity level as BuildKit numbers it. */
  level: number;
  /** One-line summary. */
  short: string;
  /** Further lines of explanation. */
  detail: string[];
  /** A page describing the warning, when there is one. */
  url?: string;
}

/** One BuildKit progress record: what changed since the previous one. */
export interface BuildKitStatus {
  /** Vertexes that were added or changed state. */
  vertexes: BuildKitVertex[];
  /** Progress of work inside vertexes. */
  statuses: BuildKitVertexStatus[];
  /** Output written by vertexes. */
  logs: BuildKitVertexLog[];
  /** Warnings raised. */
  warnings: BuildKitVertexWarning[];
}

const V = WIRE_VARINT;
const B = WIRE_BYTES;

function invalid(message: string): DockerProtocolError {
  return new DockerProtocolError("INVALID_BUILDKIT_TRACE", `Invalid BuildKit trace: ${message}`);
}

/**
 * A protobuf `Timestamp`; `undefined` when it is beyond what a `Date` holds
 * (±275,000 years): left out of the record, never an Invalid Date that
 * throws in a caller's `toISOString()`.
 */
function timestamp(reader: Reader): Date | undefined {
  let seconds = 0;
  let nanos = 0;
  fields(reader.message(), { 1: V, 2: V }, (field, part) => {
    if (field === 1) seconds = part.varint();
    else nanos = part.varint();
  });
  const date = new Date(seconds * 1000 + Math.floor(nanos / 1e6));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Sets `out[key]` to the timestamp in `part`, when it is one a `Date` holds. */
function setTime<K extends string>(out: { [key in K]?: Date }, key: K, part: Reader): void {
  const date = timestamp(part);
  if (date !== undefined) out[key] = date;
}

function vertex(reader: Reader): BuildKitVertex {
  const out: BuildKitVertex = { digest: "", inputs: [], name: "", cached: false };
  fields(reader, { 1: B, 2: B, 3: B, 4: V, 5: B, 6: B, 7: B }, (field, part) => {
    if (field === 1) out.digest = part.string();
    else if (field === 2) out.inputs.push(part.string());
    else if (field === 3) out.name = part.string();
    else if (field === 4) out.cached = part.varint() !== 0;
    else if (field === 5) setTime(out, "started", part);
    else if (field === 6) setTime(out, "completed", part);
    else {
      const error = part.string();
      if (error !== "") out.error = error;
    }
  });
  return out;
}

function vertexStatus(reader: Reader): BuildKitVertexStatus {
  const out: BuildKitVertexStatus = { id: "", vertex: "", name: "", current: 0, total: 0 };
  fields(reader, { 1: B, 2: B, 3: B, 4: V, 5: V, 6: B, 7: B, 8: B }, (field, part) => {
    if (field === 1) out.id = part.string();
    else if (field === 2) out.vertex = part.string();
    else if (field === 3) out.name = part.string();
    else if (field === 4) out.current = part.varint();
    else if (field === 5) out.total = part.varint();
    else if (field === 6) setTime(out, "timestamp", part);
    else if (field === 7) setTime(out, "started", part);
    else setTime(out, "completed", part);
  });
  return out;
}

function vertexLog(reader: Reader): BuildKitVertexLog {
  const out: BuildKitVertexLog = { vertex: "", stream: 0, data: new Uint8Array(0) };
  fields(reader, { 1: B, 2: B, 3: V, 4: B }, (field, part) => {
    if (field === 1) out.vertex = part.string();
    else if (field === 2) setTime(out, "timestamp", part);
    else if (field === 3) out.stream = part.varint();
    else out.data = part.bytes();
  });
  return out;
}

function vertexWarning(reader: Reader): BuildKitVertexWarning {
  const out: BuildKitVertexWarning = { vertex: "", level: 0, short: "", detail: [] };
  fields(reader, { 1: B, 2: V, 3: B, 4: B, 5: B }, (field, part) => {
    if (field === 1) out.vertex = part.string();
    else if (field === 2) out.level = part.varint();
    else if (field === 3) out.short = part.string();
    else if (field === 4) out.detail.push(part.string());
    else {
      const url = part.string();
      if (url !== "") out.url = url;
    }
  });
  return out;
}

/**
 * Decodes the `aux` of a `moby.buildkit.trace` line of a BuildKit build:
 * base64 of a protobuf `StatusResponse`. Fields newer engines add are
 * skipped. `Images.build` does this for every such line and puts the
 * result in the event's `buildkit` field; call it yourself only for
 * records obtained some other way.
 *
 * @param aux The base64 text of the line's `aux`.
 * @returns The vertexes, statuses, logs and warnings of the record (each
 *   log's `data` is a view into one buffer decoded from `aux`).
 * @throws {DockerProtocolError} With code `INVALID_BUILDKIT_TRACE` when
 *   `aux` is not base64 or not a valid `StatusResponse`.
 *
 * @example Decode a record naming one vertex
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBuildKitTrace } from "@berth/docker";
 *
 * const status = decodeBuildKitTrace(
 *   "CikKCHNoYTI1NjoxGh1baW50ZXJuYWxdIGxvYWQgYnVpbGQgY29udGV4dA==",
 * );
 * assert.equal(status.vertexes[0]?.digest, "sha256:1");
 * assert.equal(status.vertexes[0]?.name, "[internal] load build context");
 * ```
 */
export function decodeBuildKitTrace(aux: string): BuildKitStatus {
  if (typeof aux !== "string") throw invalid(`aux is a ${typeof aux}, not base64 text`);
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(aux);
  } catch {
    throw invalid("aux is not base64");
  }
  const status: BuildKitStatus = { vertexes: [], statuses: [], logs: [], warnings: [] };
  try {
    fields(new Reader(bytes), { 1: B, 2: B, 3: B, 4: B }, (field, part) => {
      const message = part.message();
      if (field === 1) status.vertexes.push(vertex(message));
      else if (field === 2) status.statuses.push(vertexStatus(message));
      else if (field === 3) status.logs.push(vertexLog(message));
      else status.warnings.push(vertexWarning(message));
    });
  } catch (error) {
    if (error instanceof ProtobufError) throw invalid(error.message);
    throw error;
  }
  return status;
}
