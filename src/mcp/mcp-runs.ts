/**
 * What each `weft mcp` tool does (S903), on top of the client API: the same static checks,
 * start options, estimates and views as the CLI, returned as JSON values instead of printed.
 * Transport-free, so one instance serves every MCP session of the process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { dryRunReport } from '../cli/dry-run-report';
import type { DryRunReport } from '../cli/dry-run-report';
import { loadTarget, publicSummary, refuseInsideAgent, refuseUnpricedModels } from '../cli/run-helpers';
import { parseTokenBudget } from '../cli/parse-options';
import type { RunStatus, StartOptions, WeftClient } from '../client/weft-client';
import { isSettled, NO_PHASE, phaseKey } from '../client/run-events';
import type { RunListEntry, RunStatusName } from '../client/run-views';
import { compileScript } from '../compiler/compile-script';
import { listSavedWorkflows, resolveWorkflowRef } from '../workflow-files/saved-workflows';
import { BUNDLED_WORKFLOWS_DIR, defaultConcurrency } from '../config';
import { ConfigError } from '../errors';
import { WEFT_DRY_RUN } from '../search-attributes';
import type {
  AgentRecord,
  AgentStatus,
  ApprovalRecord,
  CompiledScript,
  LogLine,
  RunProgress,
} from '../types';
import { MAX_RESULT_WAIT_S } from './tool-definitions';

/** Limits the person who set up the server puts on every run a model starts through it. */
export interface McpRunPolicy {
  /** The project folder: agents' working directory, `.weft/scripts/`, saved workflows, relative paths. */
  cwd: string;
  home: string;
  /** A run planned above this many agents needs `confirm: true` (from a dry-run estimate). */
  confirmAboveAgents?: number;
  /** A run estimated above this many US dollars needs `confirm: true`. */
  confirmAboveUsd?: number;
  /** Highest concurrency a caller may ask for; also the default. */
  maxConcurrency?: number;
  /** Output-token ceiling of every run; a caller may only ask for less. */
  maxBudgetTokens?: number;
  /** Spend ceiling of every run in US dollars; a caller may only ask for less. */
  maxCostUsd?: number;
  /** Whether this process runs an embedded worker (then it needs model access for real runs). */
  embeddedWorker: boolean;
  /** Longest the confirmation estimate (a dry run) may take. */
  estimateTimeoutMs?: number;
}

/** What the Workflow tool takes (the JSON Schema in tool-definitions.ts is checked first). */
export interface WorkflowToolInput {
  script?: string;
  scriptPath?: string;
  name?: string;
  args?: unknown;
  resumeFromRunId?: string;
  concurrency?: number;
  budget?: number | string;
  maxCostUsd?: number;
  dryRun?: boolean;
  confirm?: boolean;
  /** The caller's own threshold; it can only lower the server's. */
  confirmAboveAgents?: number;
  confirmAboveUsd?: number;
}

/** The Workflow tool's answer when a run started. */
export interface StartedRun {
  runId: string;
  webUiUrl: string | null;
  scriptPath: string;
  name: string;
  dryRun: boolean;
  /** The dry-run estimate that was checked against the confirmation threshold, when one was. */
  estimate?: DryRunReport;
}

/** The Workflow tool's answer when the estimate passed the threshold and nothing started. */
export interface ConfirmationNeeded {
  needsConfirmation: true;
  reason: string;
  scriptPath: string;
  name: string;
  estimate: DryRunReport;
  /** The dry run that produced the estimate (an ordinary run, flagged dry). */
  estimateRunId: string;
}

/** Agent counts by status. */
export type AgentCounts = Record<AgentStatus, number> & { total: number };

/** One phase in `workflow_status`. */
export interface PhaseStatus {
  phase: string;
  agents: AgentCounts;
  usage: { inputTokens: number; outputTokens: number };
  costUsd: number;
}

