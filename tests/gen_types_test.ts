/**
 * Tests of the API history notes of `tools/gen_types.ts`: {@linkcode ApiHistory}
 * on small swagger documents, where {@linkcode generateTypes} puts the notes,
 * and a few facts of the committed `src/types/` checked against moby's API
 * changelog (`api/docs/CHANGELOG.md` at `docker-v29.7.2`).
 */

import assert from "node:assert/strict";
import {
  ApiHistory,
  fixSpec,
  generateTypes,
  type ModelSource,
  parseYaml,
  specVersion,
  type YamlValue,
} from "../tools/gen_types.ts";

/** A swagger document of API `1.${version}` with `lines` after its `info`. */
function spec(version: number, ...lines: string[]): YamlValue {
  return parseYaml([`info:`, `  version: "1.${version}"`, ...lines].join("\n"));
}

function history(specs: Record<number, YamlValue>, base: number, changelog?: string): ApiHistory {
  const map = new Map(Object.entries(specs).map(([v, s]) => [Number(v), s]));
  return new ApiHistory(map, base, changelog);
}

/** `Thing` with the given properties, each a string unless described. */
function thing(properties: Record<string, string | null>): string[] {
  return [
    "definitions:",
    "  Thing:",
    "    type: object",
    "    properties:",
    ...Object.entries(properties).flatMap(([name, description]) => [
      `      ${name}:`,
      "        type: string",
      ...(description === null ? [] : [`        description: ${JSON.stringify(description)}`]),
    ]),
  ];
}

const THING: ModelSource = { kind: "definition", name: "Thing" };

Deno.test("ApiHistory notes what later documents added", async (t) => {
  const specs = {
    25: spec(25, ...thing({ Old: null })),
    26: spec(26, ...thing({ Old: null })),
    27: spec(27, ...thing({ Old: null, New: null })),
    28: spec(28, ...thing({ Old: null, New: null })),
  };
  await t.step("without a changelog, the first document that has it", () => {
    const h = history(specs, 28);
    assert.deepEqual(h.notes(THING, ["New"], "Thing"), ["Added in API 1.27."]);
    assert.deepEqual(h.notes(THING, ["Old"], "Thing"), []);
    assert.deepEqual(h.notes(THING, [], "Thing"), []);
  });
  await t.step("with a changelog, only when its section names it", () => {
    const named = "## v1.28 API changes\n\n* x\n\n## v1.27 API changes\n\n* `Thing.New` added.\n";
    assert.deepEqual(history(specs, 28, named).notes(THING, ["New"], "Thing"), [
      "Added in API 1.27.",
    ]);
    const unnamed = "## v1.27 API changes\n\n* New was added (not in backticks).\n";
    const h = history(specs, 28, unnamed);
    assert.deepEqual(h.notes(THING, ["New"], "Thing"), []);
    assert.deepEqual(h.unconfirmed, ["Thing.New (1.27)"]);
  });
  await t.step("a model's properties do not repeat its own note", () => {
    const h = history({ 25: spec(25, "definitions: {}"), 26: specs[27] }, 26);
    assert.deepEqual(h.notes(THING, [], "Thing"), ["Added in API 1.26."]);
    assert.deepEqual(h.notes(THING, ["New"], "Thing"), []);
  });
  await t.step("a gap before the base is ignored", () => {
    const h = history({ 25: specs[27], 26: specs[25], 27: specs[27] }, 27);
    assert.deepEqual(h.notes(THING, ["New"], "Thing"), []);
  });
});

Deno.test("ApiHistory notes what later documents removed", async (t) => {
  const both = spec(41, ...thing({ Kept: null, Gone: null }));
  const kept = (version: number) => spec(version, ...thing({ Kept: null }));
  await t.step("from the first version that lacks it on", () => {
    const h = history({ 41: both, 42: both, 43: kept(43), 44: kept(44) }, 41);
    assert.deepEqual(h.notes(THING, ["Gone"], "Thing"), ["Not in API 1.43 and later."]);
    assert.deepEqual(h.notes(THING, ["Kept"], "Thing"), []);
  });
  await t.step("each range when it comes back", () => {
    const h = history(
      { 41: both, 42: kept(42), 43: kept(43), 44: both, 45: kept(45), 46: both, 47: kept(47) },
      41,
    );
    assert.deepEqual(h.notes(THING, ["Gone"], "Thing"), [
      "Not in API 1.42–1.43, 1.45 or 1.47 and later.",
    ]);
  });
  await t.step("a removed model, and not again for its properties", () => {
    const h = history({ 41: both, 42: spec(42, "definitions: {}") }, 41);
    assert.deepEqual(h.notes(THING, [], "Thing"), ["Not in API 1.42 and later."]);
    assert.deepEqual(h.notes(THING, ["Gone"], "Thing"), []);
  });
  await t.step("undefined for what the base lacks", () => {
    assert.equal(history({ 41: both }, 41).notes(THING, ["Nope"], "Thing"), undefined);
  });
});

