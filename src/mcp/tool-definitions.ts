/**
 * The tools `weft mcp` offers (S903): their names, the descriptions that teach a model the script
 * API, and the JSON Schemas of their inputs. The schemas are plain JSON Schema so clients see
 * exactly what the server validates (with ajv) before it acts.
 */

/** One tool as `tools/list` describes it. */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; properties: Record<string, unknown>; required?: string[] } & Record<
    string,
    unknown
  >;
  annotations?: {
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
}

/** The names of weft's MCP tools. */
export const TOOL = {
  workflow: 'Workflow',
  status: 'workflow_status',
  result: 'workflow_result',
  list: 'workflow_list',
  stop: 'workflow_stop',
  approve: 'workflow_approve',
  saved: 'workflows_saved',
} as const;

/** Longest `workflow_result` waits in one call, in seconds. */
export const MAX_RESULT_WAIT_S = 3600;

const RUN_ID = { type: 'string', minLength: 1, description: 'the run id the Workflow tool returned' };

// The seed's Workflow tool teaches the script API in its own description; this is ours.
const WORKFLOW_DESCRIPTION = `Start a durable multi-agent workflow: a JavaScript script that orchestrates many Claude subagents. The run executes in Temporal through weft, so it survives this session, crashed workers and restarts. This tool checks the script, starts the run and returns at once with {runId, webUiUrl, scriptPath}; follow it with workflow_status, wait for it with workflow_result, stop it with workflow_stop.

When to call it: only when the user asked for multi-agent orchestration in their own words ("run a workflow", "fan out agents"), named a saved workflow, or invoked a command that says to use it. Workflows can start dozens of agents and spend many tokens. For anything else, describe what a workflow would do and roughly what it would cost, and ask. Scout first (list the files, scope the diff), then hand the work list to a workflow.

Give exactly one of:
- script: the whole script inline. weft saves it under .weft/scripts/ and returns its scriptPath; to change it, edit that file and call again with scriptPath instead of resending the text.
- scriptPath: a .js script (or .yaml workflow) on disk, relative to the project folder.
- name: a saved workflow; workflows_saved lists them with when to use each.
Pass args as real JSON values (args: ["a.ts", "b.ts"], not a string holding JSON); the script sees them verbatim as \`args\`.

Script format. The first statement must be a pure object literal, no variables, calls, spreads or interpolation:
  export const meta = { name: 'find-flaky-tests', description: 'Find flaky tests and propose fixes', whenToUse: 'optional, shown in listings', phases: [{ title: 'Scan' }, { title: 'Fix' }] }
Then top-level code with await and return (the return value is the run's result), or \`export default async function ({ agent, parallel, pipeline, phase, log, args, budget, workflow, approval }) {...}\`.

Globals:
- agent(prompt, opts?) runs one subagent; resolves to its final text. opts: label (its name in every view), phase (its progress group; prefer this inside pipeline/parallel stages), schema (a JSON Schema with an object root: the agent must answer through a StructuredOutput tool, validated with ajv and retried on mismatch; agent() then resolves to the object), model (leave it out unless sure), agentType (a .claude/agents definition), isolation: 'worktree' (a fresh git worktree; costly, only for agents that edit files in parallel), timeoutMs, onError: 'throw'. Resolves to null when the agent is stopped or fails after retries, so filter with .filter(Boolean). Subagents know their final message is data for the script, so ask for data, not prose for a person.
- pipeline(items, stage1, stage2, ...) runs each item through every stage with no barrier between stages; each stage gets (previous, item, index); a stage that throws drops that item to null. USE THIS BY DEFAULT for multi-stage work: wall time is the slowest single chain, not the sum of the slowest per stage.
- parallel(thunks) takes functions (() => agent(...)), not promises; it is a barrier, results in input order, a thunk that throws gives null, it never rejects. Use it only when the next step needs all results together (dedupe across findings, stop early when nothing was found, compare with the others).
- phase(title) groups later agents (titles match meta.phases exactly); log(message) adds a narrator line for the user.
- args: the value given with this tool's args, undefined when none.
- budget: { total, spent(), remaining() } in output tokens; total is null without a budget, and remaining() is then Infinity, so guard loops with \`while (budget.total && budget.remaining() > 50000)\`. Once spent, agent() throws.
- workflow(nameOrRef, args?) runs a saved workflow by name, or { scriptPath }, inline; it shares the cap, the agent count and the budget; one level of nesting.
- approval(step, message?) waits for a person (workflow_approve or \`weft approve\`); resolves to { approved, by, comment }.

Bans: plain JavaScript only; import, import(), import.meta and TypeScript syntax (type annotations, interfaces, generics, \`as\`) are refused before anything starts. There is no filesystem, process, network or Node API in the script: require, process, fs, fetch and the like are not defined (typeof gives 'undefined'; using one throws a ScriptError), so agents do that work. Date.now(), Math.random() and new Date() without arguments throw, because a resumed run replays the script and must take the same path: pass timestamps and seeds in args, vary prompts by index instead of randomness.

Limits: at most min(16, cores - 2) agents run at once (concurrency overrides, within the server's cap), extra calls queue; at most 1000 agents per run; parallel and pipeline take at most 4096 items. Do not let a workflow truncate work silently: log() what it dropped.

Resume: after an edit, a stop or a crash, call again with scriptPath and resumeFromRunId: every agent call whose prompt and options match a completed agent of that run is served from it without spending tokens; only new or edited calls run. Same script and args is a full cache hit.

dryRun: true runs the whole orchestration against a built-in model (no spend) and workflow_result then reports the agent count and a cost estimate. When the server has a confirmation threshold and the estimate passes it, this tool starts nothing and returns the estimate: show it to the user and call again with confirm: true only if they agree.

Example, review then verify each finding as soon as its review is done:
  export const meta = { name: 'review-changes', description: 'Review the diff, verify each finding', phases: [{ title: 'Review' }, { title: 'Verify' }] }
  const FINDINGS = { type: 'object', required: ['issues'], properties: { issues: { type: 'array', items: { type: 'string' } } } }
  const VERDICT = { type: 'object', required: ['isReal'], properties: { isReal: { type: 'boolean' } } }
  const verified = await pipeline(['security', 'performance'],
    (dim) => agent(\`Review the diff for \${dim} problems\`, { label: dim, phase: 'Review', schema: FINDINGS }),
    (review) => parallel(review.issues.map((issue) => () =>
      agent(\`Try to refute: \${issue}\`, { label: issue.slice(0, 40), phase: 'Verify', schema: VERDICT }).then((v) => ({ issue, real: v?.isReal })))))
  return verified.flat().filter((f) => f?.real)`;

