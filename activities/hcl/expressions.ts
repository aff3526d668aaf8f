/**
 * A small scanner for Terraform expressions as @cdktf/hcl2json returns them: every attribute value
 * is a *template* string in which expressions sit inside `${…}` (and directives inside `%{…}`).
 *
 * Why our own scanner: hcl2json's `getReferencesInExpression` is a WASM round trip per expression
 * (tens of milliseconds each), far too slow for thousands of module calls, and it does not tell for
 * iterators apart from resource types. This scanner finds root traversals (`module.a[0].b`,
 * `aws_x.y.id`, `data.a.b.c`, `var.x`, `local.y`) with their source spans, so synthesis can replace
 * the address part of a reference (`module.a`) by a generated input variable and keep the rest
 * (`[0].b`) as written.
 */

/** One root traversal found in an expression. */
export interface ExprRef {
  /** Terraform address of the referenced object: `module.a`, `aws_x.y`, `data.t.n`, `var.v`, `local.l`. */
  address: string;
  kind: 'module' | 'resource' | 'data' | 'ephemeral' | 'var' | 'local';
  /** The first attribute after the address (and after an optional static index), e.g. a module output name. */
  attr?: string;
  /** Span of the address part inside the scanned string: [start, end). */
  start: number;
  end: number;
}

/** Root names that are never references to graph nodes or inputs. */
const NON_REFERENCE_ROOTS = new Set(['count', 'each', 'self', 'path', 'terraform']);
const KEYWORDS = new Set(['for', 'in', 'if', 'true', 'false', 'null', 'else', 'endif', 'endfor']);

const isIdentStart = (c: string | undefined): boolean => c !== undefined && /[A-Za-z_]/.test(c);
const isIdentChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_-]/.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** A `path.module` / `path.root` / `path.cwd` expression found in a template string. */
export interface PathRef {
  attr: 'module' | 'root' | 'cwd';
  /** Span of `path.<attr>` inside the scanned string: [start, end). */
  start: number;
  end: number;
}

class Scanner {
  readonly refs: ExprRef[] = [];
  readonly paths: PathRef[] = [];
  constructor(
    private readonly s: string,
    private readonly excluded: Set<string>,
  ) {}

  /** Scan template text from i until `terminator` ('"' for a quoted string, '' for end of input). */
  template(i: number, terminator: '"' | ''): number {
    const s = this.s;
    while (i < s.length) {
      const c = s[i];
      if (terminator === '"' && c === '\\') { i += 2; continue; }
      if (terminator === '"' && c === '"') return i + 1;
      if ((c === '$' || c === '%') && s[i + 1] === c && s[i + 2] === '{') { i += 3; continue; } // $${ %%{ escapes
      if ((c === '$' || c === '%') && s[i + 1] === '{') {
        if (c === '%') this.forHeader(i + 2);
        i = this.expression(i + 2, '}');
        continue;
      }
      i++;
    }
    return i;
  }

