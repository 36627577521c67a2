/**
 * Tests of BuildKitPlainText (BuildKit progress records as `--progress=plain`
 * text lines) and of ProgressBars printing build events' `buildkit` records:
 * a replay of a recorded Docker 20.10 BuildKit build, then synthetic records.
 */

import assert from "node:assert/strict";
import {
  type BuildKitStatus,
  type BuildKitVertex,
  type BuildKitVertexLog,
  type BuildKitVertexStatus,
  type BuildKitVertexWarning,
  decodeBuildKitTrace,
} from "../../src/build/buildkit_trace.ts";
import { BuildKitPlainText } from "../../src/terminal/buildkit_plain.ts";
import { ProgressBars } from "../../src/terminal/progress_bars.ts";

const encoder = new TextEncoder();

// The `aux` of every `moby.buildkit.trace` line of a recorded `docker build`
// (Docker 20.10, BuildKit) of a Dockerfile with a FROM, a RUN printing
// "hello" to stdout and "err" to stderr, and a COPY, in the order received.
// The build's other lines were `{"id":"moby.image.id","aux":{"ID":"sha256:7662…"}}`
// and `{"stream":"Successfully tagged bk:1\n"}`.
const RECORDED: readonly string[] = [
  "Cm8KR3NoYTI1NjplMzBlMjdkYzEyYjg0MmQ2YWE2ZDUyMGM5ODZlYzAzOTQyZGUxZmJlZWEwZGQzOGE1ZjFmNjgxODY3NjBjZjQ0GiRbaW50ZXJuYWxdIGxvYWQgcmVtb3RlIGJ1aWxkIGNvbnRleHQ=",
  "Cn0KR3NoYTI1NjplMzBlMjdkYzEyYjg0MmQ2YWE2ZDUyMGM5ODZlYzAzOTQyZGUxZmJlZWEwZGQzOGE1ZjFmNjgxODY3NjBjZjQ0GiRbaW50ZXJuYWxdIGxvYWQgcmVtb3RlIGJ1aWxkIGNvbnRleHQqDAiamsLYBhDT8ue/Ag==",
  "CosBCkdzaGEyNTY6ZTMwZTI3ZGMxMmI4NDJkNmFhNmQ1MjBjOTg2ZWMwMzk0MmRlMWZiZWVhMGRkMzhhNWYxZjY4MTg2NzYwY2Y0NBokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwImprC2AYQ0/LnvwIyDAiamsLYBhDizeXCAg==",
  "CosBCkdzaGEyNTY6ZTMwZTI3ZGMxMmI4NDJkNmFhNmQ1MjBjOTg2ZWMwMzk0MmRlMWZiZWVhMGRkMzhhNWYxZjY4MTg2NzYwY2Y0NBokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwImprC2AYQmcSKwwIyDAiamsLYBhCKwI/DAg==",
  "CqMBCkdzaGEyNTY6OTIxNDMwYTUyYjUxNTdmMmYyNzIxOWVkYzczMGU1MTlhZThiMGU2Y2ExZTY3Y2M1NmM5MzcwOGUzY2Y2M2JjYxJHc2hhMjU2OmUzMGUyN2RjMTJiODQyZDZhYTZkNTIwYzk4NmVjMDM5NDJkZTFmYmVlYTBkZDM4YTVmMWY2ODE4Njc2MGNmNDQaD2NvcHkgL2NvbnRleHQgLw==",
  "CrEBCkdzaGEyNTY6OTIxNDMwYTUyYjUxNTdmMmYyNzIxOWVkYzczMGU1MTlhZThiMGU2Y2ExZTY3Y2M1NmM5MzcwOGUzY2Y2M2JjYxJHc2hhMjU2OmUzMGUyN2RjMTJiODQyZDZhYTZkNTIwYzk4NmVjMDM5NDJkZTFmYmVlYTBkZDM4YTVmMWY2ODE4Njc2MGNmNDQaD2NvcHkgL2NvbnRleHQgLyoMCJqawtgGENenksUC",
  "Cr8BCkdzaGEyNTY6OTIxNDMwYTUyYjUxNTdmMmYyNzIxOWVkYzczMGU1MTlhZThiMGU2Y2ExZTY3Y2M1NmM5MzcwOGUzY2Y2M2JjYxJHc2hhMjU2OmUzMGUyN2RjMTJiODQyZDZhYTZkNTIwYzk4NmVjMDM5NDJkZTFmYmVlYTBkZDM4YTVmMWY2ODE4Njc2MGNmNDQaD2NvcHkgL2NvbnRleHQgLyoMCJqawtgGENenksUCMgwImprC2AYQobGqgAM=",
  "CpkBCkdzaGEyNTY6ZTczMjY2Nzg4YWVmNjhmYjA0YzUxOWExYjgwZjlhNGY5YjA1NzgxNDljYWRlZjVlYmY3MDE1ZjNhYmI3ZDM3MhpAW2ludGVybmFsXSBsb2FkIG1ldGFkYXRhIGZvciBkb2NrZXIuaW8vYmVydGgtdGVzdC9idXN5Ym94OmxhdGVzdCoMCJqawtgGEO7wmYcD",
  "CqcBCkdzaGEyNTY6ZTczMjY2Nzg4YWVmNjhmYjA0YzUxOWExYjgwZjlhNGY5YjA1NzgxNDljYWRlZjVlYmY3MDE1ZjNhYmI3ZDM3MhpAW2ludGVybmFsXSBsb2FkIG1ldGFkYXRhIGZvciBkb2NrZXIuaW8vYmVydGgtdGVzdC9idXN5Ym94OmxhdGVzdCoMCJqawtgGEO7wmYcDMgwImprC2AYQ1qHdhwM=",
  "CoEBCkdzaGEyNTY6NzAwYmUyOTMzYjQ2YWMxMzBkZmI1MWM5ZDk5MDRjMzZmMDllMTJhMzMzMDk1ZDc5NWI4MjgzOGQ1YjhiMzQ2Nho2W3N0YWdlLTAgMS8zXSBGUk9NIGRvY2tlci5pby9iZXJ0aC10ZXN0L2J1c3lib3g6bGF0ZXN0CvABCkdzaGEyNTY6YjlhNTgxZTA4YjRmYTIwM2Q2MzA0MjkwOTg4ZjNiMTkyZmFkNmQwOWI0NDA3YmQ1Y2I0MDAyZTk2YzBmMjg5NBJHc2hhMjU2OjcwMGJlMjkzM2I0NmFjMTMwZGZiNTFjOWQ5OTA0YzM2ZjA5ZTEyYTMzMzA5NWQ3OTViODI4MzhkNWI4YjM0NjYaXFtzdGFnZS0wIDIvM10gUlVOIC0tbW91bnQ9dHlwZT1jYWNoZSx0YXJnZXQ9L2MgZWNobyBoZWxsbyA+IC9jL3ggJiYgY2F0IC9jL3ggJiYgZWNobyBlcnIgPiYyCvwBCkdzaGEyNTY6ZWI0ZTBlZTY2Y2E1MmIwYWZmOWU4YWZlNzAwZDZjZTBhMzMzZTE0OTFiYmFkZDdiNTBkODk1YmVmYjY0YTRlZBJHc2hhMjU2OmI5YTU4MWUwOGI0ZmEyMDNkNjMwNDI5MDk4OGYzYjE5MmZhZDZkMDliNDQwN2JkNWNiNDAwMmU5NmMwZjI4OTQSR3NoYTI1Njo5MjE0MzBhNTJiNTE1N2YyZjI3MjE5ZWRjNzMwZTUxOWFlOGIwZTZjYTFlNjdjYzU2YzkzNzA4ZTNjZjYzYmNjGh9bc3RhZ2UtMCAzLzNdIENPUFkgYS50eHQgL2EudHh0",
  "Cp0BCkdzaGEyNTY6NzAwYmUyOTMzYjQ2YWMxMzBkZmI1MWM5ZDk5MDRjMzZmMDllMTJhMzMzMDk1ZDc5NWI4MjgzOGQ1YjhiMzQ2Nho2W3N0YWdlLTAgMS8zXSBGUk9NIGRvY2tlci5pby9iZXJ0aC10ZXN0L2J1c3lib3g6bGF0ZXN0KgwImprC2AYQoLWliQMyDAiamsLYBhD2sriJAw==",
  "Cp8BCkdzaGEyNTY6NzAwYmUyOTMzYjQ2YWMxMzBkZmI1MWM5ZDk5MDRjMzZmMDllMTJhMzMzMDk1ZDc5NWI4MjgzOGQ1YjhiMzQ2Nho2W3N0YWdlLTAgMS8zXSBGUk9NIGRvY2tlci5pby9iZXJ0aC10ZXN0L2J1c3lib3g6bGF0ZXN0IAEqDAiamsLYBhDYsqiLAzIMCJqawtgGEOzOrIsD",
  "Cv4BCkdzaGEyNTY6YjlhNTgxZTA4YjRmYTIwM2Q2MzA0MjkwOTg4ZjNiMTkyZmFkNmQwOWI0NDA3YmQ1Y2I0MDAyZTk2YzBmMjg5NBJHc2hhMjU2OjcwMGJlMjkzM2I0NmFjMTMwZGZiNTFjOWQ5OTA0YzM2ZjA5ZTEyYTMzMzA5NWQ3OTViODI4MzhkNWI4YjM0NjYaXFtzdGFnZS0wIDIvM10gUlVOIC0tbW91bnQ9dHlwZT1jYWNoZSx0YXJnZXQ9L2MgZWNobyBoZWxsbyA+IC9jL3ggJiYgY2F0IC9jL3ggJiYgZWNobyBlcnIgPiYyKgwImprC2AYQ2YHjjAM=",
  "GmEKR3NoYTI1NjpiOWE1ODFlMDhiNGZhMjAzZDYzMDQyOTA5ODhmM2IxOTJmYWQ2ZDA5YjQ0MDdiZDVjYjQwMDJlOTZjMGYyODk0EgwImprC2AYQrZyPvQMYASIGaGVsbG8K",
  "Gl8KR3NoYTI1NjpiOWE1ODFlMDhiNGZhMjAzZDYzMDQyOTA5ODhmM2IxOTJmYWQ2ZDA5YjQ0MDdiZDVjYjQwMDJlOTZjMGYyODk0EgwImprC2AYQ0tO8vQMYAiIEZXJyCg==",
  "CowCCkdzaGEyNTY6YjlhNTgxZTA4YjRmYTIwM2Q2MzA0MjkwOTg4ZjNiMTkyZmFkNmQwOWI0NDA3YmQ1Y2I0MDAyZTk2YzBmMjg5NBJHc2hhMjU2OjcwMGJlMjkzM2I0NmFjMTMwZGZiNTFjOWQ5OTA0YzM2ZjA5ZTEyYTMzMzA5NWQ3OTViODI4MzhkNWI4YjM0NjYaXFtzdGFnZS0wIDIvM10gUlVOIC0tbW91bnQ9dHlwZT1jYWNoZSx0YXJnZXQ9L2MgZWNobyBoZWxsbyA+IC9jL3ggJiYgY2F0IC9jL3ggJiYgZWNobyBlcnIgPiYyKgwImprC2AYQ2YHjjAMyDAiamsLYBhCZmPPCAw==",
  "CooCCkdzaGEyNTY6ZWI0ZTBlZTY2Y2E1MmIwYWZmOWU4YWZlNzAwZDZjZTBhMzMzZTE0OTFiYmFkZDdiNTBkODk1YmVmYjY0YTRlZBJHc2hhMjU2OmI5YTU4MWUwOGI0ZmEyMDNkNjMwNDI5MDk4OGYzYjE5MmZhZDZkMDliNDQwN2JkNWNiNDAwMmU5NmMwZjI4OTQSR3NoYTI1Njo5MjE0MzBhNTJiNTE1N2YyZjI3MjE5ZWRjNzMwZTUxOWFlOGIwZTZjYTFlNjdjYzU2YzkzNzA4ZTNjZjYzYmNjGh9bc3RhZ2UtMCAzLzNdIENPUFkgYS50eHQgL2EudHh0KgwImprC2AYQlq+zwwM=",
  "CpgCCkdzaGEyNTY6ZWI0ZTBlZTY2Y2E1MmIwYWZmOWU4YWZlNzAwZDZjZTBhMzMzZTE0OTFiYmFkZDdiNTBkODk1YmVmYjY0YTRlZBJHc2hhMjU2OmI5YTU4MWUwOGI0ZmEyMDNkNjMwNDI5MDk4OGYzYjE5MmZhZDZkMDliNDQwN2JkNWNiNDAwMmU5NmMwZjI4OTQSR3NoYTI1Njo5MjE0MzBhNTJiNTE1N2YyZjI3MjE5ZWRjNzMwZTUxOWFlOGIwZTZjYTFlNjdjYzU2YzkzNzA4ZTNjZjYzYmNjGh9bc3RhZ2UtMCAzLzNdIENPUFkgYS50eHQgL2EudHh0KgwImprC2AYQlq+zwwMyDAiamsLYBhDdj9fHAw==",
  "CmsKR3NoYTI1NjplOGM2MTNlMDdiMGI3ZmYzMzg5M2I2OTRmNzc1OWExMGQ0MmUxODBmMmI0ZGMzNDlmYjU3ZGM2YjcxZGNhYjAwGhJleHBvcnRpbmcgdG8gaW1hZ2UqDAiamsLYBhC1oaPIAxJ3ChBleHBvcnRpbmcgbGF5ZXJzEkdzaGEyNTY6ZThjNjEzZTA3YjBiN2ZmMzM4OTNiNjk0Zjc3NTlhMTBkNDJlMTgwZjJiNGRjMzQ5ZmI1N2RjNmI3MWRjYWIwMDIMCJqawtgGEJTbp8gDOgwImprC2AYQi9enyAM=",
  "EoUBChBleHBvcnRpbmcgbGF5ZXJzEkdzaGEyNTY6ZThjNjEzZTA3YjBiN2ZmMzM4OTNiNjk0Zjc3NTlhMTBkNDJlMTgwZjJiNGRjMzQ5ZmI1N2RjNmI3MWRjYWIwMDIMCJqawtgGELeeiNMDOgwImprC2AYQi9enyANCDAiamsLYBhDgkYjTAw==",
  "ErwBClV3cml0aW5nIGltYWdlIHNoYTI1Njo3NjYyMWQ3NjFkNjM3YTVjYThjZDA0YTEzNTllOGUyMWI4ZTMxZmZiMzdhNGUyODk1NTQ4NWRjNGEzZjA2NWIxEkdzaGEyNTY6ZThjNjEzZTA3YjBiN2ZmMzM4OTNiNjk0Zjc3NTlhMTBkNDJlMTgwZjJiNGRjMzQ5ZmI1N2RjNmI3MWRjYWIwMDIMCJqawtgGEK2FndMDOgwImprC2AYQnoOd0wM=",
  "EsoBClV3cml0aW5nIGltYWdlIHNoYTI1Njo3NjYyMWQ3NjFkNjM3YTVjYThjZDA0YTEzNTllOGUyMWI4ZTMxZmZiMzdhNGUyODk1NTQ4NWRjNGEzZjA2NWIxEkdzaGEyNTY6ZThjNjEzZTA3YjBiN2ZmMzM4OTNiNjk0Zjc3NTlhMTBkNDJlMTgwZjJiNGRjMzQ5ZmI1N2RjNmI3MWRjYWIwMDIMCJqawtgGEM7RytMDOgwImprC2AYQnoOd0wNCDAiamsLYBhC2z8rTAxKHAQogbmFtaW5nIHRvIGRvY2tlci5pby9saWJyYXJ5L2JrOjESR3NoYTI1NjplOGM2MTNlMDdiMGI3ZmYzMzg5M2I2OTRmNzc1OWExMGQ0MmUxODBmMmI0ZGMzNDlmYjU3ZGM2YjcxZGNhYjAwMgwImprC2AYQvqPL0wM6DAiamsLYBhD2ocvTAw==",
  "CnkKR3NoYTI1NjplOGM2MTNlMDdiMGI3ZmYzMzg5M2I2OTRmNzc1OWExMGQ0MmUxODBmMmI0ZGMzNDlmYjU3ZGM2YjcxZGNhYjAwGhJleHBvcnRpbmcgdG8gaW1hZ2UqDAiamsLYBhC1oaPIAzIMCJqawtgGELv8kdQDEpUBCiBuYW1pbmcgdG8gZG9ja2VyLmlvL2xpYnJhcnkvYms6MRJHc2hhMjU2OmU4YzYxM2UwN2IwYjdmZjMzODkzYjY5NGY3NzU5YTEwZDQyZTE4MGYyYjRkYzM0OWZiNTdkYzZiNzFkY2FiMDAyDAiamsLYBhC+o5DUAzoMCJqawtgGEPahy9MDQgwImprC2AYQraCQ1AM=",
];

