/**
 * Tests of decodeBuildKitTrace: records recorded from a Docker 20.10
 * BuildKit build, and synthetic records built with a small protobuf encoder
 * for unknown fields, warnings, edge values and malformed input.
 */

import assert from "node:assert/strict";
import { decodeBuildKitTrace } from "../../src/build/buildkit_trace.ts";
import { DockerProtocolError } from "../../src/errors.ts";
import { varint as referenceVarint } from "./_protobuf_reference.ts";

const encoder = new TextEncoder();

// Lines of a recorded `docker build` (Docker 20.10, BuildKit) of a
// Dockerfile with a FROM, a RUN printing "hello" to stdout and "err" to
// stderr, and a COPY.
const RECORDED = {
  copyContextDone:
    `{"id":"moby.buildkit.trace","aux":"Cr8BCkdzaGEyNTY6OTIxNDMwYTUyYjUxNTdmMmYyNzIxOWVkYzczMGU1MTlhZThiMGU2Y2ExZTY3Y2M1NmM5MzcwOGUzY2Y2M2JjYxJHc2hhMjU2OmUzMGUyN2RjMTJiODQyZDZhYTZkNTIwYzk4NmVjMDM5NDJkZTFmYmVlYTBkZDM4YTVmMWY2ODE4Njc2MGNmNDQaD2NvcHkgL2NvbnRleHQgLyoMCJqawtgGENenksUCMgwImprC2AYQobGqgAM="}`,
  stages:
    `{"id":"moby.buildkit.trace","aux":"CoEBCkdzaGEyNTY6NzAwYmUyOTMzYjQ2YWMxMzBkZmI1MWM5ZDk5MDRjMzZmMDllMTJhMzMzMDk1ZDc5NWI4MjgzOGQ1YjhiMzQ2Nho2W3N0YWdlLTAgMS8zXSBGUk9NIGRvY2tlci5pby9iZXJ0aC10ZXN0L2J1c3lib3g6bGF0ZXN0CvABCkdzaGEyNTY6YjlhNTgxZTA4YjRmYTIwM2Q2MzA0MjkwOTg4ZjNiMTkyZmFkNmQwOWI0NDA3YmQ1Y2I0MDAyZTk2YzBmMjg5NBJHc2hhMjU2OjcwMGJlMjkzM2I0NmFjMTMwZGZiNTFjOWQ5OTA0YzM2ZjA5ZTEyYTMzMzA5NWQ3OTViODI4MzhkNWI4YjM0NjYaXFtzdGFnZS0wIDIvM10gUlVOIC0tbW91bnQ9dHlwZT1jYWNoZSx0YXJnZXQ9L2MgZWNobyBoZWxsbyA+IC9jL3ggJiYgY2F0IC9jL3ggJiYgZWNobyBlcnIgPiYyCvwBCkdzaGEyNTY6ZWI0ZTBlZTY2Y2E1MmIwYWZmOWU4YWZlNzAwZDZjZTBhMzMzZTE0OTFiYmFkZDdiNTBkODk1YmVmYjY0YTRlZBJHc2hhMjU2OmI5YTU4MWUwOGI0ZmEyMDNkNjMwNDI5MDk4OGYzYjE5MmZhZDZkMDliNDQwN2JkNWNiNDAwMmU5NmMwZjI4OTQSR3NoYTI1Njo5MjE0MzBhNTJiNTE1N2YyZjI3MjE5ZWRjNzMwZTUxOWFlOGIwZTZjYTFlNjdjYzU2YzkzNzA4ZTNjZjYzYmNjGh9bc3RhZ2UtMCAzLzNdIENPUFkgYS50eHQgL2EudHh0"}`,
  fromCached:
    `{"id":"moby.buildkit.trace","aux":"Cp8BCkdzaGEyNTY6NzAwYmUyOTMzYjQ2YWMxMzBkZmI1MWM5ZDk5MDRjMzZmMDllMTJhMzMzMDk1ZDc5NWI4MjgzOGQ1YjhiMzQ2Nho2W3N0YWdlLTAgMS8zXSBGUk9NIGRvY2tlci5pby9iZXJ0aC10ZXN0L2J1c3lib3g6bGF0ZXN0IAEqDAiamsLYBhDYsqiLAzIMCJqawtgGEOzOrIsD"}`,
  stdout:
    `{"id":"moby.buildkit.trace","aux":"GmEKR3NoYTI1NjpiOWE1ODFlMDhiNGZhMjAzZDYzMDQyOTA5ODhmM2IxOTJmYWQ2ZDA5YjQ0MDdiZDVjYjQwMDJlOTZjMGYyODk0EgwImprC2AYQrZyPvQMYASIGaGVsbG8K"}`,
  stderr:
    `{"id":"moby.buildkit.trace","aux":"Gl8KR3NoYTI1NjpiOWE1ODFlMDhiNGZhMjAzZDYzMDQyOTA5ODhmM2IxOTJmYWQ2ZDA5YjQ0MDdiZDVjYjQwMDJlOTZjMGYyODk0EgwImprC2AYQ0tO8vQMYAiIEZXJyCg=="}`,
  exporting:
    `{"id":"moby.buildkit.trace","aux":"CmsKR3NoYTI1NjplOGM2MTNlMDdiMGI3ZmYzMzg5M2I2OTRmNzc1OWExMGQ0MmUxODBmMmI0ZGMzNDlmYjU3ZGM2YjcxZGNhYjAwGhJleHBvcnRpbmcgdG8gaW1hZ2UqDAiamsLYBhC1oaPIAxJ3ChBleHBvcnRpbmcgbGF5ZXJzEkdzaGEyNTY6ZThjNjEzZTA3YjBiN2ZmMzM4OTNiNjk0Zjc3NTlhMTBkNDJlMTgwZjJiNGRjMzQ5ZmI1N2RjNmI3MWRjYWIwMDIMCJqawtgGEJTbp8gDOgwImprC2AYQi9enyAM="}`,
};

