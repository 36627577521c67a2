/**
 * `.dockerignore` files with Docker's semantics: how the file is read
 * ({@linkcode parseDockerignore}) and how its patterns decide which paths of
 * a build context are left out ({@linkcode DockerignoreMatcher}).
 *
 * The rules follow moby's `patternmatcher` and `ignorefile` packages and
 * the Docker documentation:
 *
 * - Lines starting with `#` are comments; blank lines are skipped; each
 *   line is trimmed of surrounding whitespace.
 * - Each pattern is cleaned like Go's `path.Clean` (`./a` → `a`,
 *   `a//b/` → `a/b`, `a/../b` → `b`) and a leading `/` is dropped, so
 *   `/a`, `./a` and `a` are the same pattern, and a trailing `/` does not
 *   restrict a pattern to directories.
 * - `*` matches any run of characters other than `/`, `?` one character
 *   other than `/`, `[...]` a character class (`[^...]` negated, ranges
 *   `a-z`), and `\` escapes the next character.
 * - `**` matches any number of directories, zero included: `**\/*.go`
 *   matches `a.go` and `x/y/a.go`. A leading `**` with no other wildcard
 *   is a suffix test (`**.log` matches `a/b.log`); a trailing `**` after
 *   literal text is a prefix test (`tmp**` matches `tmp1` and `tmp/x`).
 * - A pattern that matches a directory matches everything inside it.
 * - A pattern starting with `!` is an exception: it re-includes what
 *   earlier patterns excluded. The last pattern that matches a path (or a
 *   directory above it) wins. This is moby's `MatchesOrParentMatches`;
 *   its tree-walking shortcut (`MatchesUsingParentResults`) can differ
 *   when a pattern matches a directory that an earlier pattern already
 *   excluded (`docs`, `!docs/**\/*.md`, `docs/private` keeps
 *   `docs/private/a.md` there); berth applies the documented rule.
 *
 * @module
 */

/** The decision for one path, and what its children inherit. */
export interface DockerignoreMatch {
  /** Whether the path is left out of the context. */
  excluded: boolean;
  /**
   * Which patterns matched the path, by index (an opaque value to pass as
   * `parent` when matching the path's children).
   */
  state: readonly boolean[];
}

const BOM = "\uFEFF";

/**
 * Cleans a slash-separated path like Go's `path.Clean`: repeated slashes,
 * `.` elements and trailing slashes are removed, and `..` elements cancel
 * the element before them (a `..` at the root of an absolute path is
 * dropped). An empty result is `"."`.
 *
 * @param path A path with `/` separators.
 * @returns The shortest equivalent path.
 *
 * @example Clean patterns and paths
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanPath } from "./dockerignore.ts";
 *
 * assert.equal(cleanPath("./a//b/../c/"), "a/c");
 * assert.equal(cleanPath("/../x"), "/x");
 * assert.equal(cleanPath("a/.."), ".");
 * ```
 */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const element of path.split("/")) {
    if (element === "" || element === ".") continue;
    if (element === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(element);
  }
  const cleaned = (rooted ? "/" : "") + parts.join("/");
  return cleaned === "" ? "." : cleaned;
}

/**
 * Normalises one pattern as Docker does: trims it, keeps a leading `!`
 * (trimming after it), cleans the rest and drops a leading `/`.
 */
function normalisePattern(line: string): string | undefined {
  let pattern = line.trim();
  if (pattern === "") return undefined;
  const exception = pattern.startsWith("!");
  if (exception) pattern = pattern.slice(1).trim();
  if (pattern !== "") {
    pattern = cleanPath(pattern);
    if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
  }
  return exception ? `!${pattern}` : pattern;
}