const RUN_NAME =
  "[stage-0 2/3] RUN --mount=type=cache,target=/c echo hello > /c/x && cat /c/x && echo err >&2";

// What the recording prints. The FROM step is first reported completed and
// not cached, and only in a later record as cached: its outcome was shown as
// DONE by then, so no CACHED line follows.
const RECORDED_LINES: readonly string[] = [
  "#1 [internal] load remote build context",
  "#1 DONE 0.0s",
  "#2 copy /context /",
  "#2 DONE 0.1s",
  "#3 [internal] load metadata for docker.io/berth-test/busybox:latest",
  "#3 DONE 0.0s",
  "#4 [stage-0 1/3] FROM docker.io/berth-test/busybox:latest",
  "#4 DONE 0.0s",
  `#5 ${RUN_NAME}`,
  "#5 0.101 hello",
  "#5 0.102 err",
  "#5 DONE 0.1s",
  "#6 [stage-0 3/3] COPY a.txt /a.txt",
  "#6 DONE 0.0s",
  "#7 exporting to image",
  "#7 exporting layers 0.0s done",
  "#7 writing image sha256:76621d761d637a5ca8cd04a1359e8e21b8e31ffb37a4e28955485dc4a3f065b1 done",
  "#7 naming to docker.io/library/bk:1 done",
  "#7 DONE 0.0s",
];

