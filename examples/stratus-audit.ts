/**
 * Seed 000's quick start on weft's Stratus-style API: a parallel audit, reviewed file by file and
 * merged by a synthesizer, with live progress events.
 *
 *   node --import tsx examples/stratus-audit.ts [files...]
 *
 * It needs a Temporal server (TEMPORAL_ADDRESS, or weft's embedded dev server, started if need be)
 * and a weft worker on the task queue. This example hosts the worker itself, and answers from weft's
 * local model server unless ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL is set, so it runs offline.
 * See docs/stratus-api.md.
 */
import Anthropic from '@anthropic-ai/sdk';
import {
  Agent,
  WeftClient,
  createModel,
  createWeftWorker,
  startMockModel,
  streamWorkflow,
  workflow,
  workflowTask,
} from '../src/index';

const model = createModel();

const reviewer = new Agent({
  name: 'reviewer',
  model,
  instructions: 'Review the target carefully. Report concrete findings only.',
  tools: ['Read', 'Grep', 'Glob'],
});

const synthesizer = new Agent({
  name: 'synthesizer',
  model,
  instructions: 'Merge independent findings into a concise final report.',
});

const auditWorkflow = workflow({
  name: 'parallel-audit',
  description: 'Audit files in parallel and merge the findings',
  run: async (ctx, files: string[]) => {
    const findings = await ctx.phase(
      'review files',
      files.map((file) =>
        workflowTask({
          id: file,
          name: `review ${file}`,
          agent: reviewer,
          input: `Audit ${file} for correctness, security, and missing tests.`,
          metadata: { file },
        }),
      ),
      { concurrency: 8, failFast: false },
    );

    const report = await ctx.synthesize(
      synthesizer,
      findings
        .map((finding) => `## ${finding.name}\n${String(finding.output ?? finding.error)}`)
        .join('\n\n'),
    );

    return report.output;
  },
});

async function main(): Promise<void> {
  const files = process.argv.slice(2);
  if (files.length === 0) files.push('src/routes/users.ts', 'src/routes/billing.ts');

  // Without model credentials, answer from weft's local model server.
  const offline = !process.env.ANTHROPIC_API_KEY && !process.env.ANTHROPIC_BASE_URL;
  const mock = offline ? await startMockModel() : null;

  const client = await WeftClient.connect();
  const taskQueue = `stratus-audit-${process.pid}`;
  const worker = await createWeftWorker({
    address: client.address,
    namespace: client.config.namespace,
    taskQueue,
    ...(mock
      ? {
          activityDeps: {
            anthropic: () => new Anthropic({ apiKey: 'local', baseURL: mock.url, maxRetries: 0 }),
          },
        }
      : {}),
  });
  const running = worker.run();
  try {
    const { stream, result } = streamWorkflow(auditWorkflow, files, { client, taskQueue });
    for await (const event of stream) {
      if (event.type === 'workflow_started') console.error(`run ${event.runId} started`);
      if (event.type === 'workflow_task_completed' || event.type === 'workflow_task_failed') {
        console.error(`${event.task.name}: ${event.task.status} (${event.task.usage.totalTokens} tokens)`);
      }
      if (event.type === 'workflow_synthesis_completed') console.error('synthesis done');
    }
    const final = await result;
    console.log(final.output);
    console.error(`${final.usage.totalTokens} tokens, $${final.totalCostUsd.toFixed(4)}`);
    if (client.uiUrl)
      console.error(
        `history: ${client.uiUrl}/namespaces/${client.config.namespace}/workflows/${final.runId}`,
      );
  } finally {
    await worker.shutdown();
    await running;
    await client.close();
    await mock?.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