/** Every tool of `weft mcp`, in the order `tools/list` gives them. */
export const TOOL_DEFINITIONS: readonly ToolDefinition[] = [
  {
    name: TOOL.workflow,
    title: 'Start a weft workflow',
    description: WORKFLOW_DESCRIPTION,
    inputSchema: {
      type: 'object',
      properties: {
        script: { type: 'string', minLength: 1, description: 'the whole workflow script, inline' },
        scriptPath: {
          type: 'string',
          minLength: 1,
          description: 'a script (.js) or YAML workflow on disk, relative to the project folder',
        },
        name: { type: 'string', minLength: 1, description: 'a saved workflow (see workflows_saved)' },
        args: { description: "the script's args, as real JSON values" },
        resumeFromRunId: {
          type: 'string',
          minLength: 1,
          description: "serve matching agent calls from this earlier run's completed agents",
        },
        concurrency: {
          type: 'integer',
          minimum: 1,
          description: 'agents at once (default min(16, cores - 2))',
        },
        budget: {
          type: ['integer', 'string'],
          minimum: 1,
          pattern: '^\\d+(\\.\\d+)?\\s*[kKmM]?$',
          description: 'hard ceiling on output tokens for the whole run: 200000, "500k" or "2m"',
        },
        maxCostUsd: {
          type: 'number',
          exclusiveMinimum: 0,
          description: 'hard ceiling on spend in US dollars',
        },
        dryRun: { type: 'boolean', description: 'answer every agent from the built-in model: no spend' },
        confirmAboveAgents: {
          type: 'integer',
          minimum: 0,
          description:
            "return the estimate instead of starting when the dry run starts more agents than this (only tightens the server's threshold)",
        },
        confirmAboveUsd: {
          type: 'number',
          minimum: 0,
          description:
            "return the estimate instead of starting when it costs more than this (only tightens the server's threshold)",
        },
        confirm: {
          type: 'boolean',
          description:
            'start even though the estimate passes the confirmation threshold (after the user agreed)',
        },
      },
      additionalProperties: false,
    },
    annotations: { destructiveHint: false, openWorldHint: true },
  },
  {
    name: TOOL.status,
    title: 'Status of a weft run',
    description:
      'The state of a run now: status, each phase with its agent counts (queued, running, completed, failed, skipped, cached), tokens, cost, waiting approvals and the last log lines. Does not wait.',
    inputSchema: {
      type: 'object',
      properties: {
        runId: RUN_ID,
        logLines: {
          type: 'integer',
          minimum: 0,
          maximum: 200,
          description: 'last log lines to include (default 10)',
        },
      },
      required: ['runId'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: TOOL.result,
    title: 'Result of a weft run',
    description: `The run's result once it has ended: status, the script's return value, agents, tokens, duration, why it did not complete. With wait (seconds, at most ${MAX_RESULT_WAIT_S}) it waits that long for the run to end, sending progress notifications meanwhile; a run still going then comes back with status "running": call again. A dry run also reports its estimate.`,
    inputSchema: {
      type: 'object',
      properties: {
        runId: RUN_ID,
        wait: {
          type: 'number',
          minimum: 0,
          maximum: MAX_RESULT_WAIT_S,
          description: 'seconds to wait for the run to end (default 0: answer now)',
        },
      },
      required: ['runId'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: TOOL.list,
    title: 'List weft runs',
    description:
      "Runs on this server's task queue, newest first: id, workflow name, status, agents, tokens, cost, phase, start and duration. The same runs `weft list` shows.",
    inputSchema: {
      type: 'object',
      properties: {
        status: {
          type: 'string',
          enum: ['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out'],
        },
        name: { type: 'string', minLength: 1, description: 'only runs of this workflow (its meta.name)' },
        limit: { type: 'integer', minimum: 1, maximum: 200, description: 'at most this many (default 20)' },
      },
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: TOOL.stop,
    title: 'Stop a weft run or one agent',
    description:
      'Stops a whole run (running agents are cancelled; it ends as cancelled and can be resumed later with resumeFromRunId), or with agent (a label or index) only that agent: its agent() call gives null and the run goes on.',
    inputSchema: {
      type: 'object',
      properties: {
        runId: RUN_ID,
        agent: {
          type: ['string', 'integer'],
          description: "an agent's label, or its 0-based index; leave out to stop the whole run",
        },
        reason: { type: 'string', description: 'recorded on the stopped agent' },
      },
      required: ['runId'],
      additionalProperties: false,
    },
    annotations: { destructiveHint: true },
  },
  {
    name: TOOL.approve,
    title: 'Approve or reject a waiting step',
    description:
      'Decides an approval(step) the run is waiting on: approved true lets the script go on, false rejects (the script sees approved: false). Only when the user decided it: relay their decision and comment, do not decide for them.',
    inputSchema: {
      type: 'object',
      properties: {
        runId: RUN_ID,
        step: { type: 'string', minLength: 1, description: 'the waiting step, as workflow_status lists it' },
        approved: { type: 'boolean' },
        comment: { type: 'string' },
      },
      required: ['runId', 'step', 'approved'],
      additionalProperties: false,
    },
    annotations: { destructiveHint: false },
  },
  {
    name: TOOL.saved,
    title: 'Saved weft workflows',
    description:
      'The saved workflows the Workflow tool can run by name: project (.weft/workflows, .claude/workflows), personal (~/.weft/workflows) and bundled, each with its description and whenToUse, so you can pick one; and the saved files that fail to compile, with why.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true },
  },
];