/** A time `ms` milliseconds after an arbitrary start. */
function at(ms: number): Date {
  return new Date(Date.UTC(2024, 0, 1) + ms);
}

function record(parts: Partial<BuildKitStatus>): BuildKitStatus {
  return { vertexes: [], statuses: [], logs: [], warnings: [], ...parts };
}

function vertex(
  digest: string,
  name: string,
  extra: Partial<Omit<BuildKitVertex, "digest" | "name">> = {},
): BuildKitVertex {
  return { digest, inputs: [], name, cached: false, ...extra };
}

function log(
  vertex: string,
  stream: number,
  data: Uint8Array | string,
  timestamp?: Date,
): BuildKitVertexLog {
  const out: BuildKitVertexLog = {
    vertex,
    stream,
    data: typeof data === "string" ? encoder.encode(data) : data,
  };
  if (timestamp) out.timestamp = timestamp;
  return out;
}

function status(
  vertex: string,
  id: string,
  extra: Partial<Omit<BuildKitVertexStatus, "vertex" | "id">> = {},
): BuildKitVertexStatus {
  return { id, vertex, name: "", current: 0, total: 0, ...extra };
}

function warning(
  vertex: string,
  short: string,
  detail: string[] = [],
  url?: string,
): BuildKitVertexWarning {
  const out: BuildKitVertexWarning = { vertex, level: 1, short, detail };
  if (url !== undefined) out.url = url;
  return out;
}

