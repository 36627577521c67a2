/**
 * The YAML subset parser of `tools/gen_types.ts`: enough for moby's swagger
 * files (block mappings and sequences, flow collections, plain and quoted
 * scalars, `|`/`>` block scalars and comments). Anchors, aliases, tags and
 * multiple documents are rejected.
 *
 * @module
 */

/** A parsed YAML value. */
export type YamlValue = null | boolean | number | string | YamlValue[] | {
  [key: string]: YamlValue;
};

/** Thrown on YAML this parser does not understand. */
export class YamlError extends Error {
  /** Builds the error for 1-based `line`. */
  constructor(message: string, line: number) {
    super(`YAML line ${line}: ${message}`);
    this.name = "YamlError";
  }
}

/**
 * Parses the YAML subset described in the module doc.
 *
 * @param text The document.
 * @returns The parsed value.
 * @throws {YamlError} On unsupported or malformed input.
 */
export function parseYaml(text: string): YamlValue {
  return new YamlParser(text).parse();
}

const MAP_KEY =
  /^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#\[\]{},"'|>&*!%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s|$)/;

class YamlParser {
  #lines: string[];
  #i = 0;

  constructor(text: string) {
    this.#lines = text.replace(/\r\n?/g, "\n").split("\n");
  }

  parse(): YamlValue {
    this.#skip();
    const first = this.#lines[this.#i];
    if (first !== undefined && /^(---|%)/.test(first)) {
      throw this.#error("directives and document markers are not supported");
    }
    const value = this.#block(-1, false);
    this.#skip();
    if (this.#i < this.#lines.length) throw this.#error("unexpected content");
    return value;
  }

  #error(message: string, line = this.#i): YamlError {
    return new YamlError(message, line + 1);
  }

