import type { Explanation } from './explain.js';
import { showValue } from './json.js';
import type { KeyResult, LinearizabilityResult } from './linearizability.js';
import { MODELS } from './linearizability.js';
import { describeOp, type Operation } from './operation.js';

/** Human-readable verdicts and explanations, as `kv-lab check` and the simulator print them. */

export function renderResult(result: LinearizabilityResult): string {
  const head = `${result.source}: ${headline(result)} (${result.opCount} operations on ${result.keyCount} keys)`;
  const lines = [head];
  for (const key of result.keys) lines.push(indent(renderKeyResult(key, result)));
  return lines.join('\n');
}

function headline(result: LinearizabilityResult): string {
  switch (result.verdict) {
    case 'ok':
      return 'linearizable';
    case 'violation':
      return 'NOT linearizable';
    case 'unknown':
      return 'unknown (the check ran out of budget before deciding)';
  }
}

export function renderKeyResult(key: KeyResult, result: LinearizabilityResult): string {
  const name = JSON.stringify(key.key);
  if (key.verdict === 'unknown') return `key ${name}: unknown — the ${key.unknownReason ?? 'step'} budget ran out`;
  if (key.verdict === 'ok') return `key ${name}: linearizable`;
  if (key.explanation === undefined) return `key ${name}: not linearizable (not explained: too many failing keys)`;
  return renderExplanation(key.explanation, MODELS[result.model].describe);
}

export function opLine(op: Operation): string {
  const lines = op.returnLine > 0 ? `lines ${op.callLine}–${op.returnLine}` : `line ${op.callLine}–(open)`;
  const time = op.callTimeNs === undefined ? '' : `  t ${op.callTimeNs}–${op.returnTimeNs ?? '…'}`;
  return `op ${op.id}  ${describeOp(op, (v) => showValue(v))}  ${lines}${time}`;
}

export function renderExplanation(e: Explanation, modelDescription: string): string {
  const name = JSON.stringify(e.key);
  const out = [
    `key ${name} is not linearizable as ${modelDescription}.`,
    e.prefixShortest
      ? `Its history is linearizable up to line ${e.failingLine - 1}; the completion at line ${e.failingLine} cannot be placed.`
      : `Its history is linearizable before line ${e.linearizableBeforeLine} and not by line ${e.failingLine}` +
        ' (the budget ran out before the shortest failing prefix was pinned down).',
    `These ${e.ops.length} operations cannot be put in any order that respects real time and the model,`,
    `even if every other operation on ${name} may or may not have taken effect` +
      (e.minimal ? ' (minimal: without any one of them the rest is linearizable):' : ' (not shown minimal: the budget ran out):'),
  ];
  for (const op of e.ops) out.push(`  ${opLine(op)}`);
  if (e.context.length > 0) {
    out.push(`Operations of unknown outcome that could matter (${e.context.length}):`);
    for (const op of e.context.slice(0, 10)) out.push(`  ${opLine(op)}`);
    if (e.context.length > 10) out.push(`  … and ${e.context.length - 10} more`);
  }
  const order = e.order.map((op) => `op ${op.id}`).join(', ');
  const state = e.stateUnobserved ? 'a value no read or cas looks at' : `state ${showValue(e.stateAfter)}`;
  out.push(`Longest order found: ${order === '' ? '(none)' : order} → ${state}`);
  if (e.stuck !== null) {
    out.push(`Stuck at op ${e.stuck.id} (${describeOp(e.stuck, (v) => showValue(v))}): it must take effect by line ` +
      `${e.stuck.returnLine}, and no order of what may come before it lets it.`);
  }
  return out.join('\n');
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}