/** A started step as BuildKit reports it. */
function started(digest: string, name: string, startMs = 0): BuildKitVertex {
  return vertex(digest, name, { started: at(startMs) });
}

function text(): { output: { writeSync(bytes: Uint8Array): number }; read(): string } {
  let written = "";
  const decoder = new TextDecoder();
  return {
    output: {
      writeSync(bytes: Uint8Array): number {
        written += decoder.decode(bytes);
        return bytes.length;
      },
    },
    read: () => written,
  };
}

Deno.test("BuildKitPlainText replays a recorded build", async (t) => {
  await t.step("every record in order gives the expected lines", () => {
    const plain = new BuildKitPlainText();
    const lines = RECORDED.flatMap((aux) => plain.update(decodeBuildKitTrace(aux)));
    assert.deepEqual(lines, RECORDED_LINES);
    assert.deepEqual(plain.flush(), []);
  });

  await t.step("each record prints only what it adds", () => {
    const plain = new BuildKitPlainText();
    const perRecord = RECORDED.map((aux) => plain.update(decodeBuildKitTrace(aux)));
    // The first record only schedules the context step.
    assert.deepEqual(perRecord[0], []);
    // The context step's second completion and the FROM's cached report repeat an outcome.
    assert.deepEqual(perRecord[3], []);
    assert.deepEqual(perRecord[11], []);
    // Scheduling FROM, RUN and COPY together prints nothing.
    assert.deepEqual(perRecord[9], []);
    // The stdout and stderr records each print one line.
    assert.deepEqual(perRecord[13], ["#5 0.101 hello"]);
    assert.deepEqual(perRecord[14], ["#5 0.102 err"]);
    // The export starts with a status in progress: only its name.
    assert.deepEqual(perRecord[18], ["#7 exporting to image"]);
    // Its last record completes a status, then the step.
    assert.deepEqual(perRecord[22], [
      "#7 naming to docker.io/library/bk:1 done",
      "#7 DONE 0.0s",
    ]);
  });
});

