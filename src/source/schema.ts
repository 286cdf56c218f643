/**
 * A collection's declared fields: `GET /v1/collections/{id}` returns a CollectionResponse
 * whose `output_schema` (`{properties: {<field>: {type, items, properties}}}`) and
 * `schema_version` describe what its documents hold (reference/mixpeek-api.md section 8).
 */
import type { MixpeekHttp } from './http.js';

export interface DeclaredSchema {
  /** `output_schema`, or null when the collection declares none (absent, null or without properties). */
  outputSchema: { properties: Record<string, unknown> } | null;
  /** `schema_version`, when the API sends one. */
  schemaVersion: number | null;
}

/** Reads the collection's `output_schema` (with the client's retries and budget). A 404 or 401 throws the client's SourceError. */
export async function fetchDeclaredSchema(http: MixpeekHttp, collectionId: string, signal?: AbortSignal): Promise<DeclaredSchema> {
  return declaredSchemaOf(await http.getJson(`/v1/collections/${encodeURIComponent(collectionId)}`, signal, collectionShapeProblem));
}

/** The declared schema of a CollectionResponse body (pure: `ddl` and the exporter read it alike). */
export function declaredSchemaOf(body: unknown): DeclaredSchema {
  const response = isObject(body) ? body : {};
  const schema = response.output_schema;
  const properties = isObject(schema) && isObject(schema.properties) && Object.keys(schema.properties).length > 0 ? schema.properties : null;
  const version = typeof response.schema_version === 'number' ? response.schema_version : null;
  return { outputSchema: properties ? { properties } : null, schemaVersion: version };
}

/** What is wrong with a CollectionResponse body (null: fine); a wrong body is retried like a cut-off one. */
function collectionShapeProblem(value: unknown): string | null {
  if (!isObject(value)) return 'the body is not a JSON object';
  if (value.output_schema !== undefined && value.output_schema !== null && !isObject(value.output_schema)) return 'output_schema is not an object';
  return null;
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