/** What `workflow_status` answers. */
export interface RunStatusView {
  runId: string;
  name: string;
  status: RunStatus;
  webUiUrl: string | null;
  dryRun: boolean;
  /** False when no worker answered the progress query (nothing is polling the task queue). */
  live: boolean;
  paused: boolean;
  phases: PhaseStatus[];
  agents: AgentCounts;
  usage: { inputTokens: number; outputTokens: number };
  costUsd: number | null;
  waitingApprovals: Array<Pick<ApprovalRecord, 'step' | 'message' | 'requestedAt'>>;
  logs: Array<Pick<LogLine, 'at' | 'message'>>;
  durationMs: number;
  stopReason: string | null;
  error?: string;
  note?: string;
}

/** Progress while `workflow_result` waits. */
export interface WaitProgress {
  settled: number;
  total: number;
  message: string;
}

function emptyCounts(): AgentCounts {
  return { total: 0, queued: 0, running: 0, completed: 0, failed: 0, skipped: 0, cached: 0 };
}

/** The run operations behind the MCP tools. */
export class McpRuns {
  constructor(
    readonly client: WeftClient,
    readonly policy: McpRunPolicy,
  ) {}

  /** The Web UI page of a run, when the UI's address is known. */
  webUiUrl(runId: string): string | null {
    const base = this.client.uiUrl;
    return base
      ? `${base}/namespaces/${this.client.config.namespace}/workflows/${encodeURIComponent(runId)}`
      : null;
  }

  /**
   * The Workflow tool: resolves the script (inline, path or saved name), runs `weft run`'s static
   * checks, applies the policy's ceilings and confirmation threshold, and starts the run.
   *
   * @throws ScriptError - A refused script, with file:line:col (the saved file for inline scripts).
   * @throws ConfigError - Bad input, an unknown name or resume run, missing model access.
   */
  async startWorkflow(input: WorkflowToolInput): Promise<StartedRun | ConfirmationNeeded> {
    refuseInsideAgent();
    const given = (['script', 'scriptPath', 'name'] as const).filter((k) => input[k] !== undefined);
    if (given.length !== 1) {
      throw new ConfigError(
        `give exactly one of script, scriptPath or name${given.length ? ` (got ${given.join(', ')})` : ''}`,
      );
    }
    const { cwd, home } = this.policy;
    const file =
      input.script !== undefined
        ? await saveInlineScript(input.script, cwd)
        : input.scriptPath !== undefined
          ? path.resolve(cwd, input.scriptPath)
          : await resolveWorkflowRef(input.name as string, {
              cwd,
              home,
              bundledDir: BUNDLED_WORKFLOWS_DIR,
              callerDir: null,
            });
    const script = await loadTarget(file, cwd);
    const options = this.startOptions(input);
    if (!options.dryRun && this.policy.embeddedWorker) requireModelAccess();
    // A spend ceiling needs a price for every model the run names, as `weft run --max-cost` does.
    refuseUnpricedModels(script, {
      ...(options.maxCostUsd === undefined ? {} : { maxCost: options.maxCostUsd }),
      dryRun: options.dryRun ?? false,
    });

    let estimate: DryRunReport | undefined;
    const thresholds = {
      agents: lowest(input.confirmAboveAgents, this.policy.confirmAboveAgents),
      usd: lowest(input.confirmAboveUsd, this.policy.confirmAboveUsd),
    };
    if (
      !options.dryRun &&
      !input.confirm &&
      (thresholds.agents !== undefined || thresholds.usd !== undefined)
    ) {
      const { report, runId: estimateRunId } = await this.estimate(script, options);
      const reason = overThreshold(report, thresholds);
      if (reason !== null) {
        return {
          needsConfirmation: true,
          reason,
          scriptPath: file,
          name: script.meta.name,
          estimate: report,
          estimateRunId,
        };
      }
      estimate = report;
    }
    const runId = await this.client.start(script, options);
    return {
      runId,
      webUiUrl: this.webUiUrl(runId),
      scriptPath: file,
      name: script.meta.name,
      dryRun: options.dryRun ?? false,
      ...(estimate ? { estimate } : {}),
    };
  }

