import { bashTool } from './bash';
import { editTool } from './edit';
import { globTool } from './glob';
import { grepTool } from './grep';
import { readTool } from './read';
import type { AgentTool } from './tool-types';
import { webFetchTool } from './web-fetch';
import { writeTool } from './write';

/** Every tool an agent may get, in the order they are offered (S401). */
export const ALL_TOOLS: readonly AgentTool[] = [
  readTool,
  writeTool,
  editTool,
  globTool,
  grepTool,
  bashTool,
  webFetchTool,
];

/** Tool names weft knows, as Claude Code spells them. */
export const TOOL_NAMES: readonly string[] = ALL_TOOLS.map((t) => t.name);

/** The tool with this exact name, if weft has one. */
export function toolByName(name: string): AgentTool | undefined {
  return ALL_TOOLS.find((t) => t.name === name);
}

/**
 * The tools an agent gets: all of them, or those named (an agent type's `tools` list), in the
 * registry's order. Names weft has no tool for are left out and returned, so the caller can say so.
 */
export function selectTools(names: readonly string[] | null): { tools: AgentTool[]; unknown: string[] } {
  if (names === null) return { tools: [...ALL_TOOLS], unknown: [] };
  const wanted = new Set(names);
  return {
    tools: ALL_TOOLS.filter((t) => wanted.has(t.name)),
    unknown: names.filter((n) => !toolByName(n)),
  };
}
