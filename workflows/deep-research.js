export const meta = {
  name: 'deep-research',
  description: 'Research a question from several angles, extract claims from sources, and keep only the claims that survive adversarial verification',
  whenToUse: 'For a factual question that needs several sources and cross-checking. Pass the question as args (a string); refine a vague question before launching.',
  phases: [
    { title: 'Scope', detail: 'decompose the question into 3-5 search angles' },
    { title: 'Search', detail: 'one searcher per angle' },
    { title: 'Fetch', detail: 'read each new source and extract its claims (first come, first served budget)' },
    { title: 'Claims', detail: 'merge duplicate claims and rank them' },
    { title: 'Verify', detail: 'independent skeptics per claim; a quorum must agree' },
    { title: 'Synthesize', detail: 'write the report from the confirmed claims' },
  ],
}

// The deep-research shape of seed 003: scope → search → fetch → claims → adversarial verify with a
// quorum → synthesize. Every dead end returns a structured, self-describing result instead of
// throwing, and `stats` says what happened.

// ── Knobs ──
const MAX_FETCH = 8 // sources fetched in total
const MAX_PER_HOST = 2 // sources fetched per host
const MAX_VERIFY_CLAIMS = 6 // claims that go to verification, best ranked first
const VOTES_PER_CLAIM = 3 // independent skeptics per claim
const QUORUM = 2 // votes that must come back for a verdict to count
const REFUTATIONS_REQUIRED = 2 // refuting votes that kill a claim

// ── Schemas ──
const SCOPE_SCHEMA = {
  type: 'object',
  required: ['question', 'summary', 'angles'],
  properties: {
    question: { type: 'string' },
    summary: { type: 'string' },
    angles: {
      type: 'array',
      minItems: 3,
      maxItems: 5,
      items: {
        type: 'object',
        required: ['label', 'query'],
        properties: {
          label: { type: 'string', maxLength: 40 },
          query: { type: 'string' },
          rationale: { type: 'string' },
        },
      },
    },
  },
}

const SEARCH_SCHEMA = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      minItems: 1,
      maxItems: 4,
      items: {
        type: 'object',
        required: ['url', 'title', 'relevance'],
        properties: {
          url: { type: 'string' },
          title: { type: 'string' },
          snippet: { type: 'string' },
          relevance: { type: 'string', enum: ['high', 'medium', 'low'] },
        },
      },
    },
  },
}

const FETCH_SCHEMA = {
  type: 'object',
  required: ['sourceQuality', 'claims'],
  properties: {
    sourceQuality: { type: 'string', enum: ['primary', 'secondary', 'blog', 'forum', 'unreliable'] },
    publishDate: { type: 'string' },
    claims: {
      type: 'array',
      maxItems: 4,
      items: {
        type: 'object',
        required: ['claim', 'evidence', 'confidence'],
        properties: {
          claim: { type: 'string' },
          evidence: { type: 'string' },
          confidence: { type: 'string', enum: ['high', 'medium', 'low'] },
        },
      },
    },
  },
}