const CONTEXT = "sha256:e30e27dc12b842d6aa6d520c986ec03942de1fbeea0dd38a5f1f68186760cf44";
const COPY_CONTEXT = "sha256:921430a52b5157f2f27219edc730e519ae8b0e6ca1e67cc56c93708e3cf63bcc";
const FROM = "sha256:700be2933b46ac130dfb51c9d9904c36f09e12a333095d795b82838d5b8b3466";
const RUN = "sha256:b9a581e08b4fa203d6304290988f3b192fad6d09b4407bd5cb4002e96c0f2894";
const COPY = "sha256:eb4e0ee66ca52b0aff9e8afe700d6ce0a333e1491bbadd7b50d895befb64a4ed";
const EXPORT = "sha256:e8c613e07b0b7ff33893b694f7759a10d42e180f2b4dc349fb57dc6b71dcab00";

function auxOf(line: string): string {
  const parsed = JSON.parse(line) as { id: string; aux: string };
  assert.equal(parsed.id, "moby.buildkit.trace");
  return parsed.aux;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A varint; a negative value is written as its 64-bit two's complement (10 bytes). */
function varint(value: number | bigint): Uint8Array {
  return Uint8Array.from(referenceVarint(value));
}

function tag(field: number, wire: number): Uint8Array {
  return varint(BigInt(field) * 8n + BigInt(wire));
}

function varintField(field: number, value: number | bigint): Uint8Array {
  return concat(tag(field, 0), varint(value));
}

function fixed64Field(field: number, value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return concat(tag(field, 1), bytes);
}

function bytesField(field: number, value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  return concat(tag(field, 2), varint(bytes.length), bytes);
}

function fixed32Field(field: number, value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
  return concat(tag(field, 5), bytes);
}

function messageField(field: number, ...parts: Uint8Array[]): Uint8Array {
  return bytesField(field, concat(...parts));
}

function timestampField(field: number, seconds: number, nanos = 0): Uint8Array {
  return messageField(field, varintField(1, seconds), varintField(2, nanos));
}

function aux(...parts: Uint8Array[]): string {
  return concat(...parts).toBase64();
}

/**
 * One unknown field of each wire type, numbered from `first`, with values
 * that would be invalid if they were read as anything but skipped.
 */
function unknownFields(first: number): Uint8Array {
  return concat(
    varintField(first, -1),
    fixed64Field(first + 1, 0xffff_ffff_ffff_ffffn),
    bytesField(first + 2, new Uint8Array([0xff, 0xff, 0xff, 0x07, 0x00])),
    fixed32Field(first + 3, 0xffff_ffff),
  );
}

function isInvalidTrace(error: unknown): boolean {
  return error instanceof DockerProtocolError && error.code === "INVALID_BUILDKIT_TRACE" &&
    error.message.startsWith("Invalid BuildKit trace: ");
}

function assertInvalid(aux: string, message?: string): void {
  assert.throws(() => decodeBuildKitTrace(aux), isInvalidTrace, message);
}

Deno.test("decodeBuildKitTrace decodes records of a recorded Docker 20.10 build", async (t) => {
  await t.step("the stdout log of a RUN step", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.stdout));
    assert.deepEqual(status, {
      vertexes: [],
      statuses: [],
      logs: [{
        vertex: RUN,
        timestamp: new Date("2026-12-02T21:26:50.933Z"),
        stream: 1,
        data: encoder.encode("hello\n"),
      }],
      warnings: [],
    });
    assert.ok(status.logs[0]?.data instanceof Uint8Array);
    assert.equal(status.logs[0]?.timestamp?.toISOString(), "2026-12-02T21:26:50.933Z");
  });

  await t.step("the stderr log of a RUN step", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.stderr));
    assert.deepEqual(status.logs, [{
      vertex: RUN,
      timestamp: new Date("2026-12-02T21:26:50.934Z"),
      stream: 2,
      data: encoder.encode("err\n"),
    }]);
    assert.deepEqual([...status.logs[0]!.data], [0x65, 0x72, 0x72, 0x0a]);
  });

  await t.step("a vertex with an input that started and completed", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.copyContextDone));
    assert.deepEqual(status, {
      vertexes: [{
        digest: COPY_CONTEXT,
        inputs: [CONTEXT],
        name: "copy /context /",
        cached: false,
        started: new Date("2026-12-02T21:26:50.681Z"),
        completed: new Date("2026-12-02T21:26:50.806Z"),
      }],
      statuses: [],
      logs: [],
      warnings: [],
    });
    const [vertex] = status.vertexes;
    assert.equal(vertex?.started?.toISOString(), "2026-12-02T21:26:50.681Z");
    assert.equal(vertex?.completed?.toISOString(), "2026-12-02T21:26:50.806Z");
    assert.ok(!("error" in vertex));
  });

  await t.step("the three stages of the Dockerfile, in order, with their inputs", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.stages));
    assert.deepEqual(status.vertexes, [
      {
        digest: FROM,
        inputs: [],
        name: "[stage-0 1/3] FROM docker.io/berth-test/busybox:latest",
        cached: false,
      },
      {
        digest: RUN,
        inputs: [FROM],
        name:
          "[stage-0 2/3] RUN --mount=type=cache,target=/c echo hello > /c/x && cat /c/x && echo err >&2",
        cached: false,
      },
      {
        digest: COPY,
        inputs: [RUN, COPY_CONTEXT],
        name: "[stage-0 3/3] COPY a.txt /a.txt",
        cached: false,
      },
    ]);
    assert.deepEqual([status.statuses, status.logs, status.warnings], [[], [], []]);
  });

  await t.step("a cached vertex", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.fromCached));
    assert.deepEqual(status.vertexes, [{
      digest: FROM,
      inputs: [],
      name: "[stage-0 1/3] FROM docker.io/berth-test/busybox:latest",
      cached: true,
      started: new Date("2026-12-02T21:26:50.829Z"),
      completed: new Date("2026-12-02T21:26:50.829Z"),
    }]);
  });

  await t.step("the export vertex with the status of its layers", () => {
    const status = decodeBuildKitTrace(auxOf(RECORDED.exporting));
    assert.deepEqual(status, {
      vertexes: [{
        digest: EXPORT,
        inputs: [],
        name: "exporting to image",
        cached: false,
        started: new Date("2026-12-02T21:26:50.956Z"),
      }],
      statuses: [{
        id: "exporting layers",
        vertex: EXPORT,
        name: "",
        current: 0,
        total: 0,
        timestamp: new Date("2026-12-02T21:26:50.956Z"),
        started: new Date("2026-12-02T21:26:50.956Z"),
      }],
      logs: [],
      warnings: [],
    });
    assert.ok(!("completed" in status.vertexes[0]!));
    assert.ok(!("completed" in status.statuses[0]!));
  });
});

