/**
 * Replacements for the nondeterministic built-ins a script could reach (S104). Temporal makes
 * `Date` and `Math.random` deterministic in the sandbox, but a script that reads them would take
 * a different path after an edit-and-resume, so weft refuses them outright and says what to do.
 * Only the script sees these: weft's own workflow code keeps the sandbox's `Date`.
 */

const WHY = 'resume replays the script and must take the same path every time';
const WHAT = 'pass timestamps or seeds in through args, or stamp results after the run';

function banned(call: string): Error {
  return new Error(`${call} is not available in workflow scripts: ${WHY}; ${WHAT}`);
}

const RealDate = Date;

/** `Date` as scripts see it: `new Date(x)` works, `Date.now()`, `Date()` and `new Date()` throw. */
export const ScriptDate = function ScriptDate(this: unknown, ...parts: unknown[]): Date {
  if (!new.target) throw banned('Date()');
  if (parts.length === 0) throw banned('new Date()');
  return new RealDate(...(parts as [number]));
} as unknown as DateConstructor;

Object.defineProperties(ScriptDate, {
  prototype: { value: RealDate.prototype },
  now: {
    value: () => {
      throw banned('Date.now()');
    },
  },
  parse: { value: RealDate.parse.bind(RealDate) },
  UTC: { value: RealDate.UTC.bind(RealDate) },
});
Object.freeze(ScriptDate);

/** `Math` as scripts see it: everything but `Math.random()`, which throws. */
export const ScriptMath: Math = Object.freeze(
  Object.create(Math, {
    random: {
      value: () => {
        throw banned('Math.random()');
      },
    },
  }) as Math,
);

/** What each absent host name would have given the script, for the error message. */
const HOST_WHAT: Readonly<Record<string, string>> = {
  require: 'loading modules',
  module: 'loading modules',
  exports: 'loading modules',
  __dirname: 'the file system',
  __filename: 'the file system',
  fs: 'the file system',
  process: 'the host process',
  Buffer: 'Node APIs',
  setInterval: 'repeating timers',
  fetch: 'the network',
  XMLHttpRequest: 'the network',
};

/**
 * What compiled code calls where a script uses a host name its scope does not define (S103):
 * always throws a `ScriptError` the script can catch, which says why the name is absent and what
 * to do instead. `typeof name` never reaches here and stays `'undefined'`.
 *
 * @param name - The host name the script used, e.g. `require`.
 */
export function absentHost(name: unknown): never {
  const what = HOST_WHAT[String(name)] ?? 'host access';
  const err = new Error(
    `${String(name)} is not defined in workflow scripts: a script is replayed on every resume, so it ` +
      `has no host access (${what}); have an agent() do it, or pass the data in through args`,
  );
  // The failure type weft's errors use, so a script's catch and a failed run both say ScriptError.
  err.name = 'ScriptError';
  throw err;
}
Object.freeze(absentHost);
