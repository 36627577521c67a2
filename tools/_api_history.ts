/**
 * The API history behind the notes of `tools/gen_types.ts`: in which
 * versions of moby's swagger files (and its API changelog) each generated
 * model and property is found, deprecated or missing.
 *
 * @module
 */

import { type Operation, refName, type Schema, type Spec } from "./_swagger.ts";
import type { YamlValue } from "./_yaml.ts";

/**
 * Where a generated model sits in a swagger document: a `definitions` entry,
 * the schema of an operation's response (its array's item when `item`), or an
 * operation's body.
 */
export type ModelSource =
  | { kind: "definition"; name: string }
  | { kind: "response"; operationId: string; status: string; item: boolean }
  | { kind: "body"; operationId: string };

/** A place that refers to a definition: a model and the property names down from it. */
interface Site {
  source: ModelSource;
  path: string[];
}

/** One swagger document, indexed for lookups. */
interface Version {
  version: number;
  spec: Spec;
  operations: Map<string, Operation>;
  /** The schemas each definition of the base is found as in this document. */
  located: Map<string, Schema[]>;
}

/** What the documents say about one model or property. */
interface Facts {
  /** First version that has it, unless the oldest. */
  added?: number;
  /** The versions after the base that lack it, worded: "1.44 and later". */
  missing?: string;
  /** First version from the base on that marks it deprecated (the base: it says so already). */
  deprecated?: number;
}

/**
 * The API history of the models and properties of one version, from the
 * swagger documents of every version (moby's `v1.25.yaml` to the newest) and
 * moby's API changelog.
 *
 * A model or property is in a version when that version's document has it at
 * the same place. An inline model is found by its operation id, a property by
 * its name in what was found for its parent, looking through `$ref`, `allOf`,
 * array `items` and `additionalProperties`, so a schema that moved into or out
 * of a definition still counts. A definition is found wherever the base
 * document uses it (the `Config` of `GET /containers/{id}/json` for
 * `ContainerConfig`), so one that was inline before it got a name, or that was
 * renamed or split later, counts as there; it is also found by its name when
 * that definition is the same object (used at one of those places, or sharing
 * at least half of its property names). A property counts as there when any
 * of the places has it. {@linkcode ApiHistory.notes} words the result.
 */
export class ApiHistory {
  #versions: Version[];
  #base: number;
  #baseSpec: Spec;
  #sites = new Map<string, Site[]>();
  /** Words in backticks, by the changelog section they appear in; `undefined` without a changelog. */
  #changelog: Map<number, Set<string>> | undefined;
  #unconfirmed = new Set<string>();

