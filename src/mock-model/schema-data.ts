/**
 * Deterministic sample data for a JSON Schema. The mock model answers `StructuredOutput` with it,
 * and weft's dry run (S505) uses it as its built-in model, so both need the same prompt to give
 * the same object on every run and every machine.
 */
import { createHash } from 'node:crypto';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { JSONSchemaFaker } from 'json-schema-faker';

/** Attempts with derived seeds before giving up on json-schema-faker producing valid data. */
const MAX_GENERATION_TRIES = 8;

/**
 * Tries before letting json-schema-faker invent extra properties: needed for `minProperties`, but
 * it litters every open object with lorem-ipsum keys, so it is only the fallback.
 */
const TRIES_WITHOUT_FILL = 4;

/** Width of the range given to numbers the schema leaves unbounded, to keep sample data readable. */
const DEFAULT_NUMBER_SPAN = 1000;

/** Keywords whose values are data, not schemas: never rewrite inside them. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example']);

/**
 * Generates data that satisfies `schema`, deterministically: the same schema and seed always give
 * the same value. Optional properties are always filled, so the shape does not depend on luck.
 *
 * json-schema-faker occasionally produces values ajv rejects (patterns with look-arounds,
 * `multipleOf` with fractions, `uniqueItems`); the result is checked with ajv and regenerated
 * with derived seeds, and the last candidate is returned when none passes.
 *
 * @param schema a JSON Schema (draft-07 style, as weft's `agent(prompt, { schema })` takes).
 * @param seed any string; typically the prompt.
 */
export function generateFromSchema(schema: object, seed: string): unknown {
  const validate = compileValidator(schema);
  const prepared = prepareForFaker(schema);
  let candidate: unknown = undefined;
  for (let attempt = 0; attempt < MAX_GENERATION_TRIES; attempt++) {
    candidate = fake(prepared, attempt === 0 ? seed : `${seed}#${attempt}`, attempt >= TRIES_WITHOUT_FILL);
    if (!validate || validate(candidate)) return candidate;
  }
  return candidate;
}

/**
 * Generates an object that violates `schema` but still looks like a plausible attempt: a required
 * key is dropped, or a property gets the wrong type, or an unexpected key is added. Returns
 * `valid` unchanged when no such change makes it invalid (a schema that accepts every object).
 *
 * @param schema the schema the answer is meant to satisfy.
 * @param valid a schema-valid value to corrupt, e.g. from {@link generateFromSchema}.
 */
export function corruptForSchema(schema: object, valid: unknown): unknown {
  const validate = compileValidator(schema);
  const candidates = invalidCandidates(schema as Record<string, unknown>, valid);
  for (const candidate of candidates) {
    if (!validate || !validate(candidate)) return candidate;
  }
  return candidates[0] ?? valid;
}

/**
 * Whether `value` satisfies `schema`, per ajv with formats; `null` when the schema itself cannot
 * be compiled.
 */
export function isValidForSchema(schema: object, value: unknown): boolean | null {
  const validate = compileValidator(schema);
  return validate ? validate(value) : null;
}

function invalidCandidates(schema: Record<string, unknown>, valid: unknown): unknown[] {
  if (!isPlainObject(valid)) return [{ __mock_invalid__: true }, 'not an object'];
  const out: unknown[] = [];
  const required = Array.isArray(schema.required) ? schema.required.filter((k) => typeof k === 'string') : [];
  const properties = isPlainObject(schema.properties) ? schema.properties : {};
  for (const key of required) {
    if (key in valid) {
      const copy = { ...valid };
      delete copy[key];
      out.push(copy);
    }
  }
  for (const [key, sub] of Object.entries(properties)) {
    out.push({ ...valid, [key]: wrongTypeFor(sub) });
  }
  out.push({ ...valid, __mock_unexpected__: true });
  return out;
}

