export const meta = {
  name: 'my-workflow',
  description: 'One line.',
  whenToUse: 'When …',
  phases: [
    { title: 'Plan',   detail: 'Decompose the task' },
    { title: 'Work',   detail: 'Fan out workers' },
    { title: 'Report', detail: 'Synthesize' },
  ],
}

// The minimal skeleton of seed 003, section 9: args is a string.
const ITEM_SCHEMA   = { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { type: 'string' } } } }
const RESULT_SCHEMA = { type: 'object', required: ['finding'], properties: { finding: { type: 'string' } } }
const REPORT_SCHEMA = { type: 'object', required: ['summary'], properties: { summary: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } } }

// Phase 1 — plan
phase('Plan')
const INPUT = (typeof args === 'string' && args.trim()) || ''
if (!INPUT) return { error: 'No input provided.' }

const plan = await agent(
  'Decompose this task into items.\n\nTask: ' + INPUT + '\n\nStructured output only.',
  { label: 'plan', schema: ITEM_SCHEMA }
)
if (!plan) return { error: 'Planning failed.' }
log('Planned ' + plan.items.length + ' items')

// Phase 2 — fan out, wait for all (barrier)
const results = (await parallel(
  plan.items.map(item => () =>
    agent('Do the work for: ' + item + '\n\nStructured output only.',
          { label: 'work:' + item.slice(0, 30), phase: 'Work', schema: RESULT_SCHEMA })
  )
)).filter(Boolean)                      // drop nulls (skipped/errored agents)
log('Completed ' + results.length + '/' + plan.items.length + ' items')

if (results.length === 0) return { input: INPUT, summary: 'No items completed.', details: [] }

// Phase 3 — synthesize
phase('Report')
const report = await agent(
  'Synthesize these findings:\n' + results.map(r => '- ' + r.finding).join('\n') + '\n\nStructured output only.',
  { label: 'report', schema: REPORT_SCHEMA }
)
if (!report) return { input: INPUT, summary: 'Synthesis failed.', findings: results.map(r => r.finding) }

return {
  input: INPUT,
  ...report,
  stats: { items: plan.items.length, completed: results.length, agentCalls: 1 + plan.items.length + 1 },
}