  /** Scan an expression until the closing `close` bracket at depth 0; returns the index after it. */
  expression(i: number, close: string): number {
    const s = this.s;
    const stack: string[] = [close];
    let prev = ''; // previous significant character, to tell `foo.bar` roots from `x().bar` attributes
    while (i < s.length) {
      const c = s[i]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
      if (c === '#' || (c === '/' && s[i + 1] === '/')) { while (i < s.length && s[i] !== '\n') i++; continue; }
      if (c === '/' && s[i + 1] === '*') { const e = s.indexOf('*/', i + 2); i = e < 0 ? s.length : e + 2; continue; }
      if (c === '"') { i = this.template(i + 1, '"'); prev = '"'; continue; }
      if (c === '<' && s[i + 1] === '<' && /^<<-?[A-Za-z_]/.test(s.slice(i, i + 4))) { i = this.heredoc(i); prev = '"'; continue; }
      if (c === '(' || c === '[' || c === '{') { stack.push(c === '(' ? ')' : c === '[' ? ']' : '}'); i++; prev = c; this.forHeader(i); continue; }
      if (c === ')' || c === ']' || c === '}') {
        if (stack[stack.length - 1] === c) stack.pop();
        i++;
        if (stack.length === 0) return i;
        prev = c;
        continue;
      }
      if (isDigit(c)) { while (i < s.length && /[0-9.eE]/.test(s[i]!)) i++; prev = '0'; continue; }
      if (isIdentStart(c)) {
        const start = i;
        while (isIdentChar(s[i])) i++;
        const name = s.slice(start, i);
        if (prev === '.' || (prev === ':' && s[start - 1] === ':' && s[start - 2] === ':')) { prev = 'a'; continue; }
        if (s[i] === ':' && s[i + 1] === ':') { i += 2; prev = ':'; continue; } // provider::x::fn
        let j = i;
        while (s[j] === ' ' || s[j] === '\t') j++;
        if (s[j] === '(') { prev = 'a'; continue; } // function call
        if (name === 'path' && !this.excluded.has(name)) {
          const m = /^\.(module|root|cwd)(?![A-Za-z0-9_-])/.exec(s.slice(i, i + 8));
          if (m) this.paths.push({ attr: m[1] as PathRef['attr'], start, end: i + m[0].length });
        }
        if (KEYWORDS.has(name) || NON_REFERENCE_ROOTS.has(name) || this.excluded.has(name)) { i = this.skipTraversal(i); prev = 'a'; continue; }
        i = this.traversal(start, name, i);
        prev = 'a';
        continue;
      }
      prev = c;
      i++;
    }
    return i;
  }

  /** After `[` or `{`: `for a, b in` declares iterator names, which are not references. */
  forHeader(i: number): void {
    const m = /^[\s~]*for\s+([A-Za-z_][A-Za-z0-9_-]*)\s*(?:,\s*([A-Za-z_][A-Za-z0-9_-]*)\s*)?in\b/.exec(this.s.slice(i, i + 200));
    if (m) { this.excluded.add(m[1]!); if (m[2]) this.excluded.add(m[2]); }
  }

  private heredoc(i: number): number {
    const m = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)\r?\n/.exec(this.s.slice(i, i + 200));
    if (!m) return i + 2;
    const bodyStart = i + m[0].length;
    const endRe = new RegExp(`^[ \\t]*${m[1]}[ \\t]*$`, 'm');
    const rest = this.s.slice(bodyStart);
    const e = endRe.exec(rest);
    const bodyEnd = e ? bodyStart + e.index : this.s.length;
    const sub = new Scanner(this.s.slice(0, bodyEnd), this.excluded);
    sub.template(bodyStart, '');
    this.refs.push(...sub.refs);
    this.paths.push(...sub.paths);
    return e ? bodyEnd + e[0].length : this.s.length;
  }

  /** Skip `.a.b[..]` parts after a non-reference root (each.value, count.index, …). */
  private skipTraversal(i: number): number {
    const s = this.s;
    while (s[i] === '.' && (isIdentStart(s[i + 1]) || isDigit(s[i + 1]) || s[i + 1] === '*')) {
      i++;
      while (isIdentChar(s[i]) || s[i] === '*') i++;
    }
    return i;
  }

  /** Read `name.a.b[…]` and record a reference when it addresses a node, variable or local. */
  private traversal(start: number, root: string, i: number): number {
    const s = this.s;
    const parts: string[] = [root];
    let addrEnd = i;
    const need = root === 'data' || root === 'ephemeral' ? 3 : 2;
    let attr: string | undefined;
    // Read static parts: `.ident`, `.N`, `.*`, `["k"]`, `[N]`, `[*]`.
    for (;;) {
      if (s[i] === '.' && isIdentStart(s[i + 1])) {
        let j = i + 1;
        while (isIdentChar(s[j])) j++;
        const part = s.slice(i + 1, j);
        if (parts.length < need) { parts.push(part); addrEnd = j; } else if (attr === undefined) attr = part;
        i = j;
        if (parts.length >= need && attr !== undefined) break;
        continue;
      }
      if (parts.length >= need && s[i] === '.' && (isDigit(s[i + 1]) || s[i + 1] === '*')) {
        i += 2;
        while (isDigit(s[i])) i++;
        continue;
      }
      if (parts.length >= need && attr === undefined && s[i] === '[') {
        const m = /^\[\s*(?:\*|[0-9]+|"(?:[^"\\$%]|\\.)*")\s*\]/.exec(s.slice(i, i + 300));
        if (m) { i += m[0].length; continue; }
      }
      break;
    }
    if (parts.length < need) return i; // a bare identifier (object key, iterator, …): not a reference
    const kind: ExprRef['kind'] = root === 'module' ? 'module' : root === 'data' ? 'data' : root === 'ephemeral' ? 'ephemeral' : root === 'var' ? 'var' : root === 'local' ? 'local' : 'resource';
    this.refs.push({ address: parts.join('.'), kind, attr, start, end: addrEnd });
    return i;
  }
}