Deno.test("decodeBuildKitTrace returns four empty arrays for an empty record", () => {
  assert.deepEqual(decodeBuildKitTrace(""), {
    vertexes: [],
    statuses: [],
    logs: [],
    warnings: [],
  });
});

Deno.test("decodeBuildKitTrace fills defaults for fields a record leaves out", () => {
  const status = decodeBuildKitTrace(aux(
    messageField(1),
    messageField(2),
    messageField(3),
    messageField(4),
  ));
  assert.deepEqual(status, {
    vertexes: [{ digest: "", inputs: [], name: "", cached: false }],
    statuses: [{ id: "", vertex: "", name: "", current: 0, total: 0 }],
    logs: [{ vertex: "", stream: 0, data: new Uint8Array(0) }],
    warnings: [{ vertex: "", level: 0, short: "", detail: [] }],
  });
});

Deno.test("decodeBuildKitTrace keeps the order of entries of each kind", () => {
  const status = decodeBuildKitTrace(aux(
    messageField(1, bytesField(1, "sha256:a")),
    messageField(3, bytesField(1, "sha256:a"), varintField(3, 1), bytesField(4, "one")),
    messageField(1, bytesField(1, "sha256:b"), varintField(4, 2)),
    messageField(2, bytesField(1, "first"), bytesField(2, "sha256:a")),
    messageField(3, bytesField(1, "sha256:b"), varintField(3, 2), bytesField(4, "two")),
    messageField(2, bytesField(1, "second"), bytesField(2, "sha256:b"), bytesField(3, "Second")),
  ));
  assert.deepEqual(status.vertexes.map((v) => [v.digest, v.cached]), [
    ["sha256:a", false],
    ["sha256:b", true],
  ]);
  assert.deepEqual(status.statuses.map((s) => [s.id, s.vertex, s.name]), [
    ["first", "sha256:a", ""],
    ["second", "sha256:b", "Second"],
  ]);
  assert.deepEqual(status.logs.map((l) => [l.vertex, l.stream, new TextDecoder().decode(l.data)]), [
    ["sha256:a", 1, "one"],
    ["sha256:b", 2, "two"],
  ]);
});

