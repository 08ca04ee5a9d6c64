/**
 * The loader a worker's `loadWorkflow` activity uses for nested `workflow()` calls: finds the named
 * or given definition, then compiles it by its kind.
 */
import type { CompiledScript, LoadWorkflowRequest } from '../types';
import { compileWorkflowFile } from './compile-workflow-file';
import { resolveWorkflowRef } from './saved-workflows';

/**
 * Finds `request.ref` among the run's project, personal and bundled workflows (or at its path)
 * and compiles it.
 *
 * @throws ConfigError - When no workflow of that name or path exists.
 * @throws ScriptError - With file:line:column for a refused definition.
 */
export async function loadWorkflowFile(
  request: LoadWorkflowRequest,
  folders: { home: string; bundledDir: string },
): Promise<CompiledScript> {
  const file = await resolveWorkflowRef(request.ref, {
    cwd: request.cwd,
    home: folders.home,
    bundledDir: folders.bundledDir,
    callerDir: request.callerDir,
  });
  // A saved YAML definition's roles map to the agent types of the run's project (S601).
  return compileWorkflowFile(file, { roles: { cwd: request.cwd, home: folders.home } });
}
