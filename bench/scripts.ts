/**
 * The workflow scripts the scenarios run, as users would write them, and the parameters the plain
 * promise baseline shares with them so both sides ask the model the same things.
 */
import { compileScript } from '../src/compiler/compile-script';
import type { CompiledScript } from '../src/types';

/** `args` of the fan-out script: `n` agents in one `parallel()`, prompts tagged per run. */
export interface FanOutArgs {
  n: number;
  tag: string;
}

/** Scenarios 1 and 3: one `parallel()` of N agents; the run's concurrency caps them. */
const FAN_OUT = `export const meta = {
  name: 'bench-fan-out',
  description: 'Benchmark: N independent agents in one parallel() call',
};
const results = await parallel(
  Array.from({ length: args.n }, (_, i) => () => agent(\`fan-out \${args.tag} item \${i}\`, { label: \`item-\${i}\` })),
);
return results.filter((r) => r !== null).length;
`;

/** Scenario 2: N agents, each started when the previous one has answered. */
const CHAIN = `export const meta = {
  name: 'bench-chain',
  description: 'Benchmark: N agents one after another',
};
let answered = 0;
for (let i = 0; i < args.n; i++) {
  const answer = await agent(\`chain \${args.tag} step \${i}\`, { label: \`step-\${i}\` });
  if (answer !== null) answered++;
}
return answered;
`;

/**
 * One item of the seed's pipeline-vs-barrier example (seed 004, section 4): three review dimensions,
 * each reviewed (stage 1) and then verified (stage 2). Stage latencies are uneven so that a barrier
 * between the stages costs time: the slowest review holds back every verification.
 */
export interface PipelineItem {
  id: string;
  prompt: string;
  /** Model latency of the review agent, ms. */
  reviewMs: number;
  /** Model latency of the verify agent, ms. */
  verifyMs: number;
}

/** The three dimensions and their stage latencies; every item's two stages add up to 1.8 s. */
export const PIPELINE_ITEMS: PipelineItem[] = [
  {
    id: 'security',
    prompt: 'Review the changed files for injection, auth, and access control issues.',
    reviewMs: 300,
    verifyMs: 1500,
  },
  {
    id: 'performance',
    prompt: 'Review the changed files for slow queries, N+1 patterns, and unbounded loops.',
    reviewMs: 1500,
    verifyMs: 300,
  },
  {
    id: 'data-integrity',
    prompt: 'Review the changed files for missing validations and race conditions.',
    reviewMs: 900,
    verifyMs: 900,
  },
];

/** The review prompt of an item, with its latency directive for the mock model. */
export function reviewPrompt(item: PipelineItem, tag: string): string {
  return `[[mock:latency ${item.reviewMs}]] ${item.prompt} (${tag})`;
}

/** The verify prompt of an item, given its review's answer. */
export function verifyPrompt(item: PipelineItem, review: unknown, tag: string): string {
  return `[[mock:latency ${item.verifyMs}]] A reviewer reported: "${String(review)}". Try to refute it. (${item.id} ${tag})`;
}

/** Ideal wall time of the pipeline design: the slowest item's two stages. */
export const PIPELINE_IDEAL_MS = Math.max(...PIPELINE_ITEMS.map((i) => i.reviewMs + i.verifyMs));
/** Ideal wall time of the barrier design: the slowest review, then the slowest verification. */
export const BARRIER_IDEAL_MS =
  Math.max(...PIPELINE_ITEMS.map((i) => i.reviewMs)) + Math.max(...PIPELINE_ITEMS.map((i) => i.verifyMs));

// The prompt builders are repeated in script text: scripts cannot import, so args carry the data.
const PIPELINE = `export const meta = {
  name: 'bench-pipeline',
  description: 'Benchmark: 3 items x 2 stages through pipeline(), no barrier between stages',
};
return pipeline(
  args.items,
  (item) => agent(\`[[mock:latency \${item.reviewMs}]] \${item.prompt} (\${args.tag})\`, { phase: 'Review', label: item.id }),
  (review, item) =>
    agent(\`[[mock:latency \${item.verifyMs}]] A reviewer reported: "\${String(review)}". Try to refute it. (\${item.id} \${args.tag})\`, {
      phase: 'Verify',
      label: \`verify-\${item.id}\`,
    }),
);
`;

const BARRIER = `export const meta = {
  name: 'bench-barrier',
  description: 'Benchmark: 3 items x 2 stages as two parallel() barriers',
};
const reviews = await parallel(
  args.items.map((item) => () => agent(\`[[mock:latency \${item.reviewMs}]] \${item.prompt} (\${args.tag})\`, { phase: 'Review', label: item.id })),
);
return parallel(
  args.items.map((item, i) => () =>
    agent(\`[[mock:latency \${item.verifyMs}]] A reviewer reported: "\${String(reviews[i])}". Try to refute it. (\${item.id} \${args.tag})\`, {
      phase: 'Verify',
      label: \`verify-\${item.id}\`,
    }),
  ),
);
`;

/** Scenario 5: N agents held at the model long enough to kill the worker under them. */
const RECOVERY = `export const meta = {
  name: 'bench-recovery',
  description: 'Benchmark: agents in flight when their worker is killed',
};
return parallel(
  Array.from({ length: args.n }, (_, i) => () => agent(\`[[mock:latency \${args.latencyMs}]] recovery \${args.tag} item \${i}\`)),
);
`;

/** Prompt of recovery item `i`, as the recovery script builds it. */
export function recoveryPrompt(latencyMs: number, tag: string, i: number): string {
  return `[[mock:latency ${latencyMs}]] recovery ${tag} item ${i}`;
}

/** Prompt of fan-out item `i`, as the fan-out script builds it. */
export function fanOutPrompt(tag: string, i: number): string {
  return `fan-out ${tag} item ${i}`;
}

/** Prompt of chain step `i`, as the chain script builds it. */
export function chainPrompt(tag: string, i: number): string {
  return `chain ${tag} step ${i}`;
}

/** Every benchmark script, compiled as `weft run` would compile it. */
export interface BenchScripts {
  fanOut: CompiledScript;
  chain: CompiledScript;
  pipeline: CompiledScript;
  barrier: CompiledScript;
  recovery: CompiledScript;
}

/** Compiles the scripts; a ScriptError here is a bug in the bench. */
export function compileBenchScripts(): BenchScripts {
  return {
    fanOut: compileScript(FAN_OUT, 'bench/fan-out.js', null),
    chain: compileScript(CHAIN, 'bench/chain.js', null),
    pipeline: compileScript(PIPELINE, 'bench/pipeline.js', null),
    barrier: compileScript(BARRIER, 'bench/barrier.js', null),
    recovery: compileScript(RECOVERY, 'bench/recovery.js', null),
  };
}