Deno.test("decodeBuildKitTrace skips unknown fields of every wire type at every level", async (t) => {
  const timestamp = (field: number, seconds: number, nanos: number) =>
    messageField(
      field,
      unknownFields(3),
      varintField(1, seconds),
      unknownFields(7),
      varintField(2, nanos),
      unknownFields(100),
    );
  const progressGroup = messageField(
    8,
    bytesField(1, "group-1"),
    bytesField(2, "Pulling layers"),
    varintField(3, 1),
  );
  const sourceInfo = messageField(
    6,
    bytesField(1, "Dockerfile"),
    bytesField(2, "FROM busybox\nMAINTAINER me\n"),
    messageField(3, bytesField(1, new Uint8Array([0x0a, 0x00]))),
    bytesField(4, "Dockerfile"),
  );
  const range = (line: number) =>
    messageField(
      7,
      messageField(1, varintField(1, line), varintField(2, 0)),
      messageField(2, varintField(1, line), varintField(2, 14)),
    );

  const record = aux(
    unknownFields(5),
    messageField(
      1,
      unknownFields(9),
      bytesField(1, "sha256:v"),
      progressGroup,
      bytesField(2, "sha256:in"),
      unknownFields(20),
      bytesField(3, "[1/2] FROM busybox"),
      varintField(4, 1),
      timestamp(5, 1_700_000_000, 123_456_789),
      unknownFields(536_870_900),
      timestamp(6, 1_700_000_001, 0),
      bytesField(7, "failed"),
      progressGroup,
    ),
    unknownFields(9),
    messageField(
      2,
      bytesField(1, "layer"),
      unknownFields(9),
      bytesField(2, "sha256:v"),
      bytesField(3, "Layer"),
      unknownFields(12),
      varintField(4, 10),
      varintField(5, 20),
      timestamp(6, 1_700_000_002, 0),
      timestamp(7, 1_700_000_003, 0),
      timestamp(8, 1_700_000_004, 0),
      unknownFields(16),
    ),
    messageField(
      3,
      unknownFields(5),
      bytesField(1, "sha256:v"),
      timestamp(2, 1_700_000_005, 0),
      varintField(3, 1),
      bytesField(4, "out"),
      unknownFields(200),
    ),
    messageField(
      4,
      bytesField(1, "sha256:v"),
      sourceInfo,
      varintField(2, 1),
      range(2),
      bytesField(3, "MAINTAINER is deprecated"),
      range(3),
      bytesField(4, "Use LABEL instead"),
      unknownFields(8),
      bytesField(5, "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"),
      sourceInfo,
    ),
    unknownFields(1_000),
  );

  const expected = {
    vertexes: [{
      digest: "sha256:v",
      inputs: ["sha256:in"],
      name: "[1/2] FROM busybox",
      cached: true,
      started: new Date("2023-11-14T22:13:20.123Z"),
      completed: new Date("2023-11-14T22:13:21.000Z"),
      error: "failed",
    }],
    statuses: [{
      id: "layer",
      vertex: "sha256:v",
      name: "Layer",
      current: 10,
      total: 20,
      timestamp: new Date("2023-11-14T22:13:22.000Z"),
      started: new Date("2023-11-14T22:13:23.000Z"),
      completed: new Date("2023-11-14T22:13:24.000Z"),
    }],
    logs: [{
      vertex: "sha256:v",
      timestamp: new Date("2023-11-14T22:13:25.000Z"),
      stream: 1,
      data: encoder.encode("out"),
    }],
    warnings: [{
      vertex: "sha256:v",
      level: 1,
      short: "MAINTAINER is deprecated",
      detail: ["Use LABEL instead"],
      url: "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
    }],
  };

  await t.step("in a record mixing every kind of entry", () => {
    assert.deepEqual(decodeBuildKitTrace(record), expected);
  });

  await t.step("around the fields of a recorded record", () => {
    const recorded = Uint8Array.fromBase64(auxOf(RECORDED.stdout));
    const padded = aux(unknownFields(5), recorded, unknownFields(12));
    assert.deepEqual(decodeBuildKitTrace(padded), decodeBuildKitTrace(auxOf(RECORDED.stdout)));
  });

  await t.step("when a record holds nothing else", () => {
    assert.deepEqual(decodeBuildKitTrace(aux(unknownFields(5), unknownFields(1_000_000))), {
      vertexes: [],
      statuses: [],
      logs: [],
      warnings: [],
    });
  });
});

