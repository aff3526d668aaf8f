/**
 * The one HCL position locator: finds the source line of attributes, blocks and object keys in HCL
 * (and Terraform JSON) text, because `@cdktf/hcl2json` returns JSON without positions. Used for
 * policy files (validate.ts), stack.hcl (activities/hcl/stack-config.ts, the CLI) and module
 * declarations (activities/hcl/parse-module.ts). A small tolerant scanner: it understands
 * comments, strings with interpolations, heredocs and bracket nesting, which is all it needs to
 * follow the block structure. Pure: no imports.
 *
 * Keys are dotted paths. A block segment is its type, its labels and its index among siblings with
 * the same type and labels: `policy.prod_approval[0].approval[0].min_approvers`. Keys of an object
 * value (`labels = { region = "x" }`, and every key of a JSON document) are attribute segments:
 * `stack.net[0].requires[0].labels.region`, `resource.aws_s3_bucket.b.bucket`.
 */

type Tok =
  | { k: 'ident'; v: string; line: number }
  | { k: 'string'; v: string; line: number }
  | { k: 'punct'; v: string; line: number }
  | { k: 'nl'; line: number };

const HEREDOC = /<<-?([A-Za-z_][A-Za-z0-9_]*)/y;
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentPart = (c: number): boolean => isIdentStart(c) || (c >= 48 && c <= 57) || c === 45;

