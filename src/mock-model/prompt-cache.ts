/**
 * The mock's prompt cache, modelled on the API's documented behaviour: a request's prefix (tools,
 * then system, then messages, block by block) is cached at each `cache_control` breakpoint whose
 * prefix reaches the model's minimum cacheable length; a later request reads the longest cached
 * prefix it shares, found by looking back at most 20 blocks from each of its breakpoints; entries
 * live 5 minutes (or 1 hour with `ttl: '1h'`) and every read refreshes them. The cache is shared
 * across conversations, as the real one is across requests of an organisation.
 */
import { createHash } from 'node:crypto';
import type { MessagesRequest } from './conversation';
import { contentText } from './conversation';
import { traitsOf } from './wire';

/** How many blocks before a breakpoint the API checks for an earlier cache entry. */
export const CACHE_LOOKBACK_BLOCKS = 20;

const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;

/** How a request's input tokens split between the cache and fresh input. */
export interface CacheOutcome {
  /** All input tokens of the request. */
  total: number;
  read: number;
  write5m: number;
  write1h: number;
  /** Tokens read neither from nor into the cache. */
  uncached: number;
}

interface FlatBlock {
  hash: string;
  /** Tokens of the prefix up to and including this block. */
  tokens: number;
  ttl: '5m' | '1h' | null;
}

/** A prompt cache shared by every request to one mock server. */
export class PromptCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  clear(): void {
    this.entries.clear();
  }

  /** Splits a request's input tokens into cache reads, cache writes and the rest, and records writes. */
  account(req: MessagesRequest): CacheOutcome {
    const blocks = flatten(req);
    const total = blocks.length === 0 ? 1 : Math.max(1, blocks[blocks.length - 1]?.tokens ?? 1);
    const now = this.now();
    for (const [hash, expires] of this.entries) if (expires <= now) this.entries.delete(hash);
    const breakpoints = blocks.flatMap((b, i) => (b.ttl ? [i] : []));
    let hit = -1;
    for (const b of breakpoints) {
      for (let q = b; q >= Math.max(0, b - CACHE_LOOKBACK_BLOCKS); q--) {
        const block = blocks[q];
        if (block && this.entries.has(block.hash)) {
          if (q > hit) hit = q;
          break;
        }
      }
    }
    const read = hit >= 0 ? (blocks[hit]?.tokens ?? 0) : 0;
    if (hit >= 0) {
      const block = blocks[hit];
      const ttl = breakpoints.map((b) => blocks[b]?.ttl).includes('1h') ? '1h' : '5m';
      if (block) this.entries.set(block.hash, now + TTL_MS[ttl]);
    }
    const minimum = traitsOf(req.model).minCacheableTokens;
    let write5m = 0;
    let write1h = 0;
    let written = read;
    for (const b of breakpoints) {
      const block = blocks[b];
      if (!block || block.tokens < minimum || !block.ttl) continue;
      this.entries.set(block.hash, now + TTL_MS[block.ttl]);
      if (block.tokens > written) {
        if (block.ttl === '1h') write1h += block.tokens - written;
        else write5m += block.tokens - written;
        written = block.tokens;
      }
    }
    return { total, read, write5m, write1h, uncached: Math.max(0, total - written) };
  }
}

/** Every block of the request in cache order, each with its running prefix hash and size. */
function flatten(req: MessagesRequest): FlatBlock[] {
  const out: FlatBlock[] = [];
  let hash = createHash('sha256').update(req.model).digest('hex');
  let chars = 0;
  const push = (block: unknown, size: number): void => {
    const { cache_control: control, ...rest } = (
      typeof block === 'object' && block !== null ? block : { text: block }
    ) as Record<string, unknown>;
    hash = createHash('sha256').update(hash).update(JSON.stringify(rest)).digest('hex');
    chars += size;
    const ttl = control ? ((control as { ttl?: string }).ttl === '1h' ? '1h' : '5m') : null;
    out.push({ hash, tokens: Math.ceil(chars / 4), ttl });
  };
  for (const tool of req.tools ?? []) push(tool, JSON.stringify(tool).length);
  if (typeof req.system === 'string') push({ type: 'text', text: req.system }, req.system.length);
  else for (const b of req.system ?? []) push(b, (b.text ?? '').length);
  for (const m of req.messages) {
    if (typeof m.content === 'string') {
      push({ role: m.role, type: 'text', text: m.content }, m.content.length);
      continue;
    }
    for (const b of m.content) push({ role: m.role, ...b }, blockSize(b as unknown as { type: string }));
  }
  return out;
}

function blockSize(b: { type: string; [k: string]: unknown }): number {
  if (b.type === 'text') return String(b.text ?? '').length;
  if (b.type === 'tool_result') return contentText(b.content).length + 8;
  const source = (b as { source?: { type?: string; data?: unknown } }).source;
  if (b.type === 'document' && source?.type === 'text' && typeof source.data === 'string')
    return source.data.length;
  if (b.type === 'image' || b.type === 'document') return 1600 * 4;
  return JSON.stringify(b).length;
}
