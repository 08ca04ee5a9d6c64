import { bashTool } from './bash';
import { editTool } from './edit';
import { globTool } from './glob';
import { grepTool } from './grep';
import { readTool } from './read';
import type { AgentTool } from './tool-types';
import { webFetchTool } from './web-fetch';
import { webSearchTool } from './web-search';
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
  webSearchTool,
];

/** Tool names weft knows, as Claude Code spells them. */
export const TOOL_NAMES: readonly string[] = ALL_TOOLS.map((t) => t.name);

/** The tool with this exact name, if weft has one. */
export function toolByName(name: string): AgentTool | undefined {
  return ALL_TOOLS.find((t) => t.name === name);
}

/**
 * The tools an agent gets from `available` (by default the built-in ones): all of them, or those
 * named (an agent type's `tools` list), in `available`'s order. Names with no tool are left out
 * and returned, so the caller can say so.
 */
export function selectTools(
  names: readonly string[] | null,
  available: readonly AgentTool[] = ALL_TOOLS,
): { tools: AgentTool[]; unknown: string[] } {
  if (names === null) return { tools: [...available], unknown: [] };
  const wanted = new Set(names);
  return {
    tools: available.filter((t) => wanted.has(t.name)),
    unknown: names.filter((n) => !available.some((t) => t.name === n)),
  };
}

/**
 * The built-in tools with some replaced by name: a worker swaps in the Bash of the sandbox it
 * resolved (S808), keeping the registry's order.
 */
export function withReplacements(replacements: readonly AgentTool[]): AgentTool[] {
  return ALL_TOOLS.map((t) => replacements.find((r) => r.name === t.name) ?? t);
}