Deno.test("decodeBuildKitTrace decodes warnings with their detail and url", async (t) => {
  await t.step("level, short, several detail entries and url", () => {
    const status = decodeBuildKitTrace(aux(messageField(
      4,
      bytesField(1, "sha256:w"),
      varintField(2, 2),
      bytesField(3, "JSONArgsRecommended: JSON arguments recommended for CMD"),
      bytesField(4, "Use JSON arguments for CMD"),
      bytesField(4, ""),
      bytesField(4, "to prevent unintended behavior — ✓"),
      bytesField(5, "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"),
    )));
    assert.deepEqual(status.warnings, [{
      vertex: "sha256:w",
      level: 2,
      short: "JSONArgsRecommended: JSON arguments recommended for CMD",
      detail: ["Use JSON arguments for CMD", "", "to prevent unintended behavior — ✓"],
      url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    }]);
  });

  await t.step("no url key when the url is empty or left out", () => {
    const status = decodeBuildKitTrace(aux(
      messageField(4, bytesField(1, "sha256:a"), varintField(2, 1), bytesField(5, "")),
      messageField(4, bytesField(1, "sha256:b"), bytesField(3, "short only")),
    ));
    assert.deepEqual(status.warnings, [
      { vertex: "sha256:a", level: 1, short: "", detail: [] },
      { vertex: "sha256:b", level: 0, short: "short only", detail: [] },
    ]);
    assert.ok(!("url" in status.warnings[0]!));
    assert.ok(!("url" in status.warnings[1]!));
  });

  await t.step("a later url replaces an earlier one, an empty one does not erase it", () => {
    const status = decodeBuildKitTrace(aux(messageField(
      4,
      bytesField(5, "https://a.example/"),
      bytesField(5, "https://b.example/"),
      bytesField(5, ""),
    )));
    assert.equal(status.warnings[0]?.url, "https://b.example/");
  });
});