Deno.test("ApiHistory notes deprecation from descriptions and x-deprecated", async (t) => {
  const base = spec(41, ...thing({ A: "Plain.", B: "Plain.", C: "Plain.", D: "Old." }));
  await t.step("the first later version that marks it", () => {
    const marked = spec(
      42,
      ...thing({
        A: "Text.\n\n> **Deprecated**: use B.",
        B: "Deprecated: use C.",
        C: "Set by the (deprecated) classic builder.",
        D: "Old.",
      }),
    );
    const later = spec(43, ...thing({ A: "Deprecated: use B.", B: "Plain.", C: null, D: "Old." }));
    const h = history({ 41: base, 42: marked, 43: later }, 41);
    assert.deepEqual(h.notes(THING, ["A"], "Thing"), ["Deprecated in API 1.42."]);
    assert.deepEqual(h.notes(THING, ["B"], "Thing"), ["Deprecated in API 1.42."]);
    // "(deprecated)" in a sentence is not a mark.
    assert.deepEqual(h.notes(THING, ["C"], "Thing"), []);
    assert.deepEqual(h.notes(THING, ["D"], "Thing"), []);
  });
  await t.step("x-deprecated: true", () => {
    const flagged = spec(
      42,
      "definitions:",
      "  Thing:",
      "    type: object",
      "    properties:",
      "      A:",
      "        type: string",
      "        x-deprecated: true",
    );
    const h = history({ 41: base, 42: flagged }, 41);
    assert.deepEqual(h.notes(THING, ["A"], "Thing"), ["Deprecated in API 1.42."]);
  });
  await t.step("without a version when the base marks it already, before a removal", () => {
    const h = history(
      { 41: spec(41, ...thing({ A: "Text.\n\n**Deprecated**: gone soon." })), 42: base },
      41,
    );
    assert.deepEqual(h.notes(THING, ["A"], "Thing"), ["Deprecated."]);
    const gone = spec(42, ...thing({ B: null }));
    const removed = history(
      { 41: spec(41, ...thing({ A: "Deprecated: x." })), 42: gone },
      41,
    );
    assert.deepEqual(removed.notes(THING, ["A"], "Thing"), [
      "Deprecated.",
      "Not in API 1.42 and later.",
    ]);
  });
});

Deno.test("ApiHistory finds a definition where the base document uses it", async (t) => {
  const use = (name: string) => [
    "paths:",
    "  /things/{id}:",
    "    get:",
    "      operationId: ThingInspect",
    "      responses:",
    "        200:",
    "          schema:",
    `            $ref: "#/definitions/${name}"`,
  ];
  const base = spec(41, ...use("Thing"), ...thing({ A: null, B: null }));
  await t.step("inline before it got a name: not added", () => {
    const inline = spec(
      25,
      ...use("Thing").slice(0, -1),
      "            type: object",
      "            properties:",
      "              A: { type: string }",
      "              B: { type: string }",
      "definitions: {}",
    );
    const h = history({ 25: inline, 41: base }, 41);
    assert.deepEqual(h.notes(THING, [], "Thing"), []);
    assert.deepEqual(h.notes(THING, ["B"], "Thing"), []);
  });
  await t.step("renamed later: not removed", () => {
    const renamed = spec(
      42,
      ...use("ThingSummary"),
      ...thing({ A: null, B: null }).map((l) => l.replace("Thing:", "ThingSummary:")),
    );
    const h = history({ 41: base, 42: renamed }, 41);
    assert.deepEqual(h.notes(THING, [], "Thing"), []);
    assert.deepEqual(h.notes(THING, ["A"], "Thing"), []);
  });
  await t.step("an older definition of the same name that is another object: added", () => {
    const other = spec(
      25,
      "definitions:",
      "  Thing:",
      "    type: object",
      "    properties:",
      "      Hostname: { type: string }",
    );
    const h = history({ 25: other, 41: base }, 41);
    assert.deepEqual(h.notes(THING, [], "Thing"), ["Added in API 1.41."]);
  });
  await t.step("inline responses and bodies by operation id", () => {
    const body = (version: number, ...properties: string[]) =>
      spec(
        version,
        "paths:",
        "  /things/create:",
        "    post:",
        "      operationId: ThingCreate",
        "      parameters:",
        "        - name: body",
        "          in: body",
        "          schema:",
        "            type: object",
        "            properties:",
        ...properties.map((p) => `              ${p}: { type: string }`),
      );
    const h = history({ 25: body(25, "A"), 41: body(41, "A", "B"), 42: body(42, "B") }, 41);
    const source: ModelSource = { kind: "body", operationId: "ThingCreate" };
    assert.deepEqual(h.notes(source, ["A"], "ThingCreateBody"), ["Not in API 1.42 and later."]);
    assert.deepEqual(h.notes(source, ["B"], "ThingCreateBody"), ["Added in API 1.41."]);
  });
});