  /**
   * @param specs Parsed swagger documents by minor version (`41` for v1.41).
   * @param base The version the models are generated from; `specs` must have it.
   * @param changelog moby's API changelog (`CHANGELOG.md`, formerly
   * `version-history.md`). With it, an "Added in" note needs the version's
   * section to name the model or property; without it, the documents decide.
   * @throws {RangeError} When `specs` lacks `base`.
   */
  constructor(specs: ReadonlyMap<number, YamlValue>, base: number, changelog?: string) {
    const baseSpec = specs.get(base) as Spec | undefined;
    if (!baseSpec) throw new RangeError(`No swagger document for API 1.${base}`);
    this.#base = base;
    this.#baseSpec = baseSpec;
    this.#versions = [...specs].sort(([a], [b]) => a - b).map(([version, value]) => {
      const spec = value as Spec;
      const operations = new Map<string, Operation>();
      for (const methods of Object.values(spec.paths ?? {})) {
        for (const [method, op] of Object.entries(methods)) {
          if (method !== "parameters" && op.operationId) operations.set(op.operationId, op);
        }
      }
      return { version, spec, operations, located: new Map() };
    });
    this.#changelog = changelog === undefined ? undefined : changelogWords(changelog);
    this.#collectSites(baseSpec);
  }

  /** The version the models are generated from, such as `41`. */
  get base(): number {
    return this.#base;
  }

  /** The oldest and the newest version, such as `[25, 55]`. */
  get range(): [number, number] {
    return [this.#versions[0]!.version, this.#versions.at(-1)!.version];
  }

  /**
   * First appearances that got no "Added in" note because the changelog does
   * not name them, as `Model.Property (1.NN)`, sorted. Filled by
   * {@linkcode ApiHistory.notes}.
   */
  get unconfirmed(): string[] {
    return [...this.#unconfirmed].sort();
  }

  /**
   * The history note of a model (`path` empty) or of one of its properties
   * (`path` names the properties down from the model):
   * - "Added in API 1.NN." when 1.NN is the first document that has it and the
   *   changelog's 1.NN section names it in backticks: old documents are
   *   incomplete (`GET /info` was first described in full in v1.32). What the
   *   oldest document has gets no note.
   * - "Deprecated in API 1.MM." for the first version after the base whose
   *   description marks it deprecated: a line that starts with `Deprecated:`
   *   or `**Deprecated**:` (after an optional `>`), or `x-deprecated: true`.
   *   Just "Deprecated." when the base's does already: fixes are backported to
   *   old documents, so the base cannot tell when.
   * - "Not in API 1.MM and later." for the versions after the base that lack
   *   it; should it come back, each range is named ("Not in API 1.44–1.46.").
   *
   * A note the enclosing model or property has too is left out.
   *
   * @param source Where the model is in the base document.
   * @param path Property names below the model.
   * @param name The model's name, to look up in the changelog when `path` is empty.
   * @returns The sentences of the note, in that order; `undefined` when the
   * base document lacks the model or property.
   */
  notes(source: ModelSource, path: readonly string[], name: string): string[] | undefined {
    const own = this.#facts(source, path);
    if (!own) return undefined;
    const parent = path.length ? this.#facts(source, path.slice(0, -1)) : undefined;
    const notes: string[] = [];
    if (own.added && own.added !== parent?.added) {
      const word = path.at(-1) ?? name;
      if (!this.#changelog || this.#changelog.get(own.added)?.has(word)) {
        notes.push(`Added in API 1.${own.added}.`);
      } else {
        this.#unconfirmed.add(`${[name, ...path].join(".")} (1.${own.added})`);
      }
    }
    if (own.deprecated && own.deprecated !== parent?.deprecated) {
      notes.push(
        own.deprecated === this.#base ? "Deprecated." : `Deprecated in API 1.${own.deprecated}.`,
      );
    }
    if (own.missing && own.missing !== parent?.missing) notes.push(`Not in API ${own.missing}.`);
    return notes;
  }

  /** Records where the base document uses each definition. */
  #collectSites(spec: Spec): void {
    const walk = (source: ModelSource, schema: Schema | undefined, path: string[]) => {
      if (!schema) return;
      if (schema.$ref) {
        const name = refName(schema.$ref);
        let sites = this.#sites.get(name);
        if (!sites) this.#sites.set(name, sites = []);
        sites.push({ source, path });
        return;
      }
      for (const [key, child] of Object.entries(schema.properties ?? {})) {
        walk(source, child, [...path, key]);
      }
      for (const part of schema.allOf ?? []) walk(source, part, path);
      walk(source, schema.items, path);
      if (typeof schema.additionalProperties === "object") {
        walk(source, schema.additionalProperties, path);
      }
    };
    for (const [name, schema] of Object.entries(spec.definitions ?? {})) {
      walk({ kind: "definition", name }, schema, []);
    }
    for (const methods of Object.values(spec.paths ?? {})) {
      for (const [method, op] of Object.entries(methods)) {
        const operationId = op.operationId;
        if (method === "parameters" || !operationId) continue;
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          walk({ kind: "response", operationId, status, item: false }, response.schema, []);
        }
        walk(
          { kind: "body", operationId },
          op.parameters?.find((p) => p.in === "body")?.schema,
          [],
        );
      }
    }
  }

  /** What the documents say; `undefined` when the base lacks it. */
  #facts(source: ModelSource, path: readonly string[]): Facts | undefined {
    const found = this.#versions.map((v) => ({ v, schemas: this.#find(v, source, path) }));
    const at = found.findIndex((f) => f.v.version === this.#base);
    if (!found[at]!.schemas.length) return undefined;
    const facts: Facts = {};
    // A gap before the base is a slip of the documents (v1.26's `NanoCPUs` for `NanoCpus`).
    const first = found.findIndex((f) => f.schemas.length);
    if (first > 0) facts.added = found[first]!.v.version;
    const later = found.slice(at + 1);
    const ranges: string[] = [];
    for (let i = 0; i < later.length; i++) {
      if (later[i]!.schemas.length) continue;
      let end = i;
      while (end + 1 < later.length && !later[end + 1]!.schemas.length) end++;
      const from = `1.${later[i]!.v.version}`;
      const to = `1.${later[end]!.v.version}`;
      ranges.push(
        end === later.length - 1 ? `${from} and later` : end === i ? from : `${from}–${to}`,
      );
      i = end;
    }
    if (ranges.length) {
      facts.missing = ranges.length === 1
        ? ranges[0]!
        : `${ranges.slice(0, -1).join(", ")} or ${ranges.at(-1)}`;
    }
    // A property is deprecated where every place that has it says so; a model
    // where its definition of the same name does.
    const deprecated = ({ v, schemas }: (typeof found)[number]): boolean => {
      if (path.length) return schemas.length > 0 && schemas.every(isDeprecated);
      const own = source.kind === "definition" ? v.spec.definitions?.[source.name] : schemas[0];
      return own !== undefined && schemas.includes(own) && isDeprecated(own);
    };
    const marked = found.slice(at).find(deprecated);
    if (marked) facts.deprecated = marked.v.version;
    return facts;
  }

  /** The schemas a model or property is found as in one document; none when it lacks it. */
  #find(v: Version, source: ModelSource, path: readonly string[]): Schema[] {
    let schemas = this.#locate(v, source);
    for (const name of path) {
      if (!schemas.length) break;
      const found = schemas.map((s) => findProperty(v.spec, s, name, new Set()));
      schemas = [...new Set(found.filter((s) => s !== undefined))];
    }
    return schemas;
  }

  #locate(v: Version, source: ModelSource): Schema[] {
    if (source.kind !== "definition") {
      const op = v.operations.get(source.operationId);
      let schema = source.kind === "body"
        ? op?.parameters?.find((p) => p.in === "body")?.schema
        : op?.responses?.[source.status]?.schema;
      if (schema && source.kind === "response" && source.item) {
        schema = dereference(v.spec, schema).items;
      }
      return schema ? [schema] : [];
    }
    const name = source.name;
    const cached = v.located.get(name);
    if (cached) return cached;
    // Nothing while looking (a definition that contains itself).
    v.located.set(name, []);
    const sites = this.#sites.get(name) ?? [];
    const places = sites.flatMap((site) => this.#find(v, site.source, site.path));
    const own = v.spec.definitions?.[name];
    const same = own !== undefined &&
      (!sites.length || places.some((p) => refersTo(p, name)) ||
        sameShape(own, this.#baseSpec.definitions?.[name]));
    const located = [...new Set(same ? [own, ...places] : places)];
    v.located.set(name, located);
    return located;
  }
}

/** Words in backticks in each `## v1.NN API changes` section of moby's API changelog. */
function changelogWords(text: string): Map<number, Set<string>> {
  const sections = new Map<number, Set<string>>();
  for (const section of text.split(/^(?=## )/m)) {
    const heading = /^## [vV]1\.(\d+) API changes/.exec(section);
    if (!heading) continue;
    const words = new Set<string>();
    for (const span of section.matchAll(/`([^`]+)`/g)) {
      for (const token of span[1]!.split(/[^\w.-]+/)) {
        if (!token) continue;
        words.add(token);
        for (const part of token.split(".")) if (part) words.add(part);
      }
    }
    sections.set(Number(heading[1]), words);
  }
  return sections;
}

/** Whether a schema says it is deprecated; see {@linkcode ApiHistory.notes}. */
function isDeprecated(schema: Schema): boolean {
  if (schema["x-deprecated"] === true) return true;
  return /^[ \t]*(?:>[ \t]*)?(?:\*\*)?Deprecated(?:\*\*)?:/m.test(schema.description ?? "");
}

/** Whether `schema` is definition `name`, directly or through `allOf`, `items` or a map. */
function refersTo(schema: Schema, name: string): boolean {
  if (schema.$ref) return refName(schema.$ref) === name;
  const parts = [
    ...(schema.allOf ?? []),
    ...(schema.items ? [schema.items] : []),
    ...(typeof schema.additionalProperties === "object" ? [schema.additionalProperties] : []),
  ];
  return parts.some((part) => refersTo(part, name));
}

/**
 * Whether two definitions of one name are the same object: the other has at
 * least half of `base`'s property names, or neither has properties and both
 * have the same type.
 */
function sameShape(other: Schema, base: Schema | undefined): boolean {
  if (!base) return false;
  const names = (s: Schema) =>
    new Set([s, ...(s.allOf ?? [])].flatMap((part) => Object.keys(part.properties ?? {})));
  const mine = names(base);
  if (!mine.size) return !names(other).size && other.type === base.type;
  const theirs = names(other);
  return [...mine].filter((n) => theirs.has(n)).length * 2 >= mine.size;
}

/** The schema a `$ref` names, or `schema` itself. */
function dereference(spec: Spec, schema: Schema): Schema {
  return schema.$ref ? spec.definitions?.[refName(schema.$ref)] ?? {} : schema;
}

/**
 * Property `name` of an object schema, looking through `$ref`, `allOf` (own
 * parts first), array `items` and `additionalProperties`, as the generator's
 * property paths do.
 */
function findProperty(
  spec: Spec,
  schema: Schema,
  name: string,
  seen: Set<Schema>,
): Schema | undefined {
  schema = dereference(spec, schema);
  if (seen.has(schema)) return undefined;
  seen.add(schema);
  if (schema.properties && Object.hasOwn(schema.properties, name)) return schema.properties[name];
  const parts = [
    ...(schema.allOf ?? []).filter((p) => !p.$ref),
    ...(schema.allOf ?? []).filter((p) => p.$ref),
    ...(schema.items ? [schema.items] : []),
    ...(typeof schema.additionalProperties === "object" ? [schema.additionalProperties] : []),
  ];
  for (const part of parts) {
    const found = findProperty(spec, part, name, seen);
    if (found) return found;
  }
  return undefined;
}
