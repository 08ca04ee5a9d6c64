import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';

/** Parses `--args JSON` or `--args @file.json` into the script's verbatim `args` (S209). */
export function parseArgsOption(raw: string): unknown {
  let text = raw;
  let origin = '--args';
  if (raw.startsWith('@')) {
    origin = raw.slice(1);
    try {
      text = readFileSync(origin, 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(
        `cannot read ${origin}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidArgumentError(
      `${origin} is not valid JSON (quote a plain string: --args '"text"', or pass @file.json)`,
    );
  }
}

/** Parses a positive integer flag such as `--concurrency 8`. */
export function parsePositiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${raw}"`);
  return n;
}

/** Parses a token budget such as `500000`, `500k` or `2m` (S210). */
export function parseTokenBudget(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([km]?)$/i.exec(raw.trim());
  if (!match) throw new InvalidArgumentError(`expected a token count like 200000, 500k or 2m, got "${raw}"`);
  const scale = { '': 1, k: 1_000, m: 1_000_000 }[(match[2] ?? '').toLowerCase() as '' | 'k' | 'm'];
  const n = Math.round(Number(match[1]) * scale);
  if (n < 1) throw new InvalidArgumentError('the budget must be at least 1 token');
  return n;
}

/** Parses a duration such as `90s`, `20m`, `2h`, `7d` or plain milliseconds into milliseconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(raw.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration like 90s, 20m or 2h, got "${raw}"`);
  const unit = (match[2] ?? 'ms').toLowerCase() as 'ms' | 's' | 'm' | 'h' | 'd';
  const ms = Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit];
  if (ms < 1) throw new InvalidArgumentError('the duration must be positive');
  return Math.round(ms);
}

/** Parses a positive decimal such as `2.5`. */
export function parsePositiveNumber(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number, got "${raw}"`);
  return n;
}