  /** Runs the script as a dry run (an ordinary run against the built-in model) and prices it. */
  private async estimate(
    script: CompiledScript,
    options: StartOptions,
  ): Promise<{ report: DryRunReport; runId: string }> {
    const runId = await this.client.start(script, {
      ...options,
      dryRun: true,
      runId: `${script.meta.name}-estimate-${randomBytes(4).toString('hex')}`,
    });
    const timeoutMs = this.policy.estimateTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    while (!(await this.isClosed(runId))) {
      if (Date.now() > deadline) {
        await this.client.temporal.workflow
          .getHandle(runId)
          .terminate('estimate timed out')
          .catch(() => undefined);
        throw new ConfigError(
          `the dry-run estimate ${runId} did not finish in ${Math.round(timeoutMs / 1000)} s: is a worker polling task queue "${this.client.config.taskQueue}"?`,
        );
      }
      await this.approveForEstimate(runId);
      await sleep(250);
    }
    const summary = await this.client.wait(runId);
    if (summary.status !== 'completed') {
      throw new ConfigError(
        `the dry-run estimate ${runId} did not complete (${summary.status}): ${summary.error ?? ''}`,
      );
    }
    return { report: dryRunReport(summary.output?.records ?? [], this.client.config.model), runId };
  }

  /**
   * A dry run would wait for a person at every `approval()`; the estimate approves them itself so
   * it prices the path that spends the most, and says so in the record.
   */
  private async approveForEstimate(runId: string): Promise<void> {
    const progress = await this.client.tryProgress(runId, 2_000);
    for (const waiting of progress?.approvals?.filter((a) => a.status === 'waiting') ?? []) {
      await this.client
        .approve(runId, {
          step: waiting.step,
          approved: true,
          by: 'weft-mcp-estimate',
          comment: 'dry-run estimate: approved automatically',
        })
        .catch(() => undefined);
    }
  }

  /** The client's start options from the tool input, within the policy's ceilings. */
  startOptions(input: WorkflowToolInput): StartOptions {
    const policy = this.policy;
    const budget =
      input.budget === undefined
        ? undefined
        : typeof input.budget === 'number'
          ? input.budget
          : parseBudget(input.budget);
    const concurrency = lowest(input.concurrency, policy.maxConcurrency);
    const budgetTokens = lowest(budget, policy.maxBudgetTokens);
    const maxCostUsd = lowest(input.maxCostUsd, policy.maxCostUsd);
    return {
      ...(input.args === undefined ? {} : { args: input.args }),
      concurrency: concurrency ?? defaultConcurrency(),
      budgetTokens: budgetTokens ?? null,
      cwd: policy.cwd,
      dryRun: input.dryRun ?? false,
      ...(input.resumeFromRunId === undefined ? {} : { resumeFrom: input.resumeFromRunId }),
      ...(maxCostUsd === undefined ? {} : { maxCostUsd }),
    };
  }

  private async isClosed(runId: string): Promise<boolean> {
    const description = await this.describe(runId);
    return description.status.name !== 'RUNNING';
  }

