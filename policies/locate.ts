/**
 * Finds the source line of attributes and blocks in HCL text, because `@cdktf/hcl2json` returns
 * JSON without positions. A small tolerant scanner: it understands comments, strings with
 * interpolations, heredocs and bracket nesting, which is all it needs to follow the block
 * structure. Pure: no imports.
 *
 * Keys are dotted paths. A block segment is its type, its labels and its index among siblings with
 * the same type and labels: `policy.prod_approval[0].approval[0].min_approvers`.
 */

type Tok =
  | { k: 'ident'; v: string; line: number }
  | { k: 'string'; v: string; line: number }
  | { k: 'punct'; v: string; line: number }
  | { k: 'nl'; line: number };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;

  const readString = (): string => {
    // at opening quote
    i++;
    let out = '';
    while (i < n) {
      const c = src[i];
      if (c === '\\') {
        out += src[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        return out;
      }
      if ((c === '$' || c === '%') && src[i + 1] === '{') {
        out += c + '{';
        i += 2;
        skipTemplate();
        out += '}';
        continue;
      }
      if (c === '\n') {
        line++; // unterminated string; keep counting lines
      }
      out += c;
      i++;
    }
    return out;
  };

  // Inside ${ ... }: skip to the matching brace, honouring nested strings.
  const skipTemplate = (): void => {
    let depth = 1;
    while (i < n && depth > 0) {
      const c = src[i];
      if (c === '"') {
        readString();
        continue;
      }
      if (c === '{') depth++;
      else if (c === '}') depth--;
      else if (c === '\n') line++;
      i++;
    }
  };

  while (i < n) {
    const c = src[i];
    if (c === '\n') {
      toks.push({ k: 'nl', line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      i += 2;
      while (i < n && !(src[i] === '*' && src[i + 1] === '/')) {
        if (src[i] === '\n') line++;
        i++;
      }
      i += 2;
    } else if (c === '"') {
      const l = line;
      toks.push({ k: 'string', v: readString(), line: l });
    } else if (c === '<' && src[i + 1] === '<' && /[-A-Za-z_]/.test(src[i + 2] ?? '')) {
      const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)/.exec(src.slice(i, i + 200));
      if (!m) {
        toks.push({ k: 'punct', v: '<', line });
        i++;
        continue;
      }
      const l = line;
      const marker = m[1];
      i += m[0].length;
      // skip to end of line, then lines until the marker line
      while (i < n && src[i] !== '\n') i++;
      while (i < n) {
        i++; // past \n
        line++;
        const end = src.indexOf('\n', i);
        const text = src.slice(i, end < 0 ? n : end);
        i = end < 0 ? n : end;
        if (text.trim() === marker) break;
      }
      toks.push({ k: 'string', v: '', line: l });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i, i + 256))!;
      toks.push({ k: 'ident', v: m[0], line });
      i += m[0].length;
    } else if (c === '=' && src[i + 1] === '=') {
      toks.push({ k: 'punct', v: '==', line });
      i += 2;
    } else if ((c === '!' || c === '<' || c === '>') && src[i + 1] === '=') {
      toks.push({ k: 'punct', v: c + '=', line });
      i += 2;
    } else if (c === '=' && src[i + 1] === '>') {
      toks.push({ k: 'punct', v: '=>', line });
      i += 2;
    } else {
      toks.push({ k: 'punct', v: c, line });
      i++;
    }
  }
  return toks;
}

/** Map from dotted path to 1-based line. */
export type LineIndex = Map<string, number>;

export function indexLines(src: string): LineIndex {
  const toks = tokenize(src);
  const index: LineIndex = new Map();
  let p = 0;

  const skipExpression = (): void => {
    let depth = 0;
    while (p < toks.length) {
      const t = toks[p];
      if (t.k === 'nl' && depth === 0) return;
      if (t.k === 'punct') {
        if (t.v === '(' || t.v === '[' || t.v === '{') depth++;
        else if (t.v === ')' || t.v === ']' || t.v === '}') {
          if (depth === 0) return; // closes the enclosing block (single-line block)
          depth--;
        }
      }
      p++;
    }
  };

  const body = (prefix: string): void => {
    const counts = new Map<string, number>();
    while (p < toks.length) {
      const t = toks[p];
      if (t.k === 'nl' || (t.k === 'punct' && t.v === ',')) {
        p++;
        continue;
      }
      if (t.k === 'punct' && t.v === '}') {
        p++;
        return;
      }
      if (t.k !== 'ident') {
        // not a statement start: skip the line
        p++;
        skipExpression();
        continue;
      }
      const next = toks[p + 1];
      if (next && next.k === 'punct' && (next.v === '=' || next.v === ':')) {
        const key = prefix + t.v;
        if (!index.has(key)) index.set(key, t.line);
        p += 2;
        skipExpression();
        continue;
      }
      // block: ident labels* {
      const labels: string[] = [];
      let q = p + 1;
      while (q < toks.length && (toks[q].k === 'string' || toks[q].k === 'ident')) {
        labels.push((toks[q] as { v: string }).v);
        q++;
      }
      const open = toks[q];
      if (open && open.k === 'punct' && open.v === '{') {
        const base = [t.v, ...labels].join('.');
        const idx = counts.get(base) ?? 0;
        counts.set(base, idx + 1);
        const key = `${prefix}${base}[${idx}]`;
        index.set(key, t.line);
        p = q + 1;
        body(key + '.');
        continue;
      }
      p++;
      skipExpression();
    }
  };

  body('');
  return index;
}

/**
 * Line of the most specific known ancestor of `path` (a dotted key as produced by `indexLines`).
 * E.g. a missing `min_approvers` falls back to the line of its `approval` block.
 */
export function lineOf(index: LineIndex, path: string): number | undefined {
  let p = path;
  for (;;) {
    const hit = index.get(p);
    if (hit !== undefined) return hit;
    // a labelled block addressed without its labels/index (e.g. "rule" for `rule "x" { }`)
    let first: number | undefined;
    for (const [k, line] of index) {
      if ((k.startsWith(`${p}.`) || k.startsWith(`${p}[`)) && (first === undefined || line < first)) first = line;
    }
    if (first !== undefined) return first;
    // drop a trailing list index (allowed_hours[1] -> allowed_hours) or the last segment
    const m = /^(.*)\[\d+\]$/.exec(p);
    if (m && !index.has(p) && index.has(m[1])) return index.get(m[1]);
    const dot = p.lastIndexOf('.');
    if (dot < 0) return undefined;
    p = p.slice(0, dot);
  }
}