/** The models the generator's aliases name (`ExecCreateBody` and others), at their least. */
const ALIAS_TARGETS_PATHS = [
  "  /build/prune:",
  "    post:",
  "      operationId: BuildPrune",
  "      tags: [Image]",
  "      responses:",
  "        200:",
  "          schema:",
  "            type: object",
  "            properties:",
  "              SpaceReclaimed: { type: integer, description: Disk space reclaimed in bytes. }",
  "  /containers/{id}/exec:",
  "    post:",
  "      operationId: ContainerExec",
  "      tags: [Exec]",
  "      parameters:",
  "        - name: execConfig",
  "          in: body",
  "          schema:",
  "            type: object",
  "            properties:",
  "              Tty: { type: boolean, description: Allocate a pseudo-TTY. }",
];
const ALIAS_TARGETS_DEFINITIONS = [
  "  ImageHistoryResponseItem:",
  "    type: object",
  "    properties:",
  "      Id: { type: string }",
];

Deno.test("generateTypes puts history notes in the models' JSDoc", () => {
  const base = spec(
    41,
    "paths:",
    "  /version:",
    "    get:",
    "      operationId: SystemVersion",
    "      tags: [System]",
    "      responses:",
    "        200:",
    "          schema:",
    "            type: object",
    "            properties:",
    "              Platform:",
    "                type: object",
    "                description: The platform.",
    "                properties:",
    "                  Name: { type: string, description: Name of the platform. }",
    ...ALIAS_TARGETS_PATHS,
    "definitions:",
    ...ALIAS_TARGETS_DEFINITIONS,
    "  Port:",
    "    description: An open port.",
    "    type: object",
    "    properties:",
    "      IP:",
    "        type: string",
    // 77 characters: on one line with the note, "API" would end the line.
    "        description: Host IP address that the port of the container is mapped to, on the host end.",
    "      Type:",
    "        type: string",
    "        enum: [tcp, udp]",
    '        description: "Protocol of the port, one of:\\n\\n- `tcp`: TCP\\n- `udp`: UDP"',
    "      Legacy: { type: string, description: 'Deprecated: use IP.' }",
  );
  const newer = spec(
    42,
    "paths:",
    "  /version:",
    "    get:",
    "      operationId: SystemVersion",
    "      responses:",
    "        200:",
    "          schema:",
    "            type: object",
    "            properties:",
    "              Platform:",
    "                type: object",
    "                properties: {}",
    "definitions:",
    "  Port:",
    "    type: object",
    "    properties:",
    "      IP: { type: string, description: 'Deprecated: no longer set.' }",
  );
  const older = spec(25, "definitions: {}", "paths: {}");
  const files = generateTypes(base, history({ 25: older, 41: base, 42: newer }, 41));
  const common = files.get("common.ts")!;
  assert.match(common, /\/\*\* An open port\. Added in API 1\.41\. \*\/\nexport interface Port/);
  // A long doc wraps, but "API 1.42" stays on one line.
  assert.match(common, /the host end\. Deprecated in\n {3}\* API 1\.42\.\n/);
  // After a list, the note is a paragraph of its own.
  assert.match(
    common,
    / {3}\* - `udp`: UDP\n {3}\*\n {3}\* Not in API 1\.42 and later\.\n {3}\*\//,
  );
  // No "Deprecated." when the description says so.
  assert.match(common, /\/\*\* Deprecated: use IP\. Not in API 1\.42 and later\. \*\/\n {2}Legacy/);
  // Properties of an inline response, nested.
  assert.match(
    files.get("system.ts")!,
    / {4}\/\*\* Name of the platform\. Not in API 1\.42 and later\. \*\/\n {4}Name/,
  );
  assert.match(common, /History notes come from the specifications of API 1\.25 to 1\.42/);
  assert.match(files.get("mod.ts")!, /newer specifications lack it\.\n \*\n \* @module\n/);
  // Without the history, no notes.
  const plain = generateTypes(base).get("common.ts")!;
  assert.doesNotMatch(plain, /Added in|Deprecated in|Not in API|History notes/);
});

Deno.test("specVersion reads info.version", () => {
  assert.equal(specVersion(spec(41)), 41);
  assert.throws(() => specVersion(parseYaml("info: { version: v2 }")), RangeError);
});

/**
 * The JSDoc text (lines joined) of `property` in `export interface model` of
 * the committed `src/types/${file}`.
 */
