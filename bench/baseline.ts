/**
 * The baseline: the same work as the weft scenarios, run by a plain in-process promise runner (a
 * tiny semaphore and direct `@anthropic-ai/sdk` calls to the same model server, no Temporal). It is
 * what an in-process runtime costs, so weft's figures can be read as ratios to it.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { PipelineItem } from './scripts';
import { chainPrompt, fanOutPrompt, reviewPrompt, verifyPrompt } from './scripts';

// The same shape of request as weft's agent loop sends: streamed, same max_tokens, a system prompt
// of similar length, SDK retries off.
const SYSTEM =
  'You are a subagent started by a workflow script. No person reads your messages and no one will ' +
  'answer questions: never ask for clarification, make reasonable assumptions and state them. ' +
  'Your final message is data returned to the script, not a message to a person: return exactly ' +
  'what the task asks for, with no preamble or sign-off.';

/** Runs thunks with at most `limit` in flight, in order of arrival. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** A plain runner bound to one model server. */
export class BaselineRunner {
  private readonly client: Anthropic;

  constructor(
    baseURL: string,
    private readonly model = 'claude-sonnet-4-6',
  ) {
    this.client = new Anthropic({ baseURL, apiKey: 'x', maxRetries: 0 });
  }

  /** One agent: one model call, answered with its text. */
  async agent(prompt: string): Promise<string> {
    const message = await this.client.messages
      .stream({
        model: this.model,
        max_tokens: 16_000,
        system: SYSTEM,
        messages: [{ role: 'user', content: prompt }],
      })
      .finalMessage();
    return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  }

  /** Scenarios 1 and 3: N agents, at most `concurrency` at once. Returns wall ms. */
  async fanOut(n: number, concurrency: number, tag: string): Promise<number> {
    const started = performance.now();
    const sem = new Semaphore(concurrency);
    await Promise.all(Array.from({ length: n }, (_, i) => sem.run(() => this.agent(fanOutPrompt(tag, i)))));
    return performance.now() - started;
  }

  /** Scenario 2: N agents one after another. Returns wall ms. */
  async chain(n: number, tag: string): Promise<number> {
    const started = performance.now();
    for (let i = 0; i < n; i++) await this.agent(chainPrompt(tag, i));
    return performance.now() - started;
  }

  /** Scenario 4, pipeline design: each item flows through both stages on its own. Returns wall ms. */
  async pipeline(items: PipelineItem[], tag: string): Promise<number> {
    const started = performance.now();
    await Promise.all(
      items.map(async (item) => {
        const review = await this.agent(reviewPrompt(item, tag));
        return this.agent(verifyPrompt(item, review, tag));
      }),
    );
    return performance.now() - started;
  }

  /** Scenario 4, barrier design: every review, then every verification. Returns wall ms. */
  async barrier(items: PipelineItem[], tag: string): Promise<number> {
    const started = performance.now();
    const reviews = await Promise.all(items.map((item) => this.agent(reviewPrompt(item, tag))));
    await Promise.all(items.map((item, i) => this.agent(verifyPrompt(item, reviews[i], tag))));
    return performance.now() - started;
  }
}
