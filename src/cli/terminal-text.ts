/**
 * Text from scripts, runs and models is untrusted: a `meta.name`, a label, a log line or an agent's
 * answer may hold terminal control sequences that retitle the terminal, move the cursor or repaint
 * the view. Everything such text passes through on its way to a terminal goes through these
 * functions, which show every control character as a visible escape (`\x1b`, `\r`, `\u202e`)
 * instead of sending it. `--json` output never does: it stays exact.
 */
import type { RunProgress } from '../types';

// C0 controls, DEL, C1 controls (U+009B is a one-byte CSI), and the Unicode bidirectional overrides
// and isolates that reorder what a line appears to say.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeControl(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of untrusted text for a terminal: every control character, newlines too, shown escaped. */
export function safeLine(text: string): string {
  return text.replace(CONTROL, escapeControl);
}

/**
 * Untrusted text that may span lines (a prompt, a result, an error): newlines and tabs stay, every
 * other control character is shown escaped.
 */
export function safeText(text: string): string {
  return text.replace(CONTROL, (ch) => (ch === '\n' || ch === '\t' ? ch : escapeControl(ch)));
}

/**
 * JSON text for a person's terminal: `JSON.stringify` escapes C0 controls but sends DEL, C1 and
 * bidi characters raw; they become `\uXXXX` escapes, so the text still parses to the same value.
 */
export function safeJsonText(json: string): string {
  // Outside strings JSON has no such characters, so every match is inside a string literal.
  return json.replace(CONTROL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A progress snapshot with every string a script or model supplied made safe for one line. */
export function safeProgress<T extends Partial<RunProgress>>(progress: T): T {
  const line = (s: string | null | undefined): string | null | undefined =>
    typeof s === 'string' ? safeLine(s) : s;
  return {
    ...progress,
    ...(progress.name === undefined ? {} : { name: safeLine(progress.name) }),
    ...(progress.stopReason === undefined ? {} : { stopReason: line(progress.stopReason) ?? null }),
    ...(progress.phases === undefined
      ? {}
      : {
          phases: progress.phases.map((p) => ({
            ...p,
            title: safeLine(p.title),
            ...(p.detail === undefined ? {} : { detail: safeLine(p.detail) }),
            ...(p.model === undefined ? {} : { model: safeLine(p.model) }),
          })),
        }),
    ...(progress.agents === undefined
      ? {}
      : {
          agents: progress.agents.map((a) => ({
            ...a,
            label: safeLine(a.label),
            phase: line(a.phase) ?? null,
            group: line(a.group) ?? null,
            model: line(a.model) ?? null,
            prompt: safeLine(a.prompt),
            error: line(a.error) ?? null,
            worktree: a.worktree
              ? { ...a.worktree, path: safeLine(a.worktree.path), branch: safeLine(a.worktree.branch) }
              : a.worktree,
          })),
        }),
    ...(progress.logs === undefined
      ? {}
      : {
          logs: progress.logs.map((l) => ({
            ...l,
            message: safeLine(l.message),
            group: line(l.group) ?? null,
          })),
        }),
    ...(progress.approvals === undefined
      ? {}
      : {
          approvals: progress.approvals.map((a) => ({
            ...a,
            step: safeLine(a.step),
            message: line(a.message) ?? null,
            by: line(a.by) ?? null,
            comment: line(a.comment) ?? null,
          })),
        }),
  };
}