  /** Moves past blank and comment-only lines. */
  #skip(): void {
    while (this.#i < this.#lines.length) {
      const trimmed = this.#lines[this.#i]!.trim();
      if (trimmed !== "" && !trimmed.startsWith("#")) return;
      this.#i++;
    }
  }

  #indent(line: string): number {
    const n = line.length - line.trimStart().length;
    if (line.slice(0, n).includes("\t")) throw this.#error("tabs in indentation");
    return n;
  }

  /** A node in block context whose lines are indented deeper than `parent`. */
  #block(parent: number, sequenceAtParent: boolean): YamlValue {
    this.#skip();
    const line = this.#lines[this.#i];
    if (line === undefined) return null;
    const n = this.#indent(line);
    const content = line.slice(n);
    const isItem = isSequenceItem(content);
    if (n < parent || (n === parent && !(sequenceAtParent && isItem))) return null;
    if (isItem) return this.#sequence(n);
    if (MAP_KEY.test(content)) return this.#mapping(n);
    // A scalar that starts on the line after its key.
    this.#i++;
    return this.#value(content, parent, false);
  }

  #mapping(n: number): Record<string, YamlValue> {
    const result: Record<string, YamlValue> = {};
    for (;;) {
      this.#skip();
      const line = this.#lines[this.#i];
      if (line === undefined) break;
      const indent = this.#indent(line);
      if (indent < n) break;
      if (indent > n) throw this.#error("unexpected indentation");
      const content = line.slice(n);
      if (isSequenceItem(content)) break;
      const match = MAP_KEY.exec(content);
      if (!match) throw this.#error(`expected "key: value", got ${JSON.stringify(content)}`);
      const rawKey = match[0].replace(/\s*:\s*$/, "").replace(/\s*:$/, "");
      const key = unquoteKey(rawKey);
      if (Object.hasOwn(result, key)) throw this.#error(`duplicate key ${JSON.stringify(key)}`);
      const rest = content.slice(match[0].length);
      this.#i++;
      result[key] = this.#value(rest, n, true);
    }
    return result;
  }

  #sequence(n: number): YamlValue[] {
    const result: YamlValue[] = [];
    for (;;) {
      this.#skip();
      const line = this.#lines[this.#i];
      if (line === undefined) break;
      const indent = this.#indent(line);
      if (indent < n) break;
      if (indent > n) throw this.#error("unexpected indentation");
      const content = line.slice(n);
      if (!isSequenceItem(content)) break;
      const rest = content.slice(1);
      const text = rest.trimStart();
      if (text === "" || text.startsWith("#")) {
        this.#i++;
        result.push(this.#block(n, false));
        continue;
      }
      const column = n + 1 + rest.length - text.length;
      if (MAP_KEY.test(text) || isSequenceItem(text)) {
        // A compact nested collection: re-read this line as if the dash were a space.
        this.#lines[this.#i] = " ".repeat(column) + text;
        result.push(isSequenceItem(text) ? this.#sequence(column) : this.#mapping(column));
        continue;
      }
      this.#i++;
      result.push(this.#value(text, n, false));
    }
    return result;
  }

  /** The value after `key:` or `- `; `owner` is the indentation of that key or dash. */
  #value(rest: string, owner: number, isMapValue: boolean): YamlValue {
    const text = rest.trim();
    if (text === "" || text.startsWith("#")) return this.#block(owner, isMapValue);
    const first = text[0]!;
    if (first === "|" || first === ">") return this.#blockScalar(text, owner);
    if (first === "[" || first === "{") return this.#flowValue(text);
    if (first === '"' || first === "'") return this.#quotedValue(text);
    if ("&*!%@`".includes(first)) throw this.#error(`unsupported YAML feature "${first}"`);
    return this.#plainValue(text, owner);
  }

  #plainValue(text: string, owner: number): YamlValue {
    const parts = [stripComment(text)];
    // Continuation lines: more indented than the owner, until a blank line run
    // ends the scalar or a comment line appears.
    let j = this.#i;
    let breaks = 0;
    for (; j < this.#lines.length; j++) {
      const line = this.#lines[j]!;
      const trimmed = line.trim();
      if (trimmed === "") {
        breaks++;
        continue;
      }
      if (this.#indent(line) <= owner || trimmed.startsWith("#")) break;
      parts.push(breaks > 0 ? "\n".repeat(breaks) : " ");
      parts.push(stripComment(trimmed));
      breaks = 0;
      this.#i = j + 1;
    }
    return resolvePlain(parts.join("").replace(/ ?(\n+) ?/g, "$1"));
  }

  #quotedValue(text: string): YamlValue {
    const start = this.#i - 1;
    let source = text;
    for (;;) {
      const end = quotedEnd(source);
      if (end >= 0) {
        const tail = source.slice(end).trim();
        if (tail !== "" && !tail.startsWith("#")) {
          throw this.#error("content after a quoted scalar", start);
        }
        return unquote(source.slice(0, end));
      }
      const next = this.#lines[this.#i];
      if (next === undefined) throw this.#error("unterminated quoted scalar", start);
      source += "\n" + next.trim();
      this.#i++;
    }
  }

  #flowValue(text: string): YamlValue {
    const start = this.#i - 1;
    let source = text;
    for (;;) {
      const end = flowEnd(source);
      if (end >= 0) {
        const tail = source.slice(end).trim();
        if (tail !== "" && !tail.startsWith("#")) {
          throw this.#error("content after a flow collection", start);
        }
        return new FlowParser(source.slice(0, end), start + 1).parse();
      }
      const next = this.#lines[this.#i];
      if (next === undefined) throw this.#error("unterminated flow collection", start);
      source += " " + stripComment(next.trim());
      this.#i++;
    }
  }

  #blockScalar(header: string, owner: number): string {
    const match = /^([|>])([-+]?)([1-9]?)([-+]?)\s*(#.*)?$/.exec(header);
    if (!match) throw this.#error(`bad block scalar header ${header}`, this.#i - 1);
    const folded = match[1] === ">";
    const chomp = match[2] || match[4] || "";
    const explicit = match[3] ? owner + Number(match[3]) : undefined;
    const raw: string[] = [];
    let contentIndent = explicit;
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i]!;
      if (line.trim() === "") {
        raw.push("");
        this.#i++;
        continue;
      }
      const indent = this.#indent(line);
      contentIndent ??= indent;
      if (indent <= owner || indent < contentIndent) break;
      raw.push(line.slice(contentIndent));
      this.#i++;
    }
    // Blank lines that trail the scalar belong to it only for chomping.
    let last = raw.length;
    while (last > 0 && raw[last - 1] === "") last--;
    const trailing = raw.length - last;
    const lines = raw.slice(0, last);
    let body = folded ? fold(lines) : lines.join("\n");
    if (lines.length === 0) body = "";
    if (chomp === "-") return body;
    if (chomp === "+") return body + "\n".repeat(trailing + (lines.length ? 1 : 0));
    return lines.length ? body + "\n" : "";
  }
}

function isSequenceItem(content: string): boolean {
  return content === "-" || content.startsWith("- ");
}

function stripComment(text: string): string {
  const at = text.search(/\s#/);
  return (at >= 0 ? text.slice(0, at) : text).trim();
}

function unquoteKey(raw: string): string {
  return raw.startsWith('"') || raw.startsWith("'") ? unquote(raw) : raw;
}

/** Index just past the closing quote of the scalar `text` starts with, or -1. */
function quotedEnd(text: string): number {
  const quote = text[0];
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (quote === '"' && c === "\\") {
      i++;
    } else if (c === quote) {
      if (quote === "'" && text[i + 1] === "'") {
        i++;
        continue;
      }
      return i + 1;
    }
  }
  return -1;
}

/** Index just past the flow collection `text` starts with, or -1. */
function flowEnd(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      const end = quotedEnd(text.slice(i));
      if (end < 0) return -1;
      i += end - 1;
    } else if (c === "[" || c === "{") {
      depth++;
    } else if (c === "]" || c === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

const ESCAPES: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\x85",
  _: "\xa0",
  L: "\u2028",
  P: "\u2029",
};