Deno.test("BuildKitPlainText shows steps", async (t) => {
  await t.step(
    "a step only scheduled prints nothing; it prints its name once when it starts",
    () => {
      const plain = new BuildKitPlainText();
      assert.deepEqual(plain.update(record({ vertexes: [vertex("sha256:a", "[1/2] RUN a")] })), []);
      assert.deepEqual(plain.update(record({ vertexes: [vertex("sha256:a", "[1/2] RUN a")] })), []);
      assert.deepEqual(
        plain.update(record({ vertexes: [started("sha256:a", "[1/2] RUN a")] })),
        ["#1 [1/2] RUN a"],
      );
      assert.deepEqual(
        plain.update(record({ vertexes: [started("sha256:a", "[1/2] RUN a")] })),
        [],
      );
      assert.deepEqual(
        plain.update(record({ vertexes: [started("sha256:a", "[1/2] RUN a", 50)] })),
        [],
      );
      assert.deepEqual(plain.flush(), []);
    },
  );

  await t.step("steps are numbered in the order they are shown, not scheduled", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({
        vertexes: [
          vertex("sha256:a", "A"),
          vertex("sha256:b", "B"),
          vertex("sha256:c", "C"),
        ],
      })),
      [],
    );
    assert.deepEqual(plain.update(record({ vertexes: [started("sha256:c", "C")] })), ["#1 C"]);
    assert.deepEqual(
      plain.update(record({ vertexes: [started("sha256:a", "A"), started("sha256:b", "B")] })),
      ["#2 A", "#3 B"],
    );
    assert.deepEqual(
      plain.update(record({ vertexes: [started("sha256:c", "C"), vertex("sha256:d", "D")] })),
      [],
    );
  });

  await t.step("a step first seen cached prints its name and CACHED", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({ vertexes: [vertex("sha256:a", "[1/1] RUN a", { cached: true })] })),
      ["#1 [1/1] RUN a", "#1 CACHED"],
    );
    const done = vertex("sha256:a", "[1/1] RUN a", {
      cached: true,
      started: at(0),
      completed: at(10),
    });
    assert.deepEqual(plain.update(record({ vertexes: [done] })), []);
  });

  await t.step("a step first seen completed prints its name and DONE", () => {
    const plain = new BuildKitPlainText();
    const done = vertex("sha256:a", "A", { started: at(1000), completed: at(3460) });
    assert.deepEqual(plain.update(record({ vertexes: [done] })), ["#1 A", "#1 DONE 2.5s"]);
  });

  await t.step("DONE takes the step's first start when the end record has none", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(plain.update(record({ vertexes: [started("sha256:a", "A", 100)] })), [
      "#1 A",
    ]);
    assert.deepEqual(
      plain.update(record({ vertexes: [vertex("sha256:a", "A", { completed: at(1300) })] })),
      ["#1 DONE 1.2s"],
    );
  });

  await t.step("DONE without a start time has no seconds", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({ vertexes: [vertex("sha256:a", "A", { completed: at(500) })] })),
      ["#1 A", "#1 DONE"],
    );
  });

  await t.step("a failed step prints its partial output then ERROR", () => {
    const plain = new BuildKitPlainText();
    plain.update(record({ vertexes: [started("sha256:a", "[1/1] RUN make")] }));
    assert.deepEqual(
      plain.update(record({ logs: [log("sha256:a", 2, "make: *** no rule\nStop", at(200))] })),
      ["#1 0.200 make: *** no rule"],
    );
    const failed = vertex("sha256:a", "[1/1] RUN make", {
      started: at(0),
      completed: at(300),
      error: "executor failed running [/bin/sh -c make]: exit code: 2",
    });
    assert.deepEqual(plain.update(record({ vertexes: [failed] })), [
      "#1 0.200 Stop",
      "#1 ERROR: executor failed running [/bin/sh -c make]: exit code: 2",
    ]);
    assert.deepEqual(plain.flush(), []);
  });

  await t.step("a step that fails before it starts still shows its error", () => {
    const plain = new BuildKitPlainText();
    const failed = vertex("sha256:a", "[internal] load metadata", { error: "no active sessions" });
    assert.deepEqual(plain.update(record({ vertexes: [failed] })), [
      "#1 [internal] load metadata",
      "#1 ERROR: no active sessions",
    ]);
  });

  await t.step("after CACHED, DONE or ERROR further vertex records print nothing", () => {
    const plain = new BuildKitPlainText();
    const cached = vertex("sha256:c", "C", { cached: true });
    const done = vertex("sha256:d", "D", { started: at(0), completed: at(100) });
    const failed = vertex("sha256:e", "E", { started: at(0), completed: at(100), error: "boom" });
    assert.deepEqual(plain.update(record({ vertexes: [cached, done, failed] })), [
      "#1 C",
      "#2 D",
      "#3 E",
      "#1 CACHED",
      "#2 DONE 0.1s",
      "#3 ERROR: boom",
    ]);
    // The same records again, and each step reported with another outcome.
    assert.deepEqual(plain.update(record({ vertexes: [cached, done, failed] })), []);
    assert.deepEqual(
      plain.update(record({
        vertexes: [
          vertex("sha256:c", "C", { started: at(0), completed: at(100), error: "late" }),
          vertex("sha256:d", "D", { cached: true, started: at(0), completed: at(100) }),
          vertex("sha256:e", "E", { started: at(200), completed: at(900) }),
        ],
      })),
      [],
    );
    assert.deepEqual(plain.flush(), []);
  });

  await t.step(
    "a step completed, then reported cached, stays DONE (as the FROM of the recording)",
    () => {
      const plain = new BuildKitPlainText();
      const from = "[1/2] FROM docker.io/library/busybox";
      assert.deepEqual(
        plain.update(record({
          vertexes: [vertex("sha256:f", from, { started: at(0), completed: at(1) })],
        })),
        [`#1 ${from}`, "#1 DONE 0.0s"],
      );
      assert.deepEqual(
        plain.update(record({
          vertexes: [vertex("sha256:f", from, { cached: true, started: at(5), completed: at(5) })],
        })),
        [],
      );
    },
  );
});

