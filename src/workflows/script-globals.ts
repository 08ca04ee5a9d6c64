/**
 * The names a workflow script sees as globals, in the order the interpreter passes them.
 * The compiler and the interpreter both use this list, so it lives with the sandbox code.
 * `Date` and `Math` are shadowed so the script's nondeterministic calls throw (S104).
 */
export const SCRIPT_GLOBALS = [
  'agent',
  'parallel',
  'pipeline',
  'phase',
  'log',
  'args',
  'budget',
  'workflow',
  'approval',
  'Date',
  'Math',
] as const;

/** The API object a `export default async function ({ agent, ... })` script receives. */
export const DEFAULT_EXPORT_API = [
  'agent',
  'parallel',
  'pipeline',
  'phase',
  'log',
  'args',
  'budget',
  'workflow',
  'approval',
] as const;

/** The identifier the compiler assigns a script's default export to. Same length as `export default`. */
export const DEFAULT_EXPORT_BINDING = '__weft_main = ';