/** Decodes a complete quoted scalar, folding its line breaks. */
function unquote(text: string): string {
  const quote = text[0];
  const inner = text.slice(1, -1);
  // Line folding: a single break becomes a space, n+1 breaks become n newlines.
  const fold = (s: string) =>
    s.replace(/[ \t]*\n[ \t]*((?:\n[ \t]*)*)/g, (_m, extra: string) => {
      const count = (extra.match(/\n/g) ?? []).length;
      return count === 0 ? " " : "\n".repeat(count);
    });
  if (quote === "'") return fold(inner).replaceAll("''", "'");
  let out = "";
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c !== "\\") {
      // Fold runs of unescaped text.
      let j = i;
      while (j < inner.length && inner[j] !== "\\") j++;
      out += fold(inner.slice(i, j));
      i = j - 1;
      continue;
    }
    const e = inner[++i];
    if (e === undefined) break;
    if (e === "\n") {
      while (inner[i + 1] === " " || inner[i + 1] === "\t") i++;
    } else if (e === "x" || e === "u" || e === "U") {
      const size = e === "x" ? 2 : e === "u" ? 4 : 8;
      out += String.fromCodePoint(parseInt(inner.slice(i + 1, i + 1 + size), 16));
      i += size;
    } else if (e in ESCAPES) {
      out += ESCAPES[e];
    } else {
      throw new YamlError(`unknown escape \\${e}`, 0);
    }
  }
  return out;
}

function fold(lines: string[]): string {
  let out = "";
  let breaks = 0;
  let first = true;
  let previousMore = false;
  for (const line of lines) {
    if (line === "") {
      breaks++;
      continue;
    }
    const more = line.startsWith(" ") || line.startsWith("\t");
    if (first) out += "\n".repeat(breaks);
    else if (more || previousMore) out += "\n".repeat(breaks + 1);
    else out += breaks === 0 ? " " : "\n".repeat(breaks);
    out += line;
    breaks = 0;
    first = false;
    previousMore = more;
  }
  return out;
}

/** Resolves a plain scalar with the YAML 1.2 core schema. */
function resolvePlain(text: string): YamlValue {
  if (/^(?:~|null|Null|NULL)?$/.test(text)) return null;
  if (/^(?:true|True|TRUE)$/.test(text)) return true;
  if (/^(?:false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?[0-9]+$/.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return parseInt(text.slice(2), 16);
  if (/^0o[0-7]+$/.test(text)) return parseInt(text.slice(2), 8);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(text)) {
    return Number(text);
  }
  if (/^[-+]?\.(?:inf|Inf|INF)$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^\.(?:nan|NaN|NAN)$/.test(text)) return NaN;
  return text;
}

class FlowParser {
  #text: string;
  #p = 0;
  #line: number;

  constructor(text: string, line: number) {
    this.#text = text;
    this.#line = line;
  }

  parse(): YamlValue {
    const value = this.#node();
    this.#space();
    if (this.#p !== this.#text.length) throw this.#error("trailing characters");
    return value;
  }

  #error(message: string): YamlError {
    return new YamlError(`${message} in flow collection at column ${this.#p + 1}`, this.#line);
  }

  #space(): void {
    while (/\s/.test(this.#text[this.#p] ?? "")) this.#p++;
  }

  #node(): YamlValue {
    this.#space();
    const c = this.#text[this.#p];
    if (c === "[") return this.#sequence();
    if (c === "{") return this.#mapping();
    if (c === '"' || c === "'") return this.#quoted();
    return resolvePlain(this.#plain(false));
  }

  #quoted(): string {
    const end = quotedEnd(this.#text.slice(this.#p));
    if (end < 0) throw this.#error("unterminated quoted scalar");
    const value = unquote(this.#text.slice(this.#p, this.#p + end));
    this.#p += end;
    return value;
  }

  #plain(isKey: boolean): string {
    const start = this.#p;
    while (this.#p < this.#text.length) {
      const c = this.#text[this.#p]!;
      if (c === "," || c === "]" || c === "}" || c === "[" || c === "{") break;
      if (c === ":" && (isKey || /[\s,\]}]/.test(this.#text[this.#p + 1] ?? " "))) break;
      this.#p++;
    }
    return this.#text.slice(start, this.#p).trim();
  }

  #sequence(): YamlValue[] {
    this.#p++;
    const result: YamlValue[] = [];
    for (;;) {
      this.#space();
      if (this.#text[this.#p] === "]") {
        this.#p++;
        return result;
      }
      result.push(this.#node());
      this.#space();
      const c = this.#text[this.#p++];
      if (c === "]") return result;
      if (c !== ",") throw this.#error(`expected "," or "]"`);
    }
  }

  #mapping(): Record<string, YamlValue> {
    this.#p++;
    const result: Record<string, YamlValue> = {};
    for (;;) {
      this.#space();
      if (this.#text[this.#p] === "}") {
        this.#p++;
        return result;
      }
      const c = this.#text[this.#p];
      const key = c === '"' || c === "'" ? this.#quoted() : this.#plain(true);
      this.#space();
      let value: YamlValue = null;
      if (this.#text[this.#p] === ":") {
        this.#p++;
        this.#space();
        const next = this.#text[this.#p];
        if (next !== "," && next !== "}") value = this.#node();
      }
      result[key] = value;
      this.#space();
      const end = this.#text[this.#p++];
      if (end === "}") return result;
      if (end !== ",") throw this.#error(`expected "," or "}"`);
    }
  }
}