Deno.test("BuildKitPlainText shows output", async (t) => {
  const RUN = "sha256:run";
  function running(): BuildKitPlainText {
    const plain = new BuildKitPlainText();
    assert.deepEqual(plain.update(record({ vertexes: [started(RUN, "[1/1] RUN x")] })), [
      "#1 [1/1] RUN x",
    ]);
    return plain;
  }

  await t.step("each line gets the seconds since the step started, 3 decimals", () => {
    const plain = running();
    assert.deepEqual(
      plain.update(record({ logs: [log(RUN, 1, "one\ntwo\n", at(1234))] })),
      ["#1 1.234 one", "#1 1.234 two"],
    );
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "three\n", at(61_005))] })), [
      "#1 61.005 three",
    ]);
    // An empty line is a line too.
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "\n", at(61_005))] })), [
      "#1 61.005 ",
    ]);
    // A time before the start counts as 0.
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "early\n", at(-50))] })), [
      "#1 0.000 early",
    ]);
  });

  await t.step("no timestamp, or no start time, means no seconds", () => {
    const plain = running();
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "untimed\n")] })), [
      "#1 untimed",
    ]);
    const unstarted = new BuildKitPlainText();
    assert.deepEqual(
      unstarted.update(record({ vertexes: [vertex("sha256:c", "C", { cached: true })] })),
      ["#1 C", "#1 CACHED"],
    );
    assert.deepEqual(unstarted.update(record({ logs: [log("sha256:c", 1, "x\n", at(10))] })), [
      "#1 x",
    ]);
  });

  await t.step("a step's start time given later is used for later output", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({ vertexes: [vertex("sha256:c", "C", { cached: true })] })),
      ["#1 C", "#1 CACHED"],
    );
    plain.update(record({ vertexes: [started("sha256:c", "C", 1000)] }));
    assert.deepEqual(plain.update(record({ logs: [log("sha256:c", 1, "x\n", at(1500))] })), [
      "#1 0.500 x",
    ]);
  });

  await t.step("a line split across records is joined", () => {
    const plain = running();
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "hel", at(100))] })), []);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "lo wor", at(100))] })), []);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "ld\nnext", at(100))] })), [
      "#1 0.100 hello world",
    ]);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "\n", at(100))] })), [
      "#1 0.100 next",
    ]);
    assert.deepEqual(plain.flush(), []);
  });

  await t.step("a line split across records takes the time its first part was written", () => {
    // `docker build --progress=plain` (BuildKit's progressui) stamps a line
    // with the time of the record that began it.
    const plain = running();
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "Downloading... ", at(100))] })), []);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "done\n", at(2500))] })), [
      "#1 0.100 Downloading... done",
    ]);
  });

  await t.step("a UTF-8 character split across records comes out whole", () => {
    const plain = running();
    const e = encoder.encode("café\n"); // é is 0xC3 0xA9
    assert.equal(e.length, 6);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, e.subarray(0, 4), at(10))] })), []);
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, e.subarray(4), at(10))] })), [
      "#1 0.010 café",
    ]);
    // A 4-byte character split in three records.
    const smile = encoder.encode("😀\n");
    plain.update(record({ logs: [log(RUN, 1, smile.subarray(0, 1), at(20))] }));
    plain.update(record({ logs: [log(RUN, 1, smile.subarray(1, 3), at(20))] }));
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, smile.subarray(3), at(20))] })), [
      "#1 0.020 😀",
    ]);
  });

  await t.step("stdout and stderr partial lines are kept apart", () => {
    const plain = running();
    const split = encoder.encode("é");
    assert.deepEqual(
      plain.update(record({
        logs: [
          log(RUN, 1, "out-", at(10)),
          log(RUN, 2, "err-", at(10)),
          log(RUN, 1, split.subarray(0, 1), at(10)),
          log(RUN, 2, "x", at(10)),
        ],
      })),
      [],
    );
    assert.deepEqual(
      plain.update(record({
        logs: [log(RUN, 2, "end\n", at(10)), log(RUN, 1, split.subarray(1), at(10))],
      })),
      ["#1 0.010 err-xend"],
    );
    assert.deepEqual(plain.update(record({ logs: [log(RUN, 1, "\n", at(10))] })), [
      "#1 0.010 out-é",
    ]);
  });

  await t.step("a partial last line is printed when the step ends, before DONE", () => {
    const plain = running();
    assert.deepEqual(
      plain.update(record({ logs: [log(RUN, 1, "line\nno end", at(300))] })),
      ["#1 0.300 line"],
    );
    assert.deepEqual(
      plain.update(record({
        vertexes: [vertex(RUN, "[1/1] RUN x", { started: at(0), completed: at(400) })],
      })),
      ["#1 0.300 no end", "#1 DONE 0.4s"],
    );
    assert.deepEqual(plain.flush(), []);
  });

  await t.step("output and the end in one record: output first", () => {
    const plain = running();
    assert.deepEqual(
      plain.update(record({
        vertexes: [vertex(RUN, "[1/1] RUN x", { started: at(0), completed: at(400) })],
        logs: [log(RUN, 1, "last\npartial", at(350))],
      })),
      ["#1 0.350 last", "#1 0.350 partial", "#1 DONE 0.4s"],
    );
  });

  await t.step("flush() prints the partial lines of steps that never ended, once", () => {
    const plain = running();
    plain.update(record({ vertexes: [started("sha256:b", "B", 0)] }));
    assert.deepEqual(
      plain.update(record({
        logs: [
          log(RUN, 1, "out", at(100)),
          log(RUN, 2, "err", at(200)),
          log("sha256:b", 1, "b\nb2", at(300)),
        ],
      })),
      ["#2 0.300 b"],
    );
    assert.deepEqual(plain.flush(), ["#1 0.100 out", "#1 0.200 err", "#2 0.300 b2"]);
    assert.deepEqual(plain.flush(), []);
  });

  await t.step("output of an unknown or only scheduled step prints nothing", () => {
    const plain = running();
    plain.update(record({ vertexes: [vertex("sha256:waiting", "W")] }));
    assert.deepEqual(
      plain.update(record({
        logs: [
          log("sha256:unknown", 1, "lost\n", at(10)),
          log("sha256:waiting", 1, "lost\n", at(10)),
          log("sha256:unknown", 1, "partial", at(10)),
        ],
      })),
      [],
    );
    assert.deepEqual(plain.flush(), []);
  });
});