// Character codes compared in the scanner (it runs over every byte of large modules).
const NL = 10, CR = 13, TAB = 9, SP = 32, QUOTE = 34, HASH = 35, DOLLAR = 36, PERCENT = 37, STAR = 42,
  SLASH = 47, LT = 60, EQ = 61, GT = 62, BANG = 33, BACKSLASH = 92, LBRACE = 123, RBRACE = 125, DASH = 45;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  const at = (k: number): number => src.charCodeAt(k);

  // At the opening quote; the value without escapes, an interpolation kept as `${}`.
  const readString = (): string => {
    i++;
    let out = '';
    let from = i;
    while (i < n) {
      const c = at(i);
      if (c === BACKSLASH) {
        out += src.slice(from, i) + (src[i + 1] ?? '');
        i += 2;
        from = i;
      } else if (c === QUOTE) {
        out += src.slice(from, i);
        i++;
        return out;
      } else if ((c === DOLLAR || c === PERCENT) && at(i + 1) === LBRACE) {
        out += src.slice(from, i + 2);
        i += 2;
        skipTemplate();
        out += '}';
        from = i;
      } else {
        if (c === NL) line++; // unterminated string; keep counting lines
        i++;
      }
    }
    return out + src.slice(from, i);
  };

  // Inside ${ ... }: skip to the matching brace, honouring nested strings.
  const skipTemplate = (): void => {
    let depth = 1;
    while (i < n && depth > 0) {
      const c = at(i);
      if (c === QUOTE) {
        readString();
        continue;
      }
      if (c === LBRACE) depth++;
      else if (c === RBRACE) depth--;
      else if (c === NL) line++;
      i++;
    }
  };

  while (i < n) {
    const c = at(i);
    if (c === NL) {
      toks.push({ k: 'nl', line });
      line++;
      i++;
    } else if (c === SP || c === TAB || c === CR) {
      i++;
    } else if (c === HASH || (c === SLASH && at(i + 1) === SLASH)) {
      const end = src.indexOf('\n', i);
      i = end < 0 ? n : end;
    } else if (c === SLASH && at(i + 1) === STAR) {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end;
      for (let k = i + 2; k < stop; k++) if (at(k) === NL) line++;
      i = stop + 2;
    } else if (c === QUOTE) {
      const l = line;
      toks.push({ k: 'string', v: readString(), line: l });
    } else if (c === LT && at(i + 1) === LT && (isIdentStart(at(i + 2)) || at(i + 2) === DASH)) {
      HEREDOC.lastIndex = i;
      const m = HEREDOC.exec(src);
      if (!m) {
        toks.push({ k: 'punct', v: '<', line });
        i++;
        continue;
      }
      const l = line;
      const marker = m[1];
      i += m[0].length;
      // skip to end of line, then lines until the marker line
      while (i < n && at(i) !== NL) i++;
      while (i < n) {
        i++; // past \n
        line++;
        const end = src.indexOf('\n', i);
        const text = src.slice(i, end < 0 ? n : end);
        i = end < 0 ? n : end;
        if (text.trim() === marker) break;
      }
      toks.push({ k: 'string', v: '', line: l });
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(at(j))) j++;
      toks.push({ k: 'ident', v: src.slice(i, j), line });
      i = j;
    } else if (c === EQ && at(i + 1) === EQ) {
      toks.push({ k: 'punct', v: '==', line });
      i += 2;
    } else if ((c === BANG || c === LT || c === GT) && at(i + 1) === EQ) {
      toks.push({ k: 'punct', v: src[i] + '=', line });
      i += 2;
    } else if (c === EQ && at(i + 1) === GT) {
      toks.push({ k: 'punct', v: '=>', line });
      i += 2;
    } else {
      toks.push({ k: 'punct', v: src[i]!, line });
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
      if (t.k === 'punct' && t.v === ',' && depth === 0) return; // the next key of an object value
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

  const isPunct = (t: Tok | undefined, v: string): boolean => t !== undefined && t.k === 'punct' && t.v === v;

  const body = (prefix: string): void => {
    const counts = new Map<string, number>();
    while (p < toks.length) {
      const t = toks[p];
      if (t.k === 'nl' || isPunct(t, ',')) {
        p++;
        continue;
      }
      if (isPunct(t, '}')) {
        p++;
        return;
      }
      const next = toks[p + 1];
      if ((t.k === 'ident' || t.k === 'string') && (isPunct(next, '=') || isPunct(next, ':'))) {
        // An attribute, or a key of an object value (quoted or not).
        const key = prefix + t.v;
        if (!index.has(key)) index.set(key, t.line);
        p += 2;
        // JSON may break the line before a value; HCL may not.
        if (isPunct(next, ':')) while (toks[p]?.k === 'nl') p++;
        if (isPunct(toks[p], '{')) {
          p++;
          body(`${key}.`);
        } else skipExpression();
        continue;
      }
      if (t.k !== 'ident') {
        // not a statement start: skip the line
        p++;
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

  // A JSON document is one object: its keys are read like a body's.
  while (toks[p]?.k === 'nl') p++;
  if (isPunct(toks[p], '{')) p++;
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

/**
 * Line of a field given as path segments, the way a validator sees it (hcl2json's JSON, zod's issue
 * paths): block types, block labels, attribute and object keys, list indexes. Each segment is looked
 * for inside the one before; the most specific found wins (a missing field: its block's line).
 * `["stack", "net", "drift", "schedule"]` → the line of `schedule` in `stack "net" { drift { … } }`.
 */
export function lineAtPath(index: LineIndex, path: readonly string[]): number | undefined {
  let prefix = '';
  let line: number | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    // A list index (of a value, or of a block hcl2json made a list): no line of its own.
    if (/^\d+$/.test(seg)) continue;
    const n = /^\d+$/.test(path[i + 1] ?? '') ? Number(path[i + 1]) : 0;
    const label = path[i + 1];
    const found = [
      { key: `${prefix}${seg}`, skip: 0 },
      { key: `${prefix}${seg}[${n}]`, skip: 0 },
      ...(label !== undefined ? [{ key: `${prefix}${seg}.${label}[0]`, skip: 1 }] : []),
    ].find((c) => index.has(c.key));
    if (!found) break;
    line = index.get(found.key);
    prefix = `${found.key}.`;
    i += found.skip;
  }
  return line;
}

/**
 * The line of every declaration of a Terraform module file (`.tf` or `.tf.json`), by address:
 * `var.x`, `local.x`, `output.x`, `module.x`, `provider.x`, `aws_s3_bucket.b`, `data.t.n`,
 * `ephemeral.t.n`; the first one where an address is declared twice. One pass over the index.
 */
export function declarationLines(src: string): Map<string, number> {
  const out = new Map<string, number>();
  const name = '([^.\\[\\]]+)';
  const block = '(?:\\[\\d+\\])?';
  const forms: Array<[RegExp, (m: RegExpExecArray) => string]> = [
    [new RegExp(`^resource\\.${name}\\.${name}${block}$`), (m) => `${m[1]}.${m[2]}`],
    [new RegExp(`^(data|ephemeral)\\.${name}\\.${name}${block}$`), (m) => `${m[1]}.${m[2]}.${m[3]}`],
    [new RegExp(`^(module|output|provider)\\.${name}${block}$`), (m) => `${m[1]}.${m[2]}`],
    [new RegExp(`^variable\\.${name}${block}$`), (m) => `var.${m[1]}`],
    [new RegExp(`^locals${block}\\.${name}$`), (m) => `local.${m[1]}`],
  ];
  for (const [key, line] of indexLines(src)) {
    for (const [re, address] of forms) {
      const m = re.exec(key);
      if (!m) continue;
      const a = address(m);
      if (!out.has(a)) out.set(a, line);
      break;
    }
  }
  return out;
}