  private async describe(runId: string) {
    try {
      return await this.client.temporal.workflow.getHandle(runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new ConfigError(`no run with id ${runId}`);
      throw err;
    }
  }

  /** `workflow_status`: the run now, by phase, without waiting. */
  async status(runId: string, logLines = 10): Promise<RunStatusView> {
    const description = await this.describe(runId);
    const dryRun = description.typedSearchAttributes.get(WEFT_DRY_RUN) === true;
    const running = description.status.name === 'RUNNING';
    let progress: RunProgress | null = null;
    let closed: { status: RunStatus; error?: string; agents: number } | null = null;
    let records: AgentRecord[] = [];
    let logs: LogLine[] = [];
    let approvals: ApprovalRecord[] = [];
    if (running) {
      progress = await this.client.tryProgress(runId, 3_000);
    } else {
      const summary = await this.client.wait(runId);
      closed = {
        status: summary.status,
        agents: summary.agents,
        ...(summary.error ? { error: summary.error } : {}),
      };
      if (summary.output) {
        records = summary.output.records;
        logs = summary.output.logs;
        approvals = summary.output.approvals ?? [];
      } else {
        // A stopped run has no output; its records are still in the query (a worker answers it).
        progress = await this.client.tryProgress(runId, 3_000);
      }
    }
    if (progress) {
      records = progress.agents;
      logs = progress.logs;
      approvals = progress.approvals ?? [];
    }
    const phases = new Map<string, PhaseStatus>();
    for (const title of progress?.phases.map((p) => p.title) ?? []) phases.set(title, newPhase(title));
    const agents = emptyCounts();
    const usage = { inputTokens: 0, outputTokens: 0 };
    let costUsd = 0;
    for (const record of records) {
      const key = phaseKey(record);
      const phase = phases.get(key) ?? newPhase(key);
      phases.set(key, phase);
      for (const counts of [phase.agents, agents]) {
        counts[record.status]++;
        counts.total++;
      }
      phase.usage.inputTokens += record.usage.inputTokens;
      phase.usage.outputTokens += record.usage.outputTokens;
      phase.costUsd += record.costUsd;
      usage.inputTokens += record.usage.inputTokens;
      usage.outputTokens += record.usage.outputTokens;
      costUsd += record.costUsd;
    }
    const end = description.closeTime ?? new Date();
    const view: RunStatusView = {
      runId,
      name: description.type,
      status: closed?.status ?? 'running',
      webUiUrl: this.webUiUrl(runId),
      dryRun,
      live: running ? progress !== null : true,
      paused: progress?.state === 'paused',
      phases: [...phases.values()]
        .filter((p) => p.agents.total > 0 || p.phase !== NO_PHASE)
        .map((p) => ({ ...p, costUsd: round(p.costUsd) })),
      agents,
      usage,
      costUsd: round(costUsd),
      waitingApprovals: approvals
        .filter((a) => a.status === 'waiting')
        .map(({ step, message, requestedAt }) => ({ step, message, requestedAt })),
      logs: logs.slice(Math.max(0, logs.length - logLines)).map(({ at, message }) => ({ at, message })),
      durationMs: end.getTime() - description.startTime.getTime(),
      stopReason: progress?.stopReason ?? null,
      ...(closed?.error ? { error: closed.error } : {}),
    };
    if (running && progress === null) {
      view.note = `no worker answered: nothing is polling task queue "${this.client.config.taskQueue}" (start \`weft worker\`), or the run has not begun`;
    }
    if (!running && records.length === 0 && closed && closed.agents > 0) {
      view.agents.total = closed.agents;
    }
    return view;
  }

  /**
   * `workflow_result`: the run's summary once it has ended, waiting up to `waitS` seconds;
   * `onProgress` hears about settled agents meanwhile. A run still going answers `running`.
   */
  async result(
    runId: string,
    waitS = 0,
    onProgress?: (progress: WaitProgress) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + Math.min(waitS, MAX_RESULT_WAIT_S) * 1000;
    let lastMessage = '';
    for (;;) {
      if (await this.isClosed(runId)) break;
      if (Date.now() >= deadline || signal?.aborted) {
        const now = await this.status(runId, 5);
        return {
          runId,
          status: 'running',
          result: null,
          agents: now.agents,
          usage: now.usage,
          durationMs: now.durationMs,
          note: 'the run is still going: call workflow_result again (with wait) or workflow_status',
        };
      }
      if (onProgress) {
        const progress = await this.client.tryProgress(runId, 2_000);
        if (progress) {
          const settled = progress.agents.filter(isSettled).length;
          const running = progress.agents.filter((a) => a.status === 'running');
          const message = `${settled}/${progress.agents.length} agents done${
            running.length
              ? `, running: ${running
                  .map((a) => a.label)
                  .slice(0, 3)
                  .join(', ')}`
              : ''
          }`;
          if (message !== lastMessage) {
            lastMessage = message;
            await onProgress({ settled, total: progress.agents.length, message }).catch(() => undefined);
          }
        }
      }
      await sleep(Math.max(0, Math.min(500, deadline - Date.now())));
    }
    const summary = await this.client.wait(runId);
    const description = await this.describe(runId);
    const dryRun = description.typedSearchAttributes.get(WEFT_DRY_RUN) === true;
    return {
      ...publicSummary(summary),
      name: description.type,
      costUsd: round(summary.output?.costUsd ?? 0),
      webUiUrl: this.webUiUrl(runId),
      ...(dryRun ? { dryRun: dryRunReport(summary.output?.records ?? [], this.client.config.model) } : {}),
    };
  }

  /** `workflow_list`: the runs `weft list` shows. */
  async list(filter: { status?: RunStatusName; name?: string; limit?: number }): Promise<RunListEntry[]> {
    return this.client.listRuns({
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.name ? { name: filter.name } : {}),
      limit: filter.limit ?? 20,
    });
  }