async function committedDoc(file: string, model: string, property: string): Promise<string> {
  const text = await Deno.readTextFile(new URL(`../src/types/${file}`, import.meta.url));
  const start = text.indexOf(`export interface ${model} `);
  assert.ok(start >= 0, `no interface ${model} in ${file}`);
  const end = text.indexOf("\n}\n", start);
  const body = text.slice(start, end);
  const at = body.search(new RegExp(`\\n  ${property}\\??:`));
  assert.ok(at >= 0, `no ${model}.${property} in ${file}`);
  const docStart = body.lastIndexOf("/**", at);
  return body.slice(docStart, at).replace(/\s*\n\s*\*(?!\/)\s*/g, " ");
}

Deno.test("src/types notes API history that moby's changelog confirms", async (t) => {
  // v1.41: "`POST /containers/create` on Linux now accepts the `HostConfig.CgroupnsMode` property."
  await t.step("HostConfig.CgroupnsMode added in 1.41", async () => {
    assert.match(
      await committedDoc("containers.ts", "HostConfig", "CgroupnsMode"),
      /Added in API 1\.41\./,
    );
  });
  // v1.43: "The `VirtualSize` field ... is deprecated and will no longer be included in API v1.44."
  await t.step("ImageSummary.VirtualSize deprecated in 1.43, gone in 1.44", async () => {
    assert.match(
      await committedDoc("images.ts", "ImageSummary", "VirtualSize"),
      /Deprecated in API 1\.43\. Not in API 1\.44 and later\./,
    );
  });
  // v1.44: "The `Container` and `ContainerConfig` fields ... are deprecated and will no longer
  // be included in API v1.45."
  await t.step("ImageInspect.ContainerConfig deprecated in 1.44, gone in 1.45", async () => {
    assert.match(
      await committedDoc("images.ts", "ImageInspect", "ContainerConfig"),
      /Deprecated in API 1\.44\. Not in API 1\.45 and later\./,
    );
  });
  // v1.52: "the `NetworkSettings` no longer returns the deprecated ... `IPAddress` ... fields."
  await t.step("NetworkSettings.IPAddress gone in 1.52", async () => {
    const doc = await committedDoc("containers.ts", "NetworkSettings", "IPAddress");
    assert.match(doc, /Deprecated\. Not in API 1\.52 and later\./);
  });
  // v1.42 removed `KernelMemory`; no later note on a field every version has.
  await t.step("Resources.KernelMemory gone in 1.42; CpuShares has no note", async () => {
    assert.match(
      await committedDoc("containers.ts", "Resources", "KernelMemory"),
      /Not in API 1\.42 and later\./,
    );
    assert.doesNotMatch(
      await committedDoc("containers.ts", "Resources", "CpuShares"),
      /API 1\.|Deprecated/,
    );
  });
  // First described in v1.32 (`GET /info` was documented in full then), but not added there.
  await t.step("SystemInfo.LoggingDriver has no Added note", async () => {
    assert.doesNotMatch(await committedDoc("system.ts", "SystemInfo", "LoggingDriver"), /Added in/);
  });
});

Deno.test("fixSpec corrects what API 1.41's specification says wrong about the engine's answers", async (t) => {
  const wrong = spec(
    41,
    "definitions:",
    "  PluginInterfaceType:",
    "    type: object",
    "    properties:",
    "      Prefix:",
    "        type: string",
    "paths:",
    "  /services/create:",
    "    post:",
    "      operationId: ServiceCreate",
    "      responses:",
    "        201:",
    "          schema:",
    "            type: object",
    "            title: ServiceCreateResponse",
    "            properties:",
    "              ID:",
    "                type: string",
    "              Warning:",
    "                type: string",
  ) as Parameters<typeof fixSpec>[0];
  const fixed = fixSpec(wrong);
  await t.step("a plugin's interface types are strings (docker.volumedriver/1.0)", () => {
    assert.equal(fixed.definitions?.PluginInterfaceType?.type, "string");
    assert.equal(fixed.definitions?.PluginInterfaceType?.properties, undefined);
  });
  await t.step("a service's creation answers Warnings, an array", () => {
    const answer = fixed.paths?.["/services/create"]?.post?.responses?.["201"]?.schema;
    assert.deepEqual(Object.keys(answer?.properties ?? {}), ["ID", "Warnings"]);
    assert.equal(answer?.properties?.Warnings?.type, "array");
  });
  await t.step("the input is left as it was", () => {
    assert.equal(wrong.definitions?.PluginInterfaceType?.type, "object");
  });
  await t.step("the committed types have both fixes", async () => {
    const plugins = await Deno.readTextFile(new URL("../src/types/plugins.ts", import.meta.url));
    assert.match(plugins, /export type PluginInterfaceType = string;/);
    assert.doesNotMatch(
      await committedDoc("swarm.ts", "ServiceCreateResponse", "Warnings"),
      /Added in/,
    );
  });
});