/**
 * Reads the text of a `.dockerignore` file into patterns, as the docker
 * CLI does: a UTF-8 byte order mark is dropped, lines starting with `#`
 * are comments (a `#` after leading spaces is not), blank lines are
 * skipped, and each pattern is trimmed, cleaned (Go's `path.Clean`) and
 * loses a leading `/`. Exceptions keep their `!`.
 *
 * @param text The file's contents.
 * @returns The patterns, in file order.
 *
 * @example Read a .dockerignore file
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDockerignore } from "./dockerignore.ts";
 *
 * const patterns = parseDockerignore("# build output\n/dist/\n./tmp\n\n*.md\n! README.md\n");
 * assert.deepEqual(patterns, ["dist", "tmp", "*.md", "!README.md"]);
 * ```
 */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = (text.startsWith(BOM) ? text.slice(1) : text).split("\n");
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    const pattern = normalisePattern(line);
    if (pattern !== undefined) patterns.push(pattern);
  }
  return patterns;
}

/** How a compiled pattern tests a path; as moby picks it, which matters for `**`. */
type Test =
  | { kind: "exact"; text: string }
  | { kind: "prefix"; text: string }
  | { kind: "suffix"; text: string }
  | { kind: "regexp"; regexp: RegExp };

interface CompiledPattern {
  /** The pattern as written after normalisation (without `!`). */
  source: string;
  exception: boolean;
  test: Test;
  /** One matcher per `/`-separated part, to tell whether a directory may hold a match. */
  parts: (Test | "**")[];
}

/** A code point as a regular expression literal (the `u` flag is on). */
function literal(char: string): string {
  return /[A-Za-z0-9_]/.test(char) ? char : `\\u{${char.codePointAt(0)!.toString(16)}}`;
}

function badPattern(pattern: string, reason: string): TypeError {
  return new TypeError(`Invalid .dockerignore pattern ${JSON.stringify(pattern)}: ${reason}`);
}

/**
 * Translates a `[...]` class starting at `chars[start]` (the `[`), with Go
 * `filepath.Match` syntax: optional `^`, ranges `a-z`, `\` escapes, a `]`
 * right after the `[` (or `[^`) taken literally. A class never matches `/`.
 *
 * @returns The regular expression and the index after the `]`.
 */
function translateClass(chars: string[], start: number, pattern: string): [string, number] {
  let i = start + 1;
  let negated = false;
  if (chars[i] === "^") {
    negated = true;
    i++;
  }
  const next = (): string => {
    const char = chars[i];
    if (char === undefined) throw badPattern(pattern, "unterminated character class");
    i++;
    if (char === "\\") {
      const escaped = chars[i];
      if (escaped === undefined) throw badPattern(pattern, "trailing backslash");
      i++;
      return escaped;
    }
    return char;
  };
  let body = "";
  let count = 0;
  while (true) {
    if (chars[i] === undefined) throw badPattern(pattern, "unterminated character class");
    if (chars[i] === "]" && count > 0) {
      i++;
      break;
    }
    const low = next();
    let high = low;
    if (chars[i] === "-" && chars[i + 1] !== undefined && chars[i + 1] !== "]") {
      i++;
      high = next();
      if (high.codePointAt(0)! < low.codePointAt(0)!) {
        throw badPattern(pattern, `character range ${low}-${high} is out of order`);
      }
    }
    body += low === high ? literal(low) : `${literal(low)}-${literal(high)}`;
    count++;
  }
  return [negated ? `[^/${body}]` : `(?!/)[${body}]`, i];
}

/**
 * Compiles a pattern (without its `!`) the way moby does: an exact,
 * prefix or suffix test when the wildcards allow it, else an anchored
 * regular expression.
 */
