/**
 * The parts of a swagger (OpenAPI 2) document that `tools/gen_types.ts` and
 * `tools/_api_history.ts` read.
 *
 * @module
 */

/** A swagger schema object (the fields read here). */
export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  title?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  allOf?: Schema[];
  enum?: unknown[];
  $ref?: string;
  "x-nullable"?: boolean;
  "x-deprecated"?: boolean;
}

/** A swagger parameter object (the fields read here). */
export interface Parameter {
  in?: string;
  name?: string;
  schema?: Schema;
}

/** A swagger operation object (the fields read here). */
export interface Operation {
  operationId?: string;
  tags?: string[];
  parameters?: Parameter[];
  responses?: Record<string, { schema?: Schema }>;
}

/** A swagger spec object (the fields read here). */
export interface Spec {
  info?: { version?: string };
  definitions?: Record<string, Schema>;
  paths?: Record<string, Record<string, Operation>>;
}

/** The definition name a `$ref` points to (`#/definitions/Name` → `Name`). */
export function refName(ref: string): string {
  return ref.replace(/^#\/definitions\//, "");
}
