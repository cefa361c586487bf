// Executes a parsed template with Go text/template semantics: truthiness,
// field access on maps (a missing key is "no value"; a field of nothing is
// an error, as in Helm), variables scoped to their block, range over lists
// and maps (sorted keys), with, define/template/include, and lazy and/or.
import { TemplateError, goFormat } from './gofmt.mjs';

/** Objects that behave like Go structs (.Release, .Chart): an unknown field is an error, not "no value". */
export const STRUCTS = new WeakSet();

/** Go template truth: false, 0, nil, "" and empty lists/maps are false. */
export function truthy(v) {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function typeName(v) {
  if (v === null || v === undefined) return 'interface {}';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'object') return 'map[string]interface {}';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

/** Follows `.a.b.c` from `base`; `shown` is the expression for error messages. */
function walkFields(base, fields, shown, where) {
  let cur = base;
  let path = shown;
  for (const f of fields) {
    if (cur === null || cur === undefined) {
      throw new TemplateError(`${where}: nil pointer evaluating ${typeName(cur)}.${f} (at ${path}.${f})`);
    }
    if (!isMap(cur)) throw new TemplateError(`${where}: can't evaluate field ${f} in type ${typeName(cur)} (at ${path}.${f})`);
    if (STRUCTS.has(cur) && !Object.prototype.hasOwnProperty.call(cur, f)) {
      throw new TemplateError(`${where}: can't evaluate field ${f} (${path}.${f} is not provided by render.mjs)`);
    }
    cur = Object.prototype.hasOwnProperty.call(cur, f) ? cur[f] : undefined;
    path = `${path}.${f}`;
  }
  return cur;
}

/**
 * A template runner over a set of defines and functions. `functions` maps
 * names to (args, ctx) => value; `lazy` names get their arguments as thunks.
 */
export class Runner {
  constructor(defines, functions, lazy) {
    this.defines = defines;
    this.functions = functions;
    this.lazy = lazy;
    this.depth = 0;
  }

  /** Renders nodes with `dot` as both . and $. */
  render(nodes, dot) {
    const scope = { vars: [{ name: '$', value: dot }] };
    const out = [];
    this.execList(nodes, dot, scope, out);
    return out.join('');
  }

  /** Renders a {{ define }} by name (for template and include). */
  renderDefine(name, dot, where) {
    const d = this.defines.get(name);
    if (!d) throw new TemplateError(`${where}: no template "${name}" is defined`);
    if (++this.depth > 100) throw new TemplateError(`${where}: template "${name}" nests too deeply (recursion?)`);
    try {
      return this.render(d.body, dot);
    } finally {
      this.depth--;
    }
  }

  execList(nodes, dot, scope, out) {
    for (const n of nodes) this.execNode(n, dot, scope, out);
  }

  /** Runs a block body; variables declared inside go out of scope at its end. */
  execBlock(nodes, dot, scope, out) {
    const mark = scope.vars.length;
    try {
      this.execList(nodes, dot, scope, out);
    } finally {
      scope.vars.length = mark;
    }
  }

  execNode(n, dot, scope, out) {
    switch (n.kind) {
      case 'text':
        out.push(n.value);
        return;
      case 'action': {
        const v = this.evalPipeline(n.pipe, dot, scope, n.where);
        if (n.pipe.decl.length === 0) out.push(v === null || v === undefined ? '<no value>' : goFormat(v));
        return;
      }
      case 'if':
      case 'with': {
        const mark = scope.vars.length;
        try {
          for (const b of n.branches) {
            const v = this.evalPipeline(b.pipe, dot, scope, b.where);
            if (truthy(v)) {
              this.execBlock(b.body, n.kind === 'with' ? v : dot, scope, out);
              return;
            }
          }
          if (n.elseBody) this.execBlock(n.elseBody, dot, scope, out);
        } finally {
          scope.vars.length = mark;
        }
        return;
      }
      case 'range':
        this.execRange(n, dot, scope, out);
        return;
      case 'template': {
        const data = n.pipe ? this.evalPipeline(n.pipe, dot, scope, n.where) : null;
        out.push(this.renderDefine(n.name, data, n.where));
        return;
      }
      default:
        throw new TemplateError(`internal: unknown node ${n.kind}`);
    }
  }

  execRange(n, dot, scope, out) {
    const mark = scope.vars.length;
    const { decl } = n.pipe;
    const value = this.evalPipeline({ ...n.pipe, decl: [] }, dot, scope, n.where);
    let items;
    if (value === null || value === undefined) items = [];
    else if (Array.isArray(value)) items = value.map((v, i) => [i, v]);
    else if (isMap(value)) items = Object.keys(value).sort().map((k) => [k, value[k]]);
    else throw new TemplateError(`${n.where}: range can't iterate over ${goFormat(value)}`);
    try {
      if (items.length === 0) {
        if (n.elseBody) this.execBlock(n.elseBody, dot, scope, out);
        return;
      }
      for (const [key, elem] of items) {
        const inner = scope.vars.length;
        if (decl.length === 1) scope.vars.push({ name: decl[0], value: elem });
        if (decl.length === 2) scope.vars.push({ name: decl[0], value: key }, { name: decl[1], value: elem });
        this.execBlock(n.body, elem, scope, out);
        scope.vars.length = inner;
      }
    } finally {
      scope.vars.length = mark;
    }
  }

  evalPipeline(pipe, dot, scope, where) {
    let value;
    let first = true;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(cmd, dot, scope, where, first ? [] : [value]);
      first = false;
    }
    if (pipe.decl.length === 1) {
      if (pipe.assign) {
        const slot = this.lookup(scope, pipe.decl[0], where);
        slot.value = value;
      } else {
        scope.vars.push({ name: pipe.decl[0], value });
      }
    } else if (pipe.decl.length > 1) {
      throw new TemplateError(`${where}: two variables are only allowed in range`);
    }
    return value;
  }

  lookup(scope, name, where) {
    for (let i = scope.vars.length - 1; i >= 0; i--) if (scope.vars[i].name === name) return scope.vars[i];
    throw new TemplateError(`${where}: undefined variable "${name}"`);
  }

  evalCommand(cmd, dot, scope, where, piped) {
    if (cmd.kind === 'value') {
      if (piped.length) throw new TemplateError(`${where}: can't pipe a value into a non-function`);
      return this.evalOperand(cmd.node, dot, scope, where);
    }
    const fn = this.functions.get(cmd.name);
    const ctx = { where, runner: this };
    if (this.lazy.has(cmd.name)) {
      const thunks = cmd.args.map((a) => () => this.evalOperand(a, dot, scope, where));
      for (const p of piped) thunks.push(() => p);
      return fn(thunks, ctx);
    }
    const args = cmd.args.map((a) => this.evalOperand(a, dot, scope, where));
    return fn([...args, ...piped], ctx);
  }

  evalOperand(node, dot, scope, where) {
    switch (node.kind) {
      case 'lit':
        return node.value;
      case 'field':
        return walkFields(dot, node.fields, '', where);
      case 'var': {
        const base = this.lookup(scope, node.name, where).value;
        return walkFields(base, node.fields, node.name, where);
      }
      case 'pipe':
        return this.evalPipeline(node.pipe, dot, scope, where);
      case 'chain':
        return walkFields(this.evalOperand(node.base, dot, scope, where), node.fields, '(...)', where);
      case 'ident': {
        // A function named as an argument is called without arguments (e.g. `list`).
        const fn = this.functions.get(node.name);
        if (this.lazy.has(node.name)) return fn([], { where, runner: this });
        return fn([], { where, runner: this });
      }
      default:
        throw new TemplateError(`internal: unknown operand ${node.kind}`);
    }
  }
}