function compile(pattern: string, whole: string): Test {
  const chars = Array.from(pattern);
  let kind: Test["kind"] = "exact";
  let source = "^";
  for (let i = 0, step = 0; i < chars.length; step++) {
    const char = chars[i++]!;
    if (char === "*") {
      if (chars[i] === "*") {
        i++;
        // `**/` is treated as `**`.
        if (chars[i] === "/") i++;
        if (i >= chars.length) {
          // A trailing `**` matches everything below (as in .gitignore).
          if (kind === "exact") kind = "prefix";
          else {
            source += ".*";
            kind = "regexp";
          }
        } else {
          // Any number of directories, zero included.
          source += "(?:.*/)?";
          kind = "regexp";
        }
        if (step === 0) kind = "suffix";
      } else {
        source += "[^/]*";
        kind = "regexp";
      }
    } else if (char === "?") {
      source += "[^/]";
      kind = "regexp";
    } else if (char === "\\") {
      const escaped = chars[i++];
      if (escaped === undefined) throw badPattern(whole, "trailing backslash");
      source += literal(escaped);
      kind = "regexp";
    } else if (char === "[") {
      const [translated, end] = translateClass(chars, i - 1, whole);
      source += translated;
      i = end;
      kind = "regexp";
    } else {
      source += literal(char);
    }
  }
  switch (kind) {
    case "exact":
      return { kind, text: pattern };
    case "prefix":
      return { kind, text: pattern.slice(0, -2) };
    case "suffix":
      return { kind, text: pattern.slice(2) };
    default:
      return { kind: "regexp", regexp: new RegExp(`${source}$`, "u") };
  }
}

function runTest(test: Test, path: string): boolean {
  switch (test.kind) {
    case "exact":
      return path === test.text;
    case "prefix":
      return path.startsWith(test.text);
    case "suffix":
      // `**/foo` also matches `foo` itself.
      return path.endsWith(test.text) ||
        (test.text.startsWith("/") && path === test.text.slice(1));
    case "regexp":
      return test.regexp.test(path);
  }
}

/** The parent directories of a relative path, shallowest first: `a/b/c` → `a`, `a/b`. */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
    out.push(path.slice(0, slash));
  }
  return out;
}

/**
 * Decides which paths of a build context a list of `.dockerignore`
 * patterns leaves out, with moby's semantics (see the module docs).
 * Paths are relative to the context root, with `/` separators.
 *
 * @example Exclude Markdown files except READMEs
 * ```ts
 * import assert from "node:assert/strict";
 * import { DockerignoreMatcher } from "./dockerignore.ts";
 *
 * const matcher = new DockerignoreMatcher(["*.md", "!README*.md", "README-secret.md"]);
 * assert.equal(matcher.matches("CHANGELOG.md"), true);
 * assert.equal(matcher.matches("README.md"), false);
 * assert.equal(matcher.matches("README-secret.md"), true);
 * ```
 */
export class DockerignoreMatcher {
  readonly #patterns: CompiledPattern[] = [];
  readonly #hasExceptions: boolean;

