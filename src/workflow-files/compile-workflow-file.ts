/**
 * Compiles a saved or named workflow file of either kind: a JS workflow script, or an
 * AgentOS-style YAML definition (`.yaml`/`.yml`, S601) turned into the YAML runner script.
 */
import { resolveAgentRoles } from '../agentos/agent-roles';
import type { AgentRoleLookup } from '../agentos/agent-roles';
import { compileYamlWorkflowFile, definitionOf, isYamlPath } from '../agentos/compile-yaml';
import type { CompiledScript } from '../types';
import { compileScriptFile } from '../compiler/compile-script';

/** Options for {@link compileWorkflowFile}. */
export interface CompileWorkflowFileOptions {
  /**
   * Where a YAML workflow's agent roles are looked up as agent types; without it every role runs
   * as a plain agent (listings and validation need no lookup).
   */
  roles?: AgentRoleLookup & { overrides?: Readonly<Record<string, string>> };
}

/**
 * Compiles `path` as YAML when it ends in `.yaml`/`.yml`, else as a JS workflow script.
 *
 * @throws ScriptError - With file:line:column for a refused script or definition.
 * @throws ConfigError - For an `--agent` override the workflow cannot take.
 */
export async function compileWorkflowFile(
  path: string,
  options: CompileWorkflowFileOptions = {},
): Promise<CompiledScript> {
  if (!isYamlPath(path)) return compileScriptFile(path);
  const plain = await compileYamlWorkflowFile(path);
  if (!options.roles) return plain;
  const roles = definitionOf(plain)?.agents ?? [];
  if (roles.length === 0 && Object.keys(options.roles.overrides ?? {}).length === 0) return plain;
  const agentTypes = await resolveAgentRoles(roles, options.roles.overrides ?? {}, options.roles);
  return compileYamlWorkflowFile(path, { agentTypes });
}