const CLAIMS_SCHEMA = {
  type: 'object',
  required: ['claims'],
  properties: {
    claims: {
      type: 'array',
      items: {
        type: 'object',
        required: ['claim', 'sources'],
        properties: {
          claim: { type: 'string' },
          sources: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
}

const VERDICT_SCHEMA = {
  type: 'object',
  required: ['refuted', 'reason'],
  properties: {
    refuted: { type: 'boolean' },
    reason: { type: 'string' },
    counterSource: { type: 'string' },
  },
}

const REPORT_SCHEMA = {
  type: 'object',
  required: ['summary', 'findings'],
  properties: {
    summary: { type: 'string' },
    findings: {
      type: 'array',
      items: {
        type: 'object',
        required: ['finding', 'sources'],
        properties: {
          finding: { type: 'string' },
          sources: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    openQuestions: { type: 'array', items: { type: 'string' } },
  },
}

// ── Prompts ──
const SCOPE_PROMPT = (question) =>
  'Decompose this research question into 3 to 5 complementary search angles (history, data, ' +
  'counter-arguments, recent developments, expert views...). Give each a short label and a search query.\n\n' +
  'Question: ' + question + '\n\nStructured output only.'

const SEARCH_PROMPT = (question, angle) =>
  'Use WebSearch to search the web for sources on this angle of a research question. Return up to 4 results, ' +
  'most relevant first, with their exact URLs as the search gave them.\n\nQuestion: ' + question + '\nAngle: ' + angle.label + '\nQuery: ' + angle.query +
  '\n\nStructured output only.'

const FETCH_PROMPT = (question, source) =>
  'Fetch this source with WebFetch and extract up to 4 factual claims that bear on the question, each with the evidence ' +
  'the source gives. Rate the source quality honestly.\n\nQuestion: ' + question + '\nSource: ' + source.title +
  ' <' + source.url + '>\n\nStructured output only.'

const CLAIMS_PROMPT = (question, claims) =>
  'Merge duplicate or overlapping claims from this list into distinct claims, keeping every source URL that ' +
  'supports each. Drop claims that do not bear on the question.\n\nQuestion: ' + question + '\n\nClaims:\n' +
  claims.map((c, i) => i + 1 + '. ' + c.claim + ' [' + c.source + ']').join('\n') + '\n\nStructured output only.'

const VERIFY_PROMPT = (question, claim, v) =>
  'You are skeptic #' + (v + 1) + '. Try your hardest to refute this claim: use WebSearch to search for counter-evidence and check ' +
  'the cited source. Say refuted: true only with a concrete reason.\n\nQuestion: ' + question + '\nClaim: ' +
  claim.claim + '\nSources: ' + claim.sources.join(', ') + '\n\nStructured output only.'

const REPORT_PROMPT = (question, confirmed) =>
  'Write a research report answering the question from these verified claims only. Cite the sources of each ' +
  'finding and list open questions.\n\nQuestion: ' + question + '\n\nVerified claims:\n' +
  confirmed.map((c) => '- ' + c.claim + ' (' + c.sources.join(', ') + ')').join('\n') + '\n\nStructured output only.'

// ── Helpers ──
const relevanceRank = { high: 0, medium: 1, low: 2 }
const qualityRank = { primary: 0, secondary: 1, blog: 2, forum: 3, unreliable: 4 }
const confidenceRank = { high: 0, medium: 1, low: 2 }

const hostOf = (url) => {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#:]+)/i.exec(String(url).trim())
  return (match ? match[1] : String(url).trim()).toLowerCase().replace(/^www\./, '')
}
const normalizeUrl = (url) => String(url).trim().toLowerCase().replace(/[#?].*$/, '').replace(/\/+$/, '')

let agentCalls = 0
const counted = (promise) => {
  agentCalls++
  return promise
}

// ── Scope ──
const QUESTION = (typeof args === 'string' && args.trim()) || ''
if (!QUESTION) {
  return { error: 'No research question provided. Pass it as args, e.g. --args \'"How do heat pumps perform in cold climates?"\'' }
}

phase('Scope')
const scope = await counted(agent(SCOPE_PROMPT(QUESTION), { label: 'scope', schema: SCOPE_SCHEMA }))
if (!scope) return { question: QUESTION, error: 'Scope agent returned no result.', stats: { agentCalls } }
log('Decomposed into ' + scope.angles.length + ' angles: ' + scope.angles.map((a) => a.label).join(', '))

// ── Search → Fetch, streaming ──
// The fetch stage dedups against everything seen so far and spends a first-come, first-served
// budget, so it must see each search's results as soon as that search ends: a pipeline, not a barrier.
const seen = new Set()
const perHost = {}
let fetchSlots = MAX_FETCH
let duplicates = 0
let overBudget = 0
let searchResultsTotal = 0

const takeNovel = (results) => {
  const ranked = [...results].sort((a, b) => (relevanceRank[a.relevance] ?? 3) - (relevanceRank[b.relevance] ?? 3))
  const novel = []
  for (const r of ranked) {
    const key = normalizeUrl(r.url)
    const host = hostOf(r.url)
    if (seen.has(key)) {
      duplicates++
      continue
    }
    seen.add(key)
    if (fetchSlots <= 0 || (perHost[host] ?? 0) >= MAX_PER_HOST) {
      overBudget++
      continue
    }
    fetchSlots--
    perHost[host] = (perHost[host] ?? 0) + 1
    novel.push(r)
  }
  return novel
}

const fetched = await pipeline(
  scope.angles,
  (angle) =>
    counted(
      agent(SEARCH_PROMPT(QUESTION, angle), { label: 'search:' + angle.label, phase: 'Search', schema: SEARCH_SCHEMA }),
    ),
  (search, angle) => {
    if (!search) return []
    searchResultsTotal += search.results.length
    const novel = takeNovel(search.results)
    return parallel(
      novel.map((source) => () =>
        counted(
          agent(FETCH_PROMPT(QUESTION, source), { label: 'fetch:' + hostOf(source.url), phase: 'Fetch', schema: FETCH_SCHEMA }),
        ).then((page) => page && { source, angle: angle.label, page }),
      ),
    )
  },
)

const sources = fetched.flat().filter(Boolean)
const allClaims = sources.flatMap((s) =>
  s.page.claims.map((c) => ({ ...c, source: s.source.url, quality: s.page.sourceQuality })),
)
log('Fetched ' + sources.length + ' sources (' + duplicates + ' duplicate URLs, ' + overBudget + ' over budget) → ' + allClaims.length + ' claims')

const baseStats = () => ({
  angles: scope.angles.length,
  searchResults: searchResultsTotal,
  sourcesFetched: sources.length,
  duplicateUrls: duplicates,
  overBudget,
  claimsExtracted: allClaims.length,
  agentCalls,
  outputTokens: budget.spent(),
})

if (allClaims.length === 0) {
  return { question: QUESTION, summary: 'No claims could be extracted from the sources found.', findings: [], sources: [], stats: baseStats() }
}

// ── Claims: merge and rank ──
phase('Claims')
const ranked = [...allClaims].sort(
  (a, b) =>
    (qualityRank[a.quality] ?? 5) - (qualityRank[b.quality] ?? 5) ||
    (confidenceRank[a.confidence] ?? 3) - (confidenceRank[b.confidence] ?? 3),
)
const merged = await counted(agent(CLAIMS_PROMPT(QUESTION, ranked), { label: 'claims', schema: CLAIMS_SCHEMA }))
// A failed merge is not fatal: the ranked raw claims go to verification instead.
const pool = (merged && merged.claims.length > 0 ? merged.claims : ranked.map((c) => ({ claim: c.claim, sources: [c.source] })))
  .filter((c) => c.claim && c.claim.trim())
  .slice(0, MAX_VERIFY_CLAIMS)
log((merged ? 'Merged into ' + merged.claims.length : 'Merge failed; using ' + ranked.length + ' raw') + ' claims; verifying ' + pool.length)

// ── Verify: a grid of claims × skeptics, all under the concurrency cap ──
// A barrier on purpose: the whole pool is assembled and ranked before any vote starts.
phase('Verify')
const votes = await parallel(
  pool.map((claim, c) => () =>
    parallel(
      Array.from({ length: VOTES_PER_CLAIM }, (_, v) => () =>
        counted(
          agent(VERIFY_PROMPT(QUESTION, claim, v), { label: 'v' + v + ':' + c + ':' + claim.claim.slice(0, 40), schema: VERDICT_SCHEMA }),
        ),
      ),
    ),
  ),
)

const confirmed = []
const refuted = []
const unverified = []
pool.forEach((claim, c) => {
  const valid = (votes[c] || []).filter(Boolean)
  const against = valid.filter((v) => v.refuted)
  const tally = { for: valid.length - against.length, against: against.length, abstained: VOTES_PER_CLAIM - valid.length }
  // Abstentions never pass a claim: without a quorum of answers it stays unverified.
  if (valid.length < QUORUM) unverified.push({ ...claim, votes: tally })
  else if (against.length >= REFUTATIONS_REQUIRED) refuted.push({ ...claim, votes: tally, reasons: against.map((v) => v.reason) })
  else confirmed.push({ ...claim, votes: tally })
  log('"' + claim.claim.slice(0, 60) + '": ' + tally.for + ' for, ' + tally.against + ' against, ' + tally.abstained + ' abstained')
})

const stats = () => ({
  ...baseStats(),
  claimsVerified: pool.length,
  confirmed: confirmed.length,
  refuted: refuted.length,
  unverified: unverified.length,
  agentCalls,
  outputTokens: budget.spent(),
})
const sourceList = sources.map((s) => ({ url: s.source.url, title: s.source.title, quality: s.page.sourceQuality, angle: s.angle }))

if (confirmed.length === 0) {
  return {
    question: QUESTION,
    summary: 'No claim survived verification: every candidate was refuted or lacked a quorum of skeptics.',
    findings: [],
    refuted,
    unverified,
    sources: sourceList,
    stats: stats(),
  }
}

// ── Synthesize ──
phase('Synthesize')
const report = await counted(agent(REPORT_PROMPT(QUESTION, confirmed), { label: 'synthesize', schema: REPORT_SCHEMA }))
if (!report) {
  return {
    question: QUESTION,
    summary: 'Synthesis failed; returning the verified claims as they are.',
    findings: confirmed.map((c) => ({ finding: c.claim, sources: c.sources })),
    confirmed,
    refuted,
    unverified,
    sources: sourceList,
    stats: stats(),
  }
}

return { question: QUESTION, ...report, confirmed, refuted, unverified, sources: sourceList, stats: stats() }
