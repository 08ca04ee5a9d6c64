/**
 * How a YAML workflow's `agents:` roles become weft agent types (S601, S403). A step opts in with
 * `agent: <role>`. For each run, a role maps to `--agent role=type` when given, else to the agent
 * type of the same name when a definition exists (`.weft/agents/`, `.claude/agents/`,
 * `~/.weft/agents/`), else to nothing: the step runs as a plain agent.
 */
import { findAgentType } from '../activities/agent/agent-types';
import { ConfigError } from '../errors';

/** Where agent definitions are looked up. */
export interface AgentRoleLookup {
  cwd: string;
  home: string;
}

/**
 * Parses `--agent role=type` values.
 *
 * @throws ConfigError - For a value that is not `role=type`, or a role given twice.
 */
export function parseAgentOverrides(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const match = /^([^=\s]+)=(\S+)$/.exec(value.trim());
    if (!match)
      throw new ConfigError(`--agent takes role=type, e.g. --agent architect=my-architect; got "${value}"`);
    const [, role = '', type = ''] = match;
    if (role in out) throw new ConfigError(`--agent ${role} is given twice`);
    out[role] = type;
  }
  return out;
}

/**
 * The agent type of each role for one run.
 *
 * @param roles - The definition's `agents:` list.
 * @param overrides - `--agent role=type` values.
 * @throws ConfigError - For an override of a role the workflow does not list, or of a type no
 *   definition provides; nothing starts.
 */
export async function resolveAgentRoles(
  roles: readonly string[],
  overrides: Readonly<Record<string, string>>,
  where: AgentRoleLookup,
): Promise<Record<string, string | null>> {
  for (const role of Object.keys(overrides)) {
    if (!roles.includes(role)) {
      throw new ConfigError(
        `--agent ${role}=...: the workflow has no agent role "${role}" (its agents: ${roles.length > 0 ? roles.join(', ') : 'none'})`,
      );
    }
  }
  const out: Record<string, string | null> = {};
  for (const role of roles) {
    const override = overrides[role];
    if (override !== undefined) {
      // An unknown type would only fail each agent later; refuse it before the run starts.
      await findAgentType(override, where);
      out[role] = override;
      continue;
    }
    out[role] = await findAgentType(role, where).then(
      (d) => d.name,
      () => null,
    );
  }
  return out;
}