Deno.test("decodeBuildKitTrace sets a vertex's error only when it is not empty", () => {
  const status = decodeBuildKitTrace(aux(
    messageField(
      1,
      bytesField(1, "sha256:failed"),
      bytesField(7, 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'),
    ),
    messageField(1, bytesField(1, "sha256:empty"), bytesField(7, "")),
    messageField(1, bytesField(1, "sha256:none")),
  ));
  const [failed, empty, none] = status.vertexes;
  assert.equal(
    failed?.error,
    'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
  );
  assert.ok(!("error" in empty!));
  assert.ok(!("error" in none!));
});

Deno.test("decodeBuildKitTrace reads a cached flag of any non-zero varint as true", () => {
  const status = decodeBuildKitTrace(aux(
    messageField(1, varintField(4, 0)),
    messageField(1, varintField(4, 1)),
    messageField(1, varintField(4, 2)),
    messageField(1, varintField(4, 1), varintField(4, 0)),
  ));
  assert.deepEqual(status.vertexes.map((v) => v.cached), [false, true, true, false]);
});

Deno.test("decodeBuildKitTrace rounds timestamps down to the millisecond", () => {
  const cases: [seconds: number | undefined, nanos: number | undefined, iso: string][] = [
    [1_700_000_000, 0, "2023-11-14T22:13:20.000Z"],
    [1_700_000_000, 999_999, "2023-11-14T22:13:20.000Z"],
    [1_700_000_000, 1_000_000, "2023-11-14T22:13:20.001Z"],
    [1_700_000_000, 123_456_789, "2023-11-14T22:13:20.123Z"],
    [1_700_000_000, 999_999_999, "2023-11-14T22:13:20.999Z"],
    [1_700_000_000, undefined, "2023-11-14T22:13:20.000Z"],
    [undefined, 5_000_000, "1970-01-01T00:00:00.005Z"],
    [undefined, undefined, "1970-01-01T00:00:00.000Z"],
    [253_402_300_799, 999_000_000, "9999-12-31T23:59:59.999Z"],
  ];
  for (const [seconds, nanos, iso] of cases) {
    const parts: Uint8Array[] = [];
    if (seconds !== undefined) parts.push(varintField(1, seconds));
    if (nanos !== undefined) parts.push(varintField(2, nanos));
    const status = decodeBuildKitTrace(aux(messageField(3, messageField(2, ...parts))));
    const timestamp = status.logs[0]?.timestamp;
    assert.ok(timestamp instanceof Date);
    assert.equal(timestamp.toISOString(), iso, `seconds ${seconds}, nanos ${nanos}`);
  }
});

Deno.test("decodeBuildKitTrace leaves out a timestamp beyond what a Date holds", () => {
  for (const seconds of [9e12, 2 ** 53, 2 ** 63]) {
    const record = aux(messageField(3, messageField(2, varintField(1, seconds))));
    const log = decodeBuildKitTrace(record).logs[0];
    assert.ok(log !== undefined);
    assert.equal("timestamp" in log, false, `seconds ${seconds}`);
  }
});

Deno.test("decodeBuildKitTrace reads large varints exactly", () => {
  const status = decodeBuildKitTrace(aux(
    messageField(2, varintField(4, 5_000_000_000), varintField(5, 5_000_000_000)),
    messageField(2, varintField(4, 2 ** 32), varintField(5, Number.MAX_SAFE_INTEGER)),
    messageField(2, varintField(4, 127), varintField(5, 128)),
  ));
  assert.deepEqual(status.statuses.map((s) => [s.current, s.total]), [
    [5_000_000_000, 5_000_000_000],
    [2 ** 32, Number.MAX_SAFE_INTEGER],
    [127, 128],
  ]);
});

Deno.test("decodeBuildKitTrace reads negative int64 varints as negative numbers", async (t) => {
  await t.step("the encoding under test is a 10-byte two's complement", () => {
    assert.deepEqual(
      [...varint(-1)],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    );
    assert.equal(varint(-5).length, 10);
  });

  await t.step("large magnitudes", () => {
    const status = decodeBuildKitTrace(aux(
      messageField(2, varintField(4, -(2 ** 31)), varintField(5, Number.MIN_SAFE_INTEGER - 1)),
    ));
    assert.deepEqual([status.statuses[0]?.current, status.statuses[0]?.total], [
      -(2 ** 31),
      Number.MIN_SAFE_INTEGER - 1,
    ]);
  });

  await t.step("small magnitudes", () => {
    const status = decodeBuildKitTrace(aux(
      messageField(2, varintField(4, -5), varintField(5, -1)),
      messageField(4, varintField(2, -1)),
      messageField(2, varintField(4, -1_796_246_810), varintField(5, -1000)),
    ));
    assert.deepEqual(status.statuses.map((s) => [s.current, s.total]), [
      [-5, -1],
      [-1_796_246_810, -1000],
    ]);
    assert.equal(status.warnings[0]?.level, -1);
  });

  await t.step("timestamps before 1970", () => {
    const status = decodeBuildKitTrace(aux(
      messageField(3, timestampField(2, -1, 500_000_000)),
      messageField(3, timestampField(2, -86_400)),
    ));
    assert.deepEqual(status.logs.map((l) => l.timestamp?.toISOString()), [
      "1969-12-31T23:59:59.500Z",
      "1969-12-31T00:00:00.000Z",
    ]);
  });
});

Deno.test("decodeBuildKitTrace gives a log's data as the exact bytes written", () => {
  const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xe2, 0x82, 0x0a]);
  const status = decodeBuildKitTrace(aux(
    messageField(3, bytesField(1, "sha256:v"), varintField(3, 2), bytesField(4, bytes)),
    messageField(3, bytesField(1, "sha256:v"), varintField(3, 1), bytesField(4, "")),
  ));
  const [binary, empty] = status.logs;
  assert.ok(binary?.data instanceof Uint8Array);
  assert.deepEqual(binary.data, bytes);
  assert.deepEqual([...binary.data], [0xff, 0xfe, 0x00, 0xc3, 0x28, 0xe2, 0x82, 0x0a]);
  assert.equal(binary.stream, 2);
  assert.ok(empty?.data instanceof Uint8Array);
  assert.equal(empty.data.length, 0);
});

