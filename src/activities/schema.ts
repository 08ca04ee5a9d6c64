import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { SchemaError } from '../errors';
import type { ValidationIssue } from '../errors';
import type { JsonSchema } from '../types';

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

// Scripts reuse a handful of schemas across hundreds of agents; compile each once per worker.
const compiled = new Map<string, ValidateFunction>();

/** Compiles a schema with ajv, or throws `SchemaError` when it is not valid JSON Schema (S202). */
export function compileSchema(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  const cached = compiled.get(key);
  if (cached) return cached;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new SchemaError(`agent() schema is not valid JSON Schema: ${(err as Error).message}`);
  }
  compiled.set(key, validate);
  return validate;
}

/** Validates a value against a schema and returns the failures, empty when it is valid. */
export function validateAgainst(schema: JsonSchema, value: unknown): ValidationIssue[] {
  const validate = compileSchema(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(toIssue);
}

function toIssue(error: ErrorObject): ValidationIssue {
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${String((error.params as { additionalProperty?: string }).additionalProperty)})`
      : error.keyword === 'enum'
        ? ` (${JSON.stringify((error.params as { allowedValues?: unknown }).allowedValues)})`
        : '';
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${extra}` };
}

/** One line per issue, the form both the model and the person reading an error get. */
export function formatIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Refuses a schema whose root is not `type: 'object'`: the API accepts only object schemas for a
 * tool's input or a structured output, and answers anything else with a 400 after the agent has
 * started (S802). Scripts call this before the agent runs too.
 */
export function checkSchemaRoot(schema: JsonSchema): void {
  const type = (schema as { type?: unknown }).type;
  if (type !== 'object') {
    const found = type === undefined ? 'no "type"' : `"type": ${JSON.stringify(type)}`;
    throw new SchemaError(
      `agent() schema must have "type": "object" at its root (found ${found}); wrap other values in an object property`,
    );
  }
}
