/**
 * The names a workflow script sees as globals, in the order the interpreter passes them.
 * The compiler and the interpreter both use this list, so it lives with the sandbox code.
 * `Date` and `Math` are shadowed so the script's nondeterministic calls throw (S104).
 * `__weft_absent` is how compiled code reaches a {@link HOST_NAMES} name: it throws (S103).
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
  '__weft_absent',
] as const;

/**
 * Host names that scripts written for other runtimes mention but a workflow script's scope does
 * not define (S103): `typeof require` is `'undefined'`, and the compiler turns every other use of
 * one into a call of {@link ABSENT_HOST}, which throws a ScriptError that says why and what to do.
 * Mentioning them is no reason to refuse a script; a capability probe must run.
 */
export const HOST_NAMES = [
  'require',
  'process',
  'module',
  'exports',
  '__dirname',
  '__filename',
  'fs',
  'Buffer',
  'setInterval',
  'fetch',
  'XMLHttpRequest',
] as const;

/** The script global compiled code calls where the script uses a {@link HOST_NAMES} name. */
export const ABSENT_HOST = '__weft_absent';

/**
 * The watchdog call the compiler's loop guards make at the top of every loop and function body
 * (src/compiler/loop-guards.ts). A parameter of the script's function like the globals above, but
 * no part of the script API.
 */
export const SCRIPT_TICK = '__weft_tick';

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