Deno.test("BuildKitPlainText shows statuses", async (t) => {
  const EXPORT = "sha256:export";
  function exporting(): BuildKitPlainText {
    const plain = new BuildKitPlainText();
    assert.deepEqual(plain.update(record({ vertexes: [started(EXPORT, "exporting to image")] })), [
      "#1 exporting to image",
    ]);
    return plain;
  }

  await t.step("a status that ends within 150 ms prints once, when done", () => {
    const plain = exporting();
    const layers = { started: at(0), timestamp: at(10) };
    assert.deepEqual(
      plain.update(record({ statuses: [status(EXPORT, "exporting layers", layers)] })),
      [],
    );
    assert.deepEqual(
      plain.update(record({
        statuses: [status(EXPORT, "exporting layers", { ...layers, current: 5, total: 10 })],
      })),
      [],
    );
    const done = status(EXPORT, "exporting layers", { ...layers, completed: at(2345) });
    assert.deepEqual(plain.update(record({ statuses: [done] })), [
      "#1 exporting layers 2.3s done",
    ]);
    assert.deepEqual(plain.update(record({ statuses: [done] })), []);
  });

  await t.step(
    "a longer status prints its progress every 5 % or 5 s, as BuildKit's printer",
    () => {
      const plain = exporting();
      const id = "transferring context:";
      const at_ = (ms: number, current: number, total = 0) =>
        record({
          statuses: [status(EXPORT, id, { started: at(0), timestamp: at(ms), current, total })],
        });
      assert.deepEqual(plain.update(at_(100, 1000)), []); // Too young.
      assert.deepEqual(plain.update(at_(200, 32768)), ["#1 transferring context: 32.77kB 0.2s"]);
      assert.deepEqual(plain.update(at_(4000, 900_000)), []); // No total: only every 5 s.
      assert.deepEqual(plain.update(at_(5300, 3_001_185)), [
        "#1 transferring context: 3.00MB 5.3s",
      ]);
      const pull = (ms: number, current: number) =>
        record({
          statuses: [status(EXPORT, "sha256:abc", {
            started: at(0),
            timestamp: at(ms),
            current,
            total: 2_000_000,
          })],
        });
      assert.deepEqual(plain.update(pull(500, 100_000)), ["#1 sha256:abc 100.00kB / 2.00MB 0.5s"]);
      assert.deepEqual(plain.update(pull(600, 150_000)), []); // 2.5 %
      assert.deepEqual(plain.update(pull(700, 200_000)), ["#1 sha256:abc 200.00kB / 2.00MB 0.7s"]);
      assert.deepEqual(
        plain.update(record({
          statuses: [status(EXPORT, id, { started: at(0), completed: at(5400), current: 999 })],
        })),
        ["#1 transferring context: 999B 5.4s done"],
      );
    },
  );

  await t.step(
    "a status shows its id, as BuildKit's printer does; no start means no seconds",
    () => {
      const plain = exporting();
      assert.deepEqual(
        plain.update(record({
          statuses: [
            status(EXPORT, "sha256:layer", {
              name: "pushing layer",
              started: at(0),
              completed: at(100),
            }),
            status(EXPORT, "naming to x:1", { completed: at(100) }),
          ],
        })),
        ["#1 sha256:layer 0.1s done", "#1 naming to x:1 done"],
      );
    },
  );

  await t.step("statuses are printed before the step's end in the same record", () => {
    const plain = exporting();
    assert.deepEqual(
      plain.update(record({
        vertexes: [vertex(EXPORT, "exporting to image", { started: at(0), completed: at(300) })],
        statuses: [status(EXPORT, "naming to x:1", { started: at(200), completed: at(300) })],
      })),
      ["#1 naming to x:1 0.1s done", "#1 DONE 0.3s"],
    );
  });

  await t.step("a status of an unknown or only scheduled step prints nothing", () => {
    const plain = exporting();
    plain.update(record({ vertexes: [vertex("sha256:waiting", "W")] }));
    assert.deepEqual(
      plain.update(record({
        statuses: [
          status("sha256:unknown", "x", { started: at(0), completed: at(10) }),
          status("sha256:waiting", "y", { started: at(0), completed: at(10) }),
        ],
      })),
      [],
    );
  });
});

