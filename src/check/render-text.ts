import type { Explanation } from './explain.js';
import { showValue } from './json.js';
import type { KeyResult, LinearizabilityResult } from './linearizability.js';
import { MODELS } from './linearizability.js';
import { describeOp, type Operation } from './operation.js';

/** Human-readable verdicts and explanations, as `kv-lab check` and the simulator print them. */

export function renderResult(result: LinearizabilityResult): string {
  const lines = [renderVerdict(result)];
  for (const key of result.keys) lines.push(indent(renderKeyResult(key, result)));
  const note = explainingNote(result);
  if (note !== '') lines.push(indent(note));
  return lines.join('\n');
}

/** The verdict's line alone: what `kv-lab check` prints before any explanation is ready. */
export function renderVerdict(result: Pick<LinearizabilityResult, 'source' | 'verdict' | 'opCount' | 'keyCount'>): string {
  return `${result.source}: ${headline(result.verdict)} (${result.opCount} operations on ${result.keyCount} ${result.keyCount === 1 ? 'key' : 'keys'})`;
}

function headline(verdict: LinearizabilityResult['verdict']): string {
  switch (verdict) {
    case 'ok':
      return 'linearizable';
    case 'violation':
      return 'NOT linearizable';
    case 'unknown':
      return 'unknown (the check ran out of budget before deciding)';
  }
}

const UNEXPLAINED: Readonly<Record<NonNullable<KeyResult['unexplained']>, string>> = {
  'keys-max': 'too many failing keys',
  budget: 'the explaining budget ran out',
  off: 'explanations are off',
};

export function renderKeyResult(key: KeyResult, result: LinearizabilityResult): string {
  const name = JSON.stringify(key.key);
  if (key.verdict === 'unknown' && key.unknownReason === 'skipped') {
    return `key ${name}: not decided — another key already decided the verdict, and explaining stopped before this one`;
  }
  if (key.verdict === 'unknown') return `key ${name}: unknown — the ${key.unknownReason ?? 'step'} budget ran out`;
  if (key.verdict === 'ok') return `key ${name}: linearizable`;
  if (key.explanation === undefined) return `key ${name}: not linearizable (not explained: ${UNEXPLAINED[key.unexplained ?? 'keys-max']})`;
  return renderExplanation(key.explanation, MODELS[result.model].describe);
}

/** When explaining stopped before the end of what it meant to do, say so. */
function explainingNote(result: LinearizabilityResult): string {
  const e = result.explaining;
  if (e === null || !e.stoppedEarly) return '';
  return `(explaining stopped early, after ${e.steps} of its ${e.stepsMax} steps or at its time limit; the verdict does not depend on it — ` +
    'kv-lab check --explain-budget raises it)';
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