Deno.test("decodeBuildKitTrace rejects malformed records with INVALID_BUILDKIT_TRACE", async (t) => {
  await t.step("text that is not base64", () => {
    assertInvalid("%%%");
    assertInvalid("not base64!");
  });

  await t.step("a non-string argument", () => {
    for (const value of [undefined, null, 42, new Uint8Array([0x0a, 0x00]), { aux: "" }]) {
      assert.throws(
        () => decodeBuildKitTrace(value as unknown as string),
        isInvalidTrace,
        String(value),
      );
    }
  });

  await t.step("recorded records missing their last byte", () => {
    for (const [name, line] of Object.entries(RECORDED)) {
      const bytes = Uint8Array.fromBase64(auxOf(line));
      assertInvalid(bytes.subarray(0, bytes.length - 1).toBase64(), name);
    }
  });

  await t.step("a recorded record cut anywhere", () => {
    const bytes = Uint8Array.fromBase64(auxOf(RECORDED.stdout));
    for (let cut = 1; cut < bytes.length; cut++) {
      assertInvalid(bytes.subarray(0, cut).toBase64(), `cut at ${cut}`);
    }
  });

  await t.step("a length that runs past the end of the record", () => {
    assertInvalid(aux(tag(1, 2), varint(5), new Uint8Array([0x0a, 0x00])));
    assertInvalid(aux(tag(1, 2), varint(2 ** 40)));
  });

  await t.step("a length that runs past the end of its enclosing message", () => {
    const vertex = concat(tag(1, 2), varint(10), encoder.encode("sha"));
    assertInvalid(aux(messageField(1, vertex), messageField(1, bytesField(3, "padding"))));
  });

  await t.step("a varint cut short", () => {
    assertInvalid(aux(messageField(2, tag(4, 0), new Uint8Array([0x80, 0x80]))));
    assertInvalid(aux(new Uint8Array([0x80])));
  });

  await t.step("a varint longer than 10 bytes", () => {
    const long = new Uint8Array([...Array(10).fill(0xff), 0x01]);
    assertInvalid(aux(messageField(2, tag(4, 0), long)));
    assertInvalid(aux(tag(9, 0), long));
    assertInvalid(aux(new Uint8Array([...Array(10).fill(0x80), 0x08, 0x00])));
  });

  await t.step("a 10-byte varint beyond 64 bits", () => {
    const wide = new Uint8Array([...Array(9).fill(0xff), 0x02]);
    assertInvalid(aux(messageField(2, tag(4, 0), wide)));
  });

  await t.step("a known field with the wrong wire type", () => {
    assertInvalid(aux(messageField(1, varintField(1, 1))), "vertex digest as varint");
    assertInvalid(aux(varintField(1, 1)), "vertexes as varint");
    assertInvalid(aux(fixed64Field(3, 1n)), "logs as fixed64");
    assertInvalid(aux(messageField(1, bytesField(4, "true"))), "cached as bytes");
    assertInvalid(aux(messageField(1, varintField(5, 1))), "started as varint");
    assertInvalid(aux(messageField(2, fixed64Field(4, 1n))), "current as fixed64");
    assertInvalid(aux(messageField(3, fixed32Field(3, 1))), "stream as fixed32");
    assertInvalid(aux(messageField(4, bytesField(2, "1"))), "level as bytes");
    assertInvalid(aux(messageField(3, messageField(2, bytesField(1, "1")))), "seconds as bytes");
  });

  await t.step("group and undefined wire types", () => {
    for (const wire of [3, 4, 6, 7]) {
      assertInvalid(aux(tag(9, wire)), `top-level wire ${wire}`);
      assertInvalid(aux(messageField(1, bytesField(1, "sha256:v"), tag(9, wire))), `wire ${wire}`);
      assertInvalid(aux(messageField(4, tag(7, wire), tag(7, 4))), `warning wire ${wire}`);
    }
  });

  await t.step("field number 0", () => {
    assertInvalid(aux(tag(0, 0), varint(1)));
    assertInvalid(aux(tag(0, 2), varint(0)));
    assertInvalid(aux(messageField(1, tag(0, 2), varint(0))));
    assertInvalid(aux(messageField(3, messageField(2, tag(0, 0), varint(0)))));
  });

  await t.step("a fixed-size field cut short", () => {
    assertInvalid(aux(tag(9, 1), new Uint8Array(7)), "fixed64 of 7 bytes");
    assertInvalid(aux(messageField(1, tag(9, 1), new Uint8Array(7))), "nested fixed64");
    assertInvalid(aux(tag(9, 5), new Uint8Array(3)), "fixed32 of 3 bytes");
    assertInvalid(
      aux(messageField(2, tag(9, 5), new Uint8Array(3)), fixed32Field(9, 0)),
      "nested fixed32 completed by bytes after its message",
    );
  });
});