  /** `workflow_stop`: the whole run, or one agent by label or index. */
  async stop(runId: string, agent?: string | number, reason?: string): Promise<Record<string, unknown>> {
    if (agent === undefined) {
      await this.describe(runId);
      await this.client.stop(runId);
      return { runId, stopped: 'run', note: 'running agents are being cancelled; the run ends as cancelled' };
    }
    const matched = await this.client.stopAgent(runId, agent, reason);
    if (matched === 0) throw new ConfigError(`run ${runId} has no queued or running agent "${agent}"`);
    return { runId, stopped: 'agent', agent, matched };
  }

  /** `workflow_approve`: decides a waiting `approval(step)`. */
  async approve(
    runId: string,
    decision: { step: string; approved: boolean; comment?: string; by: string },
  ): Promise<ApprovalRecord> {
    return this.client.approve(runId, decision);
  }

  /** `workflows_saved`: what the Workflow tool can run by name. */
  async saved(): Promise<Record<string, unknown>> {
    const { workflows, broken } = await listSavedWorkflows({
      cwd: this.policy.cwd,
      home: this.policy.home,
      bundledDir: BUNDLED_WORKFLOWS_DIR,
    });
    return { workflows, broken };
  }
}

/**
 * Saves an inline script under `<cwd>/.weft/scripts/`, named by its meta.name (when it has one)
 * and a hash of its text, so the same script is one file and the model can edit and re-run it by
 * path, as the seed's tool does. A refused script is saved too: its error names this file.
 */
export async function saveInlineScript(source: string, cwd: string): Promise<string> {
  let name: string | undefined;
  try {
    name = compileScript(source, '<inline>', null).meta.name;
  } catch {
    // A refused script still names its file after meta.name when it can be read off the text;
    // the file-based compile that follows reports the refusal against the saved path.
    name = /\bname\s*:\s*(['"])([^'"\n]{1,80})\1/.exec(source.slice(0, 2_000))?.[2];
  }
  const slug = (name ?? '').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60) || 'script';
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 8);
  const dir = path.join(cwd, '.weft', 'scripts');
  const file = path.join(dir, `${slug}-${hash}.js`);
  await mkdir(dir, { recursive: true });
  const existing = await readFile(file, 'utf8').catch(() => null);
  if (existing !== source) await writeFile(file, source);
  return file;
}

/** Why the estimate needs the user's confirmation, or null when it is within the thresholds. */
function overThreshold(report: DryRunReport, thresholds: { agents?: number; usd?: number }): string | null {
  const ask = 'show the estimate to the user and call again with confirm: true if they agree';
  if (thresholds.agents !== undefined && report.agents > thresholds.agents) {
    return `the dry run started ${report.agents} agents, above the confirmation threshold of ${thresholds.agents}: ${ask}`;
  }
  if (thresholds.usd !== undefined && report.estimatedCostUsd > thresholds.usd) {
    return `the estimate is $${report.estimatedCostUsd}, above the confirmation threshold of $${thresholds.usd}: ${ask}`;
  }
  return null;
}

function requireModelAccess(): void {
  if (!process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL) {
    throw new ConfigError(
      "ANTHROPIC_API_KEY is not set for weft mcp: set it in the server's environment, point ANTHROPIC_BASE_URL at a model server, or pass dryRun: true",
    );
  }
}

function parseBudget(raw: string): number {
  try {
    return parseTokenBudget(raw);
  } catch (err) {
    throw new ConfigError(`budget: ${(err as Error).message}`);
  }
}

function lowest(asked: number | undefined, ceiling: number | undefined): number | undefined {
  if (asked === undefined) return ceiling;
  return ceiling === undefined ? asked : Math.min(asked, ceiling);
}

function newPhase(phase: string): PhaseStatus {
  return { phase, agents: emptyCounts(), usage: { inputTokens: 0, outputTokens: 0 }, costUsd: 0 };
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
