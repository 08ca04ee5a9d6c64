/**
 * What a Temporal server accepts as a workflow type and a workflow id, checked before anything
 * starts, so a bad name is one clear line (and exit code 2) instead of "Failed to start Workflow".
 * A script's `meta.name` is its runs' workflow type and the prefix of their generated ids
 * (`<name>-1a2b3c4d`); `--id` names a run outright.
 */

/** The server's default `limit.maxIDLength`: the longest workflow id or type name it takes. */
export const TEMPORAL_MAX_ID_LENGTH = 1000;

/** The suffix a generated run id adds to `meta.name`: `-` and 8 hex digits. */
export const GENERATED_ID_SUFFIX_LENGTH = 9;

/** The longest `meta.name` (or YAML `id`) whose generated run ids still fit the server's limit. */
export const MAX_RUN_NAME_LENGTH = TEMPORAL_MAX_ID_LENGTH - GENERATED_ID_SUFFIX_LENGTH;

// Control characters (C0, DEL, C1) and the Unicode bidirectional controls: a name shows in every
// terminal view and in the Web UI, where these would rewrite what it appears to say.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function describeChar(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `value` cannot be a workflow type or id, or null when it can.
 *
 * @param what - How the message names the value, e.g. `meta.name` or `--id`.
 * @param maxLength - The longest value allowed.
 */
export function runNameProblem(value: string, what: string, maxLength: number): string | null {
  if (value.trim() === '') return `${what} must not be empty`;
  if (value !== value.trim()) return `${what} must not begin or end with white space`;
  const length = [...value].length;
  if (length > maxLength) {
    return `${what} is ${length} characters long; Temporal takes at most ${maxLength}`;
  }
  const bad = UNPRINTABLE.exec(value);
  if (bad) return `${what} holds the control character ${describeChar(bad[0])}; use printable characters`;
  return null;
}
