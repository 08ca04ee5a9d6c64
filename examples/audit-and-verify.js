export const meta = {
  name: 'audit-and-verify',
  description: 'Review the changed files along three dimensions, then adversarially verify each finding',
  whenToUse: 'After a change, to get findings that survived an attempt to refute them',
  phases: [
    { title: 'Review', detail: 'one reviewer per dimension' },
    { title: 'Verify', detail: 'one skeptic per finding' },
  ],
}

// The audit-and-verify pattern of seed 004, in its `export default async function` form.
const FINDINGS_SCHEMA = {
  type: 'object',
  required: ['issues'],
  properties: {
    issues: {
      type: 'array',
      maxItems: 4,
      items: {
        type: 'object',
        required: ['title', 'description', 'severity'],
        properties: {
          title: { type: 'string' },
          description: { type: 'string' },
          severity: { type: 'string', enum: ['low', 'medium', 'high', 'critical'] },
        },
      },
    },
  },
}

const VERDICT_SCHEMA = {
  type: 'object',
  required: ['isReal', 'reason'],
  properties: {
    isReal: { type: 'boolean' },
    reason: { type: 'string' },
  },
}

export default async function ({ agent, parallel, pipeline }) {
  const DIMENSIONS = [
    { id: 'security', prompt: 'Review the changed files for injection, auth, and access control issues.' },
    { id: 'performance', prompt: 'Review the changed files for slow queries, N+1 patterns, and unbounded loops.' },
    { id: 'data-integrity', prompt: 'Review the changed files for missing validations and race conditions.' },
  ]

  const results = await pipeline(
    DIMENSIONS,
    // Stage 1: generate findings per dimension
    (dim) =>
      agent(dim.prompt, {
        phase: 'Review',
        label: dim.id,
        schema: FINDINGS_SCHEMA,
      }),
    // Stage 2: verify each finding independently
    (findings) =>
      parallel(
        findings.issues.map((issue) => () =>
          agent(
            `A reviewer found this issue: "${issue.title}" (${issue.description}). Try your hardest to refute it. Is it a real problem or a false positive?`,
            {
              phase: 'Verify',
              label: issue.title,
              schema: VERDICT_SCHEMA,
            },
          ),
        ),
      ),
  )

  // Flatten and keep only confirmed findings
  const confirmed = results
    .flat()
    .filter((verdicts) => verdicts !== null)
    .flat()
    .filter((v) => v?.isReal)

  return confirmed
}
