// Checks src/'s import graph against the layers of src/ARCHITECTURE.md: no import cycle (type-only
// imports included, unlike eslint's import-x/no-cycle), and no import against the layers' direction.
// Exits 1 with one line per violation. `--graph` prints every edge; `--cycles` lists strongly
// connected components only.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.resolve(root, process.env.WEFT_LAYERS_SRC ?? 'src');

/**
 * Layers, top to bottom. A file may import files of its own layer and of the layers below it, but
 * not those its layer lists in `mayNotImport` (the front ends are peers that never import each
 * other). The first pattern that matches a file's path (relative to src/) names its layer.
 */
const LAYERS = [
  { name: 'entry', match: /^(cli\/|mcp\/|index\.ts$|worker\.ts$)/ },
  { name: 'client', match: /^client\// },
  { name: 'workflow-files', match: /^workflow-files\// },
  { name: 'front-end:yaml', match: /^agentos\//, mayNotImport: ['front-end:stratus'] },
  { name: 'front-end:stratus', match: /^stratus\// },
  { name: 'compiler', match: /^compiler\// },
  { name: 'runtime', match: /^(workflows\/|activities\/|replay\.ts$)/ },
  { name: 'services', match: /^((connection|dev-server|mock-model|storage)\/|connection-probe\.ts$)/ },
  { name: 'base', match: /^(types|errors|config|search-attributes)\.ts$/ },
];

/** Sandbox code may import only sandbox code and the base's types and search attributes. */
const SANDBOX = /^workflows\//;
const SANDBOX_MAY_IMPORT = /^(workflows\/|search-attributes\.ts$|types\.ts$)/;

function layerOf(rel) {
  const index = LAYERS.findIndex((layer) => layer.match.test(rel));
  if (index < 0) throw new Error(`src/${rel} belongs to no layer: add it to scripts/check-layers.mjs`);
  return index;
}

function allowed(fromRel, toRel) {
  const from = layerOf(fromRel);
  const to = layerOf(toRel);
  if (SANDBOX.test(fromRel) && !SANDBOX_MAY_IMPORT.test(toRel)) return false;
  if (from === to) return true;
  return to > from && !(LAYERS[from].mayNotImport ?? []).includes(LAYERS[to].name);
}

function listTs(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return listTs(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolveLocal(fromFile, spec) {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(fromFile), spec.replace(/\.js$/, ''));
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Every local module specifier a file names: imports, re-exports, import(), require(). */
function specifiersOf(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if (
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === 'require')
      ) {
        found.push(node.arguments[0].text);
      }
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = listTs(srcDir);
const rel = (file) => path.relative(srcDir, file).split(path.sep).join('/');
const edges = new Map(files.map((f) => [rel(f), new Set()]));
for (const file of files) {
  for (const spec of specifiersOf(file)) {
    const target = resolveLocal(file, spec);
    if (target && target.startsWith(srcDir)) edges.get(rel(file)).add(rel(target));
  }
}

// Tarjan's strongly connected components.
function components() {
  let index = 0;
  const stack = [];
  const meta = new Map();
  const result = [];
  const strong = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!meta.has(w)) {
        strong(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) {
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
      }
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || edges.get(v).has(v)) result.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!meta.has(v)) strong(v);
  return result;
}

const mode = process.argv[2];
if (mode === '--graph') {
  for (const [from, targets] of edges) for (const to of targets) console.log(`${from} -> ${to}`);
  process.exit(0);
}

const problems = [];
for (const component of components()) {
  problems.push(`import cycle of ${component.length} files: ${component.map((f) => `src/${f}`).join(', ')}`);
}
if (mode !== '--cycles') {
  for (const [from, targets] of edges) {
    for (const to of targets) {
      if (!allowed(from, to)) {
        problems.push(
          `src/${from} (${LAYERS[layerOf(from)].name}) imports src/${to} (${LAYERS[layerOf(to)].name}): against the layers of src/ARCHITECTURE.md`,
        );
      }
    }
  }
}
for (const line of problems) console.error(line);
if (problems.length > 0) process.exit(1);
console.log(
  `layers: ${files.length} files, ${[...edges.values()].reduce((n, s) => n + s.size, 0)} imports, no cycle, none against the layers`,
);
