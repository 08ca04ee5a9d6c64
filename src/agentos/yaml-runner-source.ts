/**
 * The YAML runner (S601): one fixed, hand-written plain-JavaScript workflow script that walks a
 * compiled YAML definition with the ordinary script API (`agent`, `parallel`, `phase`, `log`,
 * `args`, `approval`). `compileYamlWorkflow` puts `const DEFINITION = {...};` in front of it, so a
 * YAML run is an ordinary weft run of the same interpreter (S301): one Temporal workflow whose
 * type is the definition's `id`, resumable, replayable and visible in the Web UI like any other.
 *
 * It runs in the workflow sandbox under the script rules (no Date.now, no Math.random, no
 * imports), so the same history always takes the same path. Conditions, `until` expressions and
 * templates arrive as JSON trees parsed on the host; nothing here evaluates expression text.
 *
 * Kept as a string, without backticks or `${`, so what runs is exactly what is reviewed here.
 */
export const YAML_RUNNER_SOURCE = String.raw`
// Errors that end the run whatever the step's errorMode: a stopped run, a spent budget, a limit.
const RUN_LEVEL = ['CancelledFailure', 'BudgetExceededError', 'LimitError', 'TypeError'];

const hasOwn = (value, key) =>
  value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, key);

// An agent's text that holds JSON (bare or in a json code fence) is read as data, so
// {{triage.severity}} and until: "score > 0.9" work on agents that answer in JSON.
function asData(value) {
  if (typeof value !== 'string') return value;
  let text = value.trim();
  const fence = /^\x60\x60\x60(?:json)?\s*\n([\s\S]*?)\n?\x60\x60\x60$/.exec(text);
  if (fence) text = fence[1].trim();
  if (!(text.startsWith('{') || text.startsWith('['))) return value;
  try {
    return JSON.parse(text);
  } catch {
    return value;
  }
}

function lookup(scope, path) {
  let current = scope;
  for (let i = 0; i < path.length; i++) {
    if (i > 0) current = asData(current);
    if (current === null || current === undefined || typeof current !== 'object') return undefined;
    if (!hasOwn(current, path[i])) return undefined;
    current = current[path[i]];
  }
  return current;
}

function truthy(value) {
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

function operand(value) {
  return typeof value === 'string' ? value.trim() : value;
}

function evaluate(node, scope) {
  switch (node.t) {
    case 'lit':
      return node.v;
    case 'var': {
      const value = lookup(scope, node.path);
      return value === undefined ? null : asData(value);
    }
    case 'not':
      return !truthy(evaluate(node.e, scope));
    case 'and': {
      const left = evaluate(node.l, scope);
      return truthy(left) ? evaluate(node.r, scope) : left;
    }
    case 'or': {
      const left = evaluate(node.l, scope);
      return truthy(left) ? left : evaluate(node.r, scope);
    }
    case 'cmp': {
      const l = operand(evaluate(node.l, scope));
      const r = operand(evaluate(node.r, scope));
      switch (node.op) {
        case '==': return l == r;
        case '!=': return l != r;
        case '===': return l === r;
        case '!==': return l !== r;
        case '<': return l < r;
        case '<=': return l <= r;
        case '>': return l > r;
        case '>=': return l >= r;
      }
    }
  }
  throw new TypeError('YAML runner: unknown expression node ' + JSON.stringify(node));
}

function text(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function render(nodes, scope, missing) {
  let out = '';
  for (const node of nodes) {
    if (node.t === 'text') out += node.v;
    else if (node.t === 'var') {
      const value = lookup(scope, node.path);
      if (value === undefined) missing.add(node.path.join('.'));
      out += text(value);
    } else if (node.t === 'if') {
      out += render(truthy(evaluate(node.test, scope)) ? node.then : node.else, scope, missing);
    }
  }
  return out;
}

function child(scope, extra) {
  return Object.assign(Object.create(null), scope, extra);
}

/** Keys of an output that is a JSON object, as variables. */
function fieldsOf(value) {
  const data = asData(value);
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {};
}

const OUTPUT_VARS = new Set(DEFINITION.steps.map((step) => step.outputVar));
const scope = Object.create(null);
if (args !== null && typeof args === 'object' && !Array.isArray(args)) Object.assign(scope, args);
scope.input = args === undefined ? null : args;
scope.previous_step = null;

const outputs = {};
const statuses = DEFINITION.steps.map((step) => ({
  name: step.name,
  mode: step.mode,
  outputVar: step.outputVar,
  status: 'pending',
  attempts: 0,
  iterations: 0,
}));
let lastFanout = null;

const result = () => ({ workflow: DEFINITION.id, outputs, steps: statuses });

function describe(err) {
  return (err && err.name ? err.name : 'Error') + ': ' + (err && err.message ? err.message : String(err));
}

function stepError(step, message) {
  const err = new Error('step "' + step.name + '" ' + message);
  err.name = 'StepFailedError';
  // The interpreter keeps this on the failure, so a failed run still reports its steps.
  err.partialResult = result();
  return err;
}

function prompt(step, local) {
  const missing = new Set();
  const rendered = render(step.prompt, local, missing);
  for (const name of missing) {
    // A step's output is empty before its step runs (a loop's first iteration reads its own); only
    // names no step writes are worth a warning: most likely a key the input lacks.
    if (OUTPUT_VARS.has(name.split('.')[0])) continue;
    log('step "' + step.name + '": {{' + name + '}} is not set; it rendered empty');
  }
  return rendered;
}

// One agent call of a step, with the step's retries; never throws for an agent's own failure.
async function callAgent(step, status, promptText, label) {
  const tries = step.errorMode === 'retry' ? step.maxRetries + 1 : 1;
  let error = null;
  for (let attempt = 1; attempt <= tries; attempt++) {
    status.attempts++;
    const opts = { label: attempt === 1 ? label : label + ' (attempt ' + attempt + ')', phase: step.name, onError: 'throw' };
    if (step.timeoutMs !== null) opts.timeoutMs = step.timeoutMs;
    if (step.agentType !== null) opts.agentType = step.agentType;
    try {
      const value = await agent(promptText, opts);
      if (value !== null) return { ok: true, value };
      error = 'the agent was stopped';
    } catch (err) {
      if (err && RUN_LEVEL.includes(err.name)) throw err;
      error = describe(err);
    }
    if (attempt < tries) log('step "' + step.name + '": attempt ' + attempt + ' failed (' + error + '); retrying');
  }
  return { ok: false, error };
}

async function runOnce(step, status, extra) {
  status.iterations = 1;
  return callAgent(step, status, prompt(step, child(scope, extra)), step.name);
}

async function runFanout(step, status) {
  const items = asData(lookup(scope, step.items));
  if (!Array.isArray(items)) {
    return { ok: false, error: 'items ' + step.items.join('.') + ' is not an array (got ' + (items === undefined ? 'nothing' : typeof items) + ')' };
  }
  status.items = items.length;
  const results = await parallel(
    items.map((item, index) => () =>
      callAgent(step, status, prompt(step, child(scope, { item, index })), step.name + ' [' + index + ']'),
    ),
  );
  const failed = [];
  const values = results.map((r, index) => {
    if (r && r.ok) return r.value;
    failed.push({ index, error: r ? r.error : 'failed' });
    return null;
  });
  status.iterations = items.length;
  status.failedItems = failed.length;
  if (failed.length > 0 && step.errorMode !== 'skip') {
    return { ok: false, error: failed.length + ' of ' + items.length + ' items failed; item ' + failed[0].index + ': ' + failed[0].error };
  }
  for (const f of failed) log('step "' + step.name + '": item ' + f.index + ' skipped: ' + f.error);
  return { ok: true, value: values };
}

function untilMet(step, value, local) {
  if (step.until.kind === 'text') {
    return (typeof value === 'string' ? value : JSON.stringify(value)).includes(step.until.text);
  }
  // The new output's fields come first: they are what until asks about.
  return truthy(evaluate(step.until.ast, child(child(local, fieldsOf(value)), { output: value })));
}

async function runLoop(step, status) {
  let value = null;
  status.untilMet = step.until === null ? null : false;
  for (let iteration = 0; iteration < step.maxIterations; iteration++) {
    status.iterations = iteration + 1;
    const local = child(child(fieldsOf(value), scope), {
      iteration,
      maxIterations: step.maxIterations,
      output: value,
    });
    const r = await callAgent(step, status, prompt(step, local), step.name + ' #' + (iteration + 1));
    if (!r.ok) return r;
    value = r.value;
    // The step's own variable holds the latest iteration, as the seed's review loop reads it.
    scope[step.outputVar] = value;
    if (step.until !== null && untilMet(step, value, local)) {
      status.untilMet = true;
      break;
    }
  }
  if (status.untilMet === false) log('step "' + step.name + '": until was not met in ' + step.maxIterations + ' iterations');
  return { ok: true, value };
}

function settle(step, status, state, value, note) {
  status.status = state;
  outputs[step.outputVar] = value;
  scope[step.outputVar] = value;
  scope.previous_step = { name: step.name, status: state, output: value };
  log('step "' + step.name + '" ' + state + (note ? ': ' + note : ''));
}

for (const [i, step] of DEFINITION.steps.entries()) {
  const status = statuses[i];
  phase(step.name);
  if (step.mode === 'conditional' && !truthy(evaluate(step.condition, scope))) {
    settle(step, status, 'skipped', null, 'condition is false');
    continue;
  }
  if (step.approval) {
    status.status = 'waiting';
    const decision = await approval(step.name, step.description || 'step "' + step.name + '" of ' + DEFINITION.id + ' waits for approval before it runs');
    status.approval = decision;
    if (!decision.approved) {
      const why = 'rejected' + (decision.by ? ' by ' + decision.by : '') + (decision.comment ? ': ' + decision.comment : '');
      status.error = why;
      if (step.errorMode === 'skip') {
        settle(step, status, 'skipped', null, why);
        continue;
      }
      status.status = 'failed';
      throw stepError(step, 'was ' + why);
    }
  }
  status.status = 'running';
  let outcome;
  if (step.mode === 'fanout') outcome = await runFanout(step, status);
  else if (step.mode === 'loop') outcome = await runLoop(step, status);
  else if (step.mode === 'collect') outcome = await runOnce(step, status, { results: lastFanout });
  else outcome = await runOnce(step, status, {});
  if (!outcome.ok) {
    status.error = outcome.error;
    if (step.errorMode === 'skip') {
      settle(step, status, 'skipped', null, outcome.error);
      continue;
    }
    status.status = 'failed';
    throw stepError(step, 'failed' + (step.errorMode === 'retry' ? ' after ' + status.attempts + ' attempts' : '') + ': ' + outcome.error);
  }
  if (step.mode === 'fanout') lastFanout = outcome.value;
  settle(step, status, 'completed', outcome.value, null);
}
return result();
`;
