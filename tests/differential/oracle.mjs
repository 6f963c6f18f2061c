// oracle.mjs -- the independent evaluator of the differential test
// (README.md): @cloud-copilot/iam-simulate, installed at test time into a
// directory outside the source tree (its path in NODE_PATH is not used by
// ES modules, so run.py passes it as the first argument).  One simulation
// per input line (JSON, iam-simulate's Simulation), one answer per output
// line: {"decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"|"error", "why"}.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

const modules = process.argv[2]
const entry = path.join(modules, '@cloud-copilot', 'iam-simulate', 'dist', 'esm', 'index.js')
const { runSimulation } = await import(pathToFileURL(entry).href)

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (!line.trim()) continue
  let out
  try {
    const r = await runSimulation(JSON.parse(line), {})
    if (r.resultType === 'error') {
      out = { decision: 'error', why: JSON.stringify(r.errors).slice(0, 2000) }
    } else {
      out = { decision: r.overallResult, why: '' }
    }
  } catch (e) {
    out = { decision: 'error', why: String(e).slice(0, 2000) }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}
