// Parses the subset of Go text/template that the chart uses into a tree:
// text, {{ pipeline }}, if / else if / else, range (with $i, $v :=), with,
// define, template, variables, comments and the {{- / -}} trim markers.
// Anything else (block, break, continue, else with, ...) is an error naming
// the template and line.
import { TemplateError } from './gofmt.mjs';

/** Splits source into text and action tokens, applying the trim markers. */
export function lex(src, name) {
  const tokens = [];
  let pos = 0;
  let line = 1;
  const countLines = (s) => (s.match(/\n/g) ?? []).length;
  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    if (open < 0) {
      tokens.push({ type: 'text', value: src.slice(pos) });
      break;
    }
    tokens.push({ type: 'text', value: src.slice(pos, open) });
    line += countLines(src.slice(pos, open));
    const startLine = line;
    let i = open + 2;
    let trimLeft = false;
    if (src[i] === '-' && /\s/.test(src[i + 1] ?? '')) {
      trimLeft = true;
      i += 2;
    }
    const close = findClose(src, i, name, startLine);
    let bodyEnd = close;
    let trimRight = false;
    if (src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '')) {
      trimRight = true;
      bodyEnd = close - 2;
    }
    const body = src.slice(i, bodyEnd).trim();
    line += countLines(src.slice(open, close + 2));
    pos = close + 2;
    if (body.startsWith('/*')) {
      if (!body.endsWith('*/')) throw new TemplateError(`${name}:${startLine}: unclosed comment`);
      tokens.push({ type: 'comment', trimLeft, trimRight, line: startLine });
    } else {
      tokens.push({ type: 'action', body, trimLeft, trimRight, line: startLine });
    }
  }
  // Apply trim markers to the neighbouring text.
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.type === 'text') continue;
    if (t.trimLeft && tokens[k - 1]?.type === 'text') tokens[k - 1].value = tokens[k - 1].value.replace(/\s+$/, '');
    if (t.trimRight && tokens[k + 1]?.type === 'text') tokens[k + 1].value = tokens[k + 1].value.replace(/^\s+/, '');
  }
  return tokens.filter((t) => t.type !== 'comment' && !(t.type === 'text' && t.value === ''));
}

/** Index of the `}}` closing an action that starts at `from`, skipping quoted strings and comments. */
function findClose(src, from, name, line) {
  let i = from;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) break;
      i = end + 2;
      continue;
    }
    if (ch === '"' || ch === '`' || ch === "'") {
      const q = ch;
      i++;
      while (i < src.length && src[i] !== q) {
        if (src[i] === '\\' && q !== '`') i++;
        if (src[i] === '\n' && q !== '`') throw new TemplateError(`${name}:${line}: unterminated quoted string`);
        i++;
      }
      i++;
      continue;
    }
    if (ch === '}' && src[i + 1] === '}') return i;
    i++;
  }
  throw new TemplateError(`${name}:${line}: unclosed action (no matching "}}")`);
}

// ---- expressions -----------------------------------------------------------

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const FIELD_CHAIN = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/;