Deno.test("BuildKitPlainText shows warnings", async (t) => {
  await t.step("a warning about a shown step: short, details indented, More info", () => {
    const plain = new BuildKitPlainText();
    plain.update(record({ vertexes: [started("sha256:a", "A"), started("sha256:b", "B")] }));
    assert.deepEqual(
      plain.update(record({
        warnings: [
          warning(
            "sha256:b",
            "Empty continuation line found in: RUN echo",
            ["Empty continuation lines will become errors", "in a future release."],
            "https://github.com/moby/moby/pull/33719",
          ),
        ],
      })),
      [
        "#2 WARNING: Empty continuation line found in: RUN echo",
        "  Empty continuation lines will become errors",
        "  in a future release.",
        "  More info: https://github.com/moby/moby/pull/33719",
      ],
    );
  });

  await t.step("a warning with no detail and no url is one line", () => {
    const plain = new BuildKitPlainText();
    plain.update(record({ vertexes: [started("sha256:a", "A")] }));
    assert.deepEqual(plain.update(record({ warnings: [warning("sha256:a", "short only")] })), [
      "#1 WARNING: short only",
    ]);
  });

  await t.step("a warning about an unknown step has no step number", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({
        warnings: [warning("sha256:nowhere", "odd", ["detail"], "https://example.com/w")],
      })),
      ["WARNING: odd", "  detail", "  More info: https://example.com/w"],
    );
  });

  await t.step("order in one record: start, output, statuses, warnings, end", () => {
    const plain = new BuildKitPlainText();
    assert.deepEqual(
      plain.update(record({
        vertexes: [vertex("sha256:a", "A", { started: at(0), completed: at(1000) })],
        logs: [log("sha256:a", 1, "out\n", at(500))],
        statuses: [status("sha256:a", "s", { started: at(0), completed: at(100) })],
        warnings: [warning("sha256:a", "w")],
      })),
      ["#1 A", "#1 0.500 out", "#1 s 0.1s done", "#1 WARNING: w", "#1 DONE 1.0s"],
    );
  });
});

Deno.test("ProgressBars prints BuildKit records as plain text", async (t) => {
  await t.step("a recorded build, then its stream line", () => {
    const sink = text();
    const bars = new ProgressBars({ output: sink.output, terminal: false });
    for (const aux of RECORDED) {
      // Build events as Images.build gives them: the line's fields plus the decoded record.
      const event = { id: "moby.buildkit.trace", aux, buildkit: decodeBuildKitTrace(aux) };
      bars.update(event);
    }
    bars.update({ stream: "Successfully tagged x:1\n" });
    bars.done();
    assert.equal(
      sink.read(),
      RECORDED_LINES.map((line) => `${line}\n`).join("") +
        "Successfully tagged x:1\n",
    );
  });

  await t.step("records that add nothing write nothing", () => {
    const sink = text();
    const bars = new ProgressBars({ output: sink.output, terminal: false });
    bars.update({ buildkit: record({ vertexes: [vertex("sha256:a", "A")] }) });
    bars.update({ buildkit: record({ logs: [log("sha256:unknown", 1, "x\n")] }) });
    bars.done();
    assert.equal(sink.read(), "");
  });

  await t.step("done() prints a held-back partial line", () => {
    const sink = text();
    const bars = new ProgressBars({ output: sink.output, terminal: false });
    const events = [
      record({ vertexes: [started("sha256:a", "[1/1] RUN printf 'a\\nb'")] }),
      record({ logs: [log("sha256:a", 1, "a\nb", at(42))] }),
    ].map((buildkit) => ({ id: "moby.buildkit.trace", aux: "", buildkit }));
    for (const event of events) bars.update(event);
    assert.equal(sink.read(), "#1 [1/1] RUN printf 'a\\nb'\n#1 0.042 a\n");
    bars.done();
    assert.equal(sink.read(), "#1 [1/1] RUN printf 'a\\nb'\n#1 0.042 a\n#1 0.042 b\n");
  });
});
