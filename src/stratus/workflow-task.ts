/**
 * Defining and checking Stratus tasks (S701).
 */
import { ConfigError } from '../errors';
import { Agent } from './agent';
import type { AgentWorkflowTask, FunctionWorkflowTask, WorkflowTask } from './types';

/**
 * Defines a task: an agent task (`agent` + `input`), run durably as weft's agent activity on a
 * worker, or a function task (`execute`), run in the caller's process with its result recorded in
 * the run's Temporal history (S701).
 *
 * @example
 * ```ts
 * const review = workflowTask({ id: 'billing', name: 'review billing', agent: reviewer, input: 'Review the billing module.', maxTurns: 4, metadata: { owner: 'payments' } });
 * const load = workflowTask({ id: 'load-fixtures', execute: async () => JSON.stringify(await loadFixtures()) });
 * ```
 */
export function workflowTask(config: AgentWorkflowTask): AgentWorkflowTask;
export function workflowTask(config: FunctionWorkflowTask): FunctionWorkflowTask;
export function workflowTask(config: WorkflowTask): WorkflowTask {
  checkTask(config);
  return Object.freeze({ ...config });
}

/**
 * Checks one task's shape; `ctx.phase()` checks every task the same way before any starts.
 *
 * @throws ConfigError naming the task and what is wrong.
 * @example
 * ```ts
 * checkTask(workflowTask({ id: 'a', agent: reviewer, input: 'Review a.ts' })); // passes
 * ```
 */
export function checkTask(task: WorkflowTask): void {
  if (typeof task !== 'object' || task === null)
    throw new ConfigError('a task must be a workflowTask({...}) object');
  if (typeof task.id !== 'string' || task.id === '')
    throw new ConfigError('workflowTask({ id }) needs a non-empty id');
  const where = `task ${task.id}`;
  if (task.name !== undefined && typeof task.name !== 'string')
    throw new ConfigError(`${where}: name must be a string`);
  if (task.metadata !== undefined && (typeof task.metadata !== 'object' || task.metadata === null)) {
    throw new ConfigError(`${where}: metadata must be an object`);
  }
  const hasAgent = task.agent !== undefined;
  const hasExecute = task.execute !== undefined;
  if (hasAgent === hasExecute) throw new ConfigError(`${where}: give exactly one of agent or execute`);
  if (hasExecute && typeof task.execute !== 'function')
    throw new ConfigError(`${where}: execute must be a function`);
  if (hasAgent) {
    if (!(task.agent instanceof Agent)) throw new ConfigError(`${where}: agent must be a new Agent({...})`);
    if (task.input === undefined || task.input === null || task.input === '') {
      throw new ConfigError(`${where}: an agent task needs an input (its prompt)`);
    }
    if (task.maxTurns !== undefined && !(Number.isInteger(task.maxTurns) && task.maxTurns >= 1)) {
      throw new ConfigError(`${where}: maxTurns must be a positive integer`);
    }
    if (task.schema !== undefined && (typeof task.schema !== 'object' || task.schema === null)) {
      throw new ConfigError(`${where}: schema must be a JSON Schema object`);
    }
  }
}