  /**
   * Compiles the patterns. Each is normalised as {@linkcode parseDockerignore}
   * does (trimmed, cleaned, leading `/` dropped); empty ones are skipped.
   *
   * @param patterns Patterns in order, exceptions starting with `!`.
   * @throws {TypeError} For a pattern that is only `!`, or a malformed one
   *   (unterminated `[`, reversed range, trailing `\`).
   */
  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      if (typeof raw !== "string") throw new TypeError("A .dockerignore pattern must be a string");
      const normalised = normalisePattern(raw);
      if (normalised === undefined) continue;
      const exception = normalised.startsWith("!");
      const source = exception ? normalised.slice(1) : normalised;
      if (source === "") throw badPattern(raw, `an exception needs a pattern after "!"`);
      this.#patterns.push({
        source,
        exception,
        test: compile(source, raw),
        parts: source.split("/").map((part) => part.includes("**") ? "**" : compile(part, raw)),
      });
    }
    this.#hasExceptions = this.#patterns.some((pattern) => pattern.exception);
  }

  /** The normalised patterns, exceptions with their `!`. */
  get patterns(): string[] {
    return this.#patterns.map((pattern) => (pattern.exception ? "!" : "") + pattern.source);
  }

  /** Whether any pattern is an exception (`!`). */
  get hasExceptions(): boolean {
    return this.#hasExceptions;
  }

  /**
   * Whether a path is left out of the context: it, or a directory above
   * it, matches a pattern, and no later exception re-includes it. The
   * context root (`.` or `""`) is never excluded.
   *
   * @param path Path relative to the context root (`./` and a leading `/`
   *   are ignored).
   * @returns `true` when the path is excluded.
   *
   * @example Patterns match whole directories
   * ```ts
   * import assert from "node:assert/strict";
   * import { DockerignoreMatcher } from "./dockerignore.ts";
   *
   * const matcher = new DockerignoreMatcher(["node_modules", "!node_modules/keep"]);
   * assert.equal(matcher.matches("node_modules/lib/index.js"), true);
   * assert.equal(matcher.matches("node_modules/keep"), false);
   * ```
   */
  matches(path: string): boolean {
    const cleaned = cleanPath(path.replace(/^\/+/, ""));
    if (cleaned === "." || cleaned.startsWith("../") || cleaned === "..") return false;
    let parent: readonly boolean[] | undefined;
    for (const directory of parents(cleaned)) parent = this.match(directory, parent).state;
    return this.match(cleaned, parent).excluded;
  }

  /**
   * Decides one path given the result of its parent directory, for
   * walking a tree top-down: a pattern that matched the parent matches the
   * child, and the last matching pattern decides. Without `parent`, the
   * path's ancestors are tested directly.
   *
   * @param path Clean path relative to the context root.
   * @param parent The `state` of the parent directory's match, if known.
   * @returns The decision and the state for the path's children.
   *
   * @example Walk a tree
   * ```ts
   * import assert from "node:assert/strict";
   * import { DockerignoreMatcher } from "./dockerignore.ts";
   *
   * const matcher = new DockerignoreMatcher(["docs", "!docs/README.md"]);
   * const docs = matcher.match("docs");
   * assert.equal(docs.excluded, true);
   * assert.equal(matcher.match("docs/README.md", docs.state).excluded, false);
   * assert.equal(matcher.match("docs/guide.md", docs.state).excluded, true);
   * ```
   */
  match(path: string, parent?: readonly boolean[]): DockerignoreMatch {
    const state: boolean[] = new Array(this.#patterns.length).fill(false);
    let excluded = false;
    let ancestors: string[] | undefined;
    for (let i = 0; i < this.#patterns.length; i++) {
      const pattern = this.#patterns[i]!;
      let matched = parent?.[i] === true || runTest(pattern.test, path);
      if (!matched && parent === undefined) {
        ancestors ??= parents(path);
        matched = ancestors.some((ancestor) => runTest(pattern.test, ancestor));
      }
      state[i] = matched;
      if (matched) excluded = !pattern.exception;
    }
    return { excluded, state };
  }

  /**
   * Whether an exception could re-include something inside an excluded
   * directory, so that the directory must still be walked. Conservative:
   * it may answer `true` for a directory where nothing ends up included,
   * never `false` where something would be.
   *
   * @param directory Clean path of the directory, relative to the context root.
   * @returns `false` when the whole directory can be skipped.
   *
   * @example Only walk directories an exception reaches into
   * ```ts
   * import assert from "node:assert/strict";
   * import { DockerignoreMatcher } from "./dockerignore.ts";
   *
   * const matcher = new DockerignoreMatcher(["*", "!src/*.ts"]);
   * assert.equal(matcher.mayIncludeUnder("src"), true);
   * assert.equal(matcher.mayIncludeUnder("node_modules"), false);
   * ```
   */
  mayIncludeUnder(directory: string): boolean {
    if (!this.#hasExceptions) return false;
    const names = directory.split("/");
    return this.#patterns.some((pattern) =>
      pattern.exception && couldReachInto(pattern.parts, 0, names, 0)
    );
  }
}

/**
 * Whether the parts of a pattern, from `part`, could match `names` (a
 * directory's path) from `name` or a path below it. A pattern that ends at
 * or above the directory matches it whole, which includes its contents.
 */
function couldReachInto(
  parts: readonly (Test | "**")[],
  part: number,
  names: readonly string[],
  name: number,
): boolean {
  if (name === names.length || part === parts.length) return true;
  const test = parts[part]!;
  if (test === "**") return true;
  return runTest(test, names[name]!) && couldReachInto(parts, part + 1, names, name + 1);
}