/**
 * References inside a template string (an hcl2json attribute value). `excluded` holds names that
 * are local to the surrounding block (dynamic block iterators); for-expression iterators are found
 * by the scanner itself.
 */
export function findReferences(template: string, excluded: Iterable<string> = []): ExprRef[] {
  if (!template.includes('{')) return [];
  const sc = new Scanner(template, new Set(excluded));
  sc.template(0, '');
  return sc.refs;
}

/**
 * References in a bare expression (the `.tf.json` form of `depends_on`, `providers`, …, or a
 * `${…}`-wrapped one as hcl2json prints it).
 */
export function findReferencesInExpression(expr: string, excluded: Iterable<string> = []): ExprRef[] {
  const m = /^\$\{([\s\S]*)\}$/.exec(expr);
  const inner = m ? m[1]! : expr;
  const sc = new Scanner(`\${${inner}}`, new Set(excluded));
  sc.template(0, '');
  return sc.refs.map((r) => ({ ...r, start: r.start - 2, end: r.end - 2 }));
}

/** `${aws_x.y}` → `aws_x.y`; plain strings are returned as they are. */
export function unwrapExpression(v: string): string {
  const m = /^\$\{([\s\S]*)\}$/.exec(v);
  return m ? m[1]!.trim() : v;
}

/**
 * Replace `path.module`, `path.root` and `path.cwd` in a template string (a generated root runs in
 * another directory than the original). `replace(attr)` returns the new expression text, or
 * undefined to leave it as written.
 */
export function rewritePathReferences(template: string, replace: (attr: PathRef['attr']) => string | undefined, excluded: Iterable<string> = []): string {
  if (!template.includes('path.')) return template;
  const sc = new Scanner(template, new Set(excluded));
  sc.template(0, '');
  if (sc.paths.length === 0) return template;
  let out = '';
  let pos = 0;
  for (const p of [...sc.paths].sort((a, b) => a.start - b.start)) {
    const rep = replace(p.attr);
    if (rep === undefined || p.start < pos) continue;
    out += template.slice(pos, p.start) + rep;
    pos = p.end;
  }
  return out + template.slice(pos);
}

/**
 * Replace the address part of references in a template string. `replace(ref)` returns the new text
 * for the address span, or undefined to leave it as written.
 */
export function rewriteReferences(template: string, replace: (ref: ExprRef) => string | undefined, excluded: Iterable<string> = []): string {
  const refs = findReferences(template, excluded);
  if (refs.length === 0) return template;
  let out = '';
  let pos = 0;
  for (const r of [...refs].sort((a, b) => a.start - b.start)) {
    const rep = replace(r);
    if (rep === undefined || r.start < pos) continue;
    out += template.slice(pos, r.start) + rep;
    pos = r.end;
  }
  return out + template.slice(pos);
}