/** Tokens of an action body: strings, numbers, fields, variables, identifiers and punctuation. */
function lexExpr(body, where) {
  const out = [];
  let i = 0;
  while (i < body.length) {
    const rest = body.slice(i);
    const ch = body[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (rest.startsWith(':=')) {
      out.push({ t: 'declare' });
      i += 2;
      continue;
    }
    if ('()|,='.includes(ch)) {
      out.push({ t: ch === '=' ? 'assign' : ch });
      i++;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      let s = '';
      while (j < body.length && body[j] !== '"') {
        if (body[j] === '\\') {
          const e = body[j + 1];
          const map = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
          if (!(e in map)) throw new TemplateError(`${where}: escape \\${e} in a string is not supported by render.mjs`);
          s += map[e];
          j += 2;
        } else {
          s += body[j++];
        }
      }
      if (j >= body.length) throw new TemplateError(`${where}: unterminated quoted string`);
      out.push({ t: 'lit', v: s });
      i = j + 1;
      continue;
    }
    if (ch === '`') {
      const j = body.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`${where}: unterminated raw string`);
      out.push({ t: 'lit', v: body.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (ch === "'") throw new TemplateError(`${where}: character constants are not supported by render.mjs`);
    const num = /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)/.exec(rest);
    if (num && (ch !== '.' || /\d/.test(body[i + 1] ?? ''))) {
      if (/^[-+]?0[xXoObB]/.test(rest)) throw new TemplateError(`${where}: hex/octal/binary numbers are not supported by render.mjs`);
      out.push({ t: 'lit', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    if (ch === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(rest)[0];
      const chain = FIELD_CHAIN.exec(body.slice(i + m.length));
      out.push({ t: 'var', name: m, fields: chain ? chain[0].slice(1).split('.') : [] });
      i += m.length + (chain ? chain[0].length : 0);
      continue;
    }
    if (ch === '.') {
      const chain = FIELD_CHAIN.exec(rest);
      if (chain) {
        // A chain right after ")" applies to the parenthesised value.
        const prev = out[out.length - 1];
        if (prev && prev.t === ')' && !/\s/.test(body[i - 1])) {
          out.push({ t: 'chain', fields: chain[0].slice(1).split('.') });
        } else {
          out.push({ t: 'field', fields: chain[0].slice(1).split('.') });
        }
        i += chain[0].length;
      } else {
        out.push({ t: 'field', fields: [] });
        i++;
      }
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) {
      const w = id[0];
      if (w === 'true' || w === 'false') out.push({ t: 'lit', v: w === 'true' });
      else if (w === 'nil') out.push({ t: 'nil' });
      else out.push({ t: 'ident', name: w });
      i += w.length;
      continue;
    }
    throw new TemplateError(`${where}: unexpected character ${JSON.stringify(ch)} in action`);
  }
  return out;
}

/** Parses `[$a[, $b] :=|=] cmd | cmd ...` from tokens. */
function parsePipeline(tokens, where, functions) {
  let k = 0;
  const decl = [];
  let assign = false;
  // Declarations: $x := ... or $i, $v := ...
  const declEnd = tokens.findIndex((t) => t.t === 'declare' || t.t === 'assign');
  if (declEnd > 0 && tokens.slice(0, declEnd).every((t, j) => (j % 2 === 0 ? t.t === 'var' && t.fields.length === 0 : t.t === ','))) {
    for (let j = 0; j < declEnd; j += 2) decl.push(tokens[j].name);
    assign = tokens[declEnd].t === 'assign';
    if (decl.length > 2) throw new TemplateError(`${where}: too many variables in declaration`);
    k = declEnd + 1;
  }
  const body = tokens.slice(k);
  const cmds = [];
  let cur = [];
  let depth = 0;
  for (const t of body) {
    if (t.t === '(') depth++;
    if (t.t === ')') depth--;
    if (t.t === '|' && depth === 0) {
      cmds.push(cur);
      cur = [];
    } else {
      cur.push(t);
    }
  }
  cmds.push(cur);
  if (cmds.some((c) => c.length === 0)) throw new TemplateError(`${where}: missing command in pipeline`);
  return { decl, assign, cmds: cmds.map((c) => parseCommand(c, where, functions)) };
}

/** A command: a function call with arguments, or one operand. */
function parseCommand(tokens, where, functions) {
  const args = [];
  let i = 0;
  while (i < tokens.length) {
    const [node, next] = parseOperand(tokens, i, where, functions);
    args.push(node);
    i = next;
  }
  const head = args[0];
  if (head.kind === 'ident') {
    if (!functions.has(head.name)) {
      throw new TemplateError(`${where}: function "${head.name}" is not supported by render.mjs (supported: ${[...functions.keys()].sort().join(', ')})`);
    }
    return { kind: 'call', name: head.name, args: args.slice(1) };
  }
  if (args.length > 1) throw new TemplateError(`${where}: can't give an argument to a non-function`);
  return { kind: 'value', node: head };
}

function parseOperand(tokens, i, where, functions) {
  const t = tokens[i];
  switch (t.t) {
    case 'lit':
      return [{ kind: 'lit', value: t.v }, i + 1];
    case 'nil':
      return [{ kind: 'lit', value: null }, i + 1];
    case 'field':
      return [{ kind: 'field', fields: t.fields }, i + 1];
    case 'var':
      return [{ kind: 'var', name: t.name, fields: t.fields }, i + 1];
    case 'ident':
      return [{ kind: 'ident', name: t.name }, i + 1];
    case '(': {
      let depth = 0;
      let j = i;
      for (; j < tokens.length; j++) {
        if (tokens[j].t === '(') depth++;
        if (tokens[j].t === ')' && --depth === 0) break;
      }
      if (j >= tokens.length) throw new TemplateError(`${where}: unclosed parenthesis`);
      const inner = parsePipeline(tokens.slice(i + 1, j), where, functions);
      if (inner.decl.length) throw new TemplateError(`${where}: a declaration inside parentheses is not supported`);
      let node = { kind: 'pipe', pipe: inner };
      let next = j + 1;
      if (tokens[next]?.t === 'chain') {
        node = { kind: 'chain', base: node, fields: tokens[next].fields };
        next++;
      }
      return [node, next];
    }
    default:
      throw new TemplateError(`${where}: unexpected "${t.t}" in command`);
  }
}

// ---- statements ------------------------------------------------------------

const UNSUPPORTED_KEYWORDS = ['block', 'break', 'continue'];

/**
 * Parses one template file. Returns its body and adds each {{ define }} to
 * `defines` (name -> body).
 */
export function parseTemplate(src, name, defines, functions) {
  const tokens = lex(src, name);
  let k = 0;
  const where = (t) => `${name}:${t.line}`;

  // Parses nodes until one of the stop keywords; returns [nodes, stopToken, stopRest].
  function parseList(stops) {
    const nodes = [];
    while (k < tokens.length) {
      const t = tokens[k++];
      if (t.type === 'text') {
        nodes.push({ kind: 'text', value: t.value });
        continue;
      }
      const [kw, rest] = splitKeyword(t.body);
      if (stops.includes(kw)) return [nodes, kw, rest, t];
      if (UNSUPPORTED_KEYWORDS.includes(kw)) throw new TemplateError(`${where(t)}: "${kw}" is not supported by render.mjs`);
      if (kw === 'end' || kw === 'else') throw new TemplateError(`${where(t)}: unexpected {{${kw}}}`);
      if (kw === 'if' || kw === 'with') nodes.push(parseBranching(kw, rest, t));
      else if (kw === 'range') nodes.push(parseRange(rest, t));
      else if (kw === 'define') parseDefine(rest, t);
      else if (kw === 'template') nodes.push(parseTemplateCall(rest, t));
      else nodes.push({ kind: 'action', pipe: parsePipeline(lexExpr(t.body, where(t)), where(t), functions), where: where(t) });
    }
    if (stops.length) throw new TemplateError(`${name}: unexpected end of template (missing {{end}})`);
    return [nodes, null, '', null];
  }

  function parseBranching(kw, rest, t) {
    const branches = [];
    let cond = rest;
    let condTok = t;
    for (;;) {
      if (!cond) throw new TemplateError(`${where(condTok)}: missing value for ${kw}`);
      const pipe = parsePipeline(lexExpr(cond, where(condTok)), where(condTok), functions);
      const [body, stop, stopRest, stopTok] = parseList(['else', 'end']);
      branches.push({ pipe, body, where: where(condTok) });
      if (stop === 'end') return { kind: kw, branches, elseBody: null };
      const [kw2, rest2] = splitKeyword(stopRest);
      if (kw2 === kw && kw === 'if') {
        cond = rest2;
        condTok = stopTok;
        continue;
      }
      if (stopRest) throw new TemplateError(`${where(stopTok)}: "else ${stopRest}" is not supported by render.mjs (only else and else if)`);
      const [elseBody] = parseList(['end']);
      return { kind: kw, branches, elseBody };
    }
  }

  function parseRange(rest, t) {
    if (!rest) throw new TemplateError(`${where(t)}: missing value for range`);
    const pipe = parsePipeline(lexExpr(rest, where(t)), where(t), functions);
    if (pipe.assign) throw new TemplateError(`${where(t)}: range needs :=, not =`);
    const [body, stop, stopRest, stopTok] = parseList(['else', 'end']);
    let elseBody = null;
    if (stop === 'else') {
      if (stopRest) throw new TemplateError(`${where(stopTok)}: "else ${stopRest}" after range is not supported`);
      [elseBody] = parseList(['end']);
    }
    return { kind: 'range', pipe, body, elseBody, where: where(t) };
  }

  function parseDefine(rest, t) {
    const toks = lexExpr(rest, where(t));
    if (toks.length !== 1 || toks[0].t !== 'lit' || typeof toks[0].v !== 'string') {
      throw new TemplateError(`${where(t)}: define needs one quoted name`);
    }
    const [body] = parseList(['end']);
    defines.set(toks[0].v, { body, source: name });
  }

  function parseTemplateCall(rest, t) {
    const toks = lexExpr(rest, where(t));
    if (toks.length === 0 || toks[0].t !== 'lit' || typeof toks[0].v !== 'string') {
      throw new TemplateError(`${where(t)}: template needs a quoted name`);
    }
    const pipe = toks.length > 1 ? parsePipeline(toks.slice(1), where(t), functions) : null;
    return { kind: 'template', name: toks[0].v, pipe, where: where(t) };
  }

  const [nodes] = parseList([]);
  return nodes;
}

/** "if .x" -> ["if", ".x"]; a pipeline -> ["", body]. */
function splitKeyword(body) {
  const m = /^(if|else|end|range|with|define|template|block|break|continue)\b\s*/.exec(body);
  if (!m) return ['', body];
  return [m[1], body.slice(m[0].length).trim()];
}