function wrongTypeFor(sub: unknown): unknown {
  const type = isPlainObject(sub) ? sub.type : undefined;
  const types = Array.isArray(type) ? type : [type];
  return types.includes('string') ? 12345 : 'not-a-valid-value';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A copy of `schema` that json-schema-faker 0.5 reads correctly and that gives readable data:
 * draft-06 numeric `exclusiveMinimum`/`exclusiveMaximum` (which jsf ignores) become bounds it
 * understands, and unbounded numbers get a small range. Every change only narrows what is
 * generated, so data valid for the copy is valid for the original.
 */
function prepareForFaker(schema: object): object {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!isPlainObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = DATA_KEYWORDS.has(k) ? v : walk(v);
    const types = Array.isArray(out.type) ? out.type : [out.type];
    const integer = types.includes('integer') && !types.includes('number');
    if (typeof out.exclusiveMinimum === 'number') {
      const bound = integer ? Math.floor(out.exclusiveMinimum) + 1 : out.exclusiveMinimum;
      out.minimum = typeof out.minimum === 'number' ? Math.max(out.minimum, bound) : bound;
      if (integer) delete out.exclusiveMinimum;
      else out.exclusiveMinimum = true;
    }
    if (typeof out.exclusiveMaximum === 'number') {
      const bound = integer ? Math.ceil(out.exclusiveMaximum) - 1 : out.exclusiveMaximum;
      out.maximum = typeof out.maximum === 'number' ? Math.min(out.maximum, bound) : bound;
      if (integer) delete out.exclusiveMaximum;
      else out.exclusiveMaximum = true;
    }
    const numeric = types.includes('integer') || types.includes('number');
    if (numeric && out.multipleOf === undefined) {
      const hasMin = typeof out.minimum === 'number';
      const hasMax = typeof out.maximum === 'number';
      if (!hasMin && !hasMax) {
        out.minimum = 0;
        out.maximum = DEFAULT_NUMBER_SPAN;
      } else if (!hasMax) {
        out.maximum = (out.minimum as number) + DEFAULT_NUMBER_SPAN;
      } else if (!hasMin) {
        out.minimum = (out.maximum as number) - DEFAULT_NUMBER_SPAN;
      }
    }
    return out;
  };
  return walk(schema) as object;
}

function fake(schema: object, seed: string, fillProperties: boolean): unknown {
  // json-schema-faker keeps its options in module state; set all of them before every call so a
  // caller elsewhere in the process cannot change what a seed produces. Generation is synchronous,
  // so nothing interleaves between option() and generate().
  JSONSchemaFaker.option({
    random: seededRandom(seed),
    alwaysFakeOptionals: true,
    optionalsProbability: false,
    fixedProbabilities: true,
    requiredOnly: false,
    useDefaultValue: false,
    useExamplesValue: false,
    failOnInvalidTypes: false,
    failOnInvalidFormat: false,
    ignoreMissingRefs: true,
    fillProperties,
    replaceEmptyByRandomValue: false,
    omitNulls: false,
    // Arrays that a schema leaves unbounded get 1..4 items: an empty list makes demos and dry runs
    // take their early-exit path, and a long one makes them slow to read.
    minItems: 1,
    maxItems: 4,
    minLength: 0,
    // Fixed bounds so date-time values never depend on the clock.
    minDateTime: '2024-01-01T00:00:00.000Z',
    maxDateTime: '2026-01-01T00:00:00.000Z',
  });
  // jsf annotates the schema objects it walks, so each call gets a fresh copy.
  return JSONSchemaFaker.generate(structuredClone(schema) as Parameters<typeof JSONSchemaFaker.generate>[0]);
}

/** mulberry32 seeded from a SHA-256 of the seed string: tiny, fast and identical everywhere. */
function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Compiled validators by schema text; bounded because a long-lived mock sees many schemas. */
const validators = new Map<string, ValidateFunction | null>();
const MAX_CACHED_VALIDATORS = 256;

function compileValidator(schema: object): ValidateFunction | null {
  const cacheKey = JSON.stringify(schema);
  const cached = validators.get(cacheKey);
  if (cached !== undefined) return cached;
  let validate: ValidateFunction | null;
  try {
    // One Ajv per schema: schemas carrying the same `$id` would otherwise clash in a shared one.
    const ajv = new Ajv({ strict: false, allErrors: false });
    addFormats(ajv);
    validate = ajv.compile(schema);
  } catch {
    validate = null;
  }
  if (validators.size >= MAX_CACHED_VALIDATORS) validators.clear();
  validators.set(cacheKey, validate);
  return validate;
}

/**
 * The schema a model reads from a strict tool: the SDK's strict transform moves the constraints
 * strict mode cannot enforce (`maximum`, `pattern`…) into the description as `{key: JSON, …}`, and
 * a real model honours them there. Returns a copy with those constraints put back.
 */
export function withDescribedConstraints(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (Array.isArray(value)) {
      out[key] = value.map((v) => (isSchemaObject(v) ? withDescribedConstraints(v) : v));
    } else if (isSchemaObject(value)) {
      out[key] = withDescribedConstraints(value);
    } else out[key] = value;
  }
  const match = typeof schema.description === 'string' ? /\{([^{}]*)\}\s*$/.exec(schema.description) : null;
  for (const pair of match?.[1]?.split(/, (?=[A-Za-z$]+: )/) ?? []) {
    const colon = pair.indexOf(': ');
    if (colon <= 0) continue;
    try {
      out[pair.slice(0, colon)] ??= JSON.parse(pair.slice(colon + 2)) as unknown;
    } catch {
      // Not one of the SDK's constraint notes: plain prose in braces.
    }
  }
  return out;
}

function isSchemaObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
