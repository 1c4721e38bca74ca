import type { Command } from 'commander';
import { UsageError } from './errors.js';

/**
 * `kv-lab ring`: how evenly a consistent-hash ring spreads keys and how many move when a member
 * joins or leaves, next to the optimum. Pure computation; no cluster needed.
 */

interface RingFlags {
  nodes: string;
  vnodes: string;
  keys: string;
  probes: string;
  epsilon: string;
  json?: boolean;
}

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} expects an integer from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function fraction(flag: string, text: string): number {
  const v = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(v > 0 && v <= 10)) throw new UsageError(`${flag} expects a number in (0, 10], got ${JSON.stringify(text)}`);
  return v;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export function registerRingCommand(program: Command): void {
  program
    .command('ring')
    .description('measure a consistent-hash ring: keys per node, and keys moved by a join and a leave')
    .option('--nodes <n>', 'members n1 … nN', '10')
    .option('--vnodes <n>', 'virtual nodes (tokens) per member', '256')
    .option('--keys <n>', 'keys key-0 … placed on the ring', '1000000')
    .option('--probes <n>', 'hashes per key, the closest token wins (1 = classic ring)', '3')
    .option('--epsilon <e>', 'bounded loads: no member above (1+e) × the mean', '0.05')
    .option('--json', 'print one JSON object')
    .action(async (flags: RingFlags) => {
      const nodes = integer('--nodes', flags.nodes, 1, 1000);
      const vnodes = integer('--vnodes', flags.vnodes, 1, 4096);
      const keys = integer('--keys', flags.keys, 1, 10_000_000);
      const probes = integer('--probes', flags.probes, 1, 16);
      const epsilon = fraction('--epsilon', flags.epsilon);
      if ((nodes + 1) * vnodes > 2_000_000) throw new UsageError(`--nodes × --vnodes is too large: at most 2,000,000 tokens (with the joining node), got ${((nodes + 1) * vnodes).toLocaleString('en-US')}`);
      const { measureRing } = await import('../cluster/ring/measure.js');
      const report = measureRing({ nodes, vnodes, keys, probes, epsilon });
      process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : render(report));
    });
}

type Report = ReturnType<typeof import('../cluster/ring/measure.js').measureRing>;

function render(r: Report): string {
  const o = r.options;
  const lines = [
    `ring: ${o.nodes} nodes × ${o.vnodes} vnodes, ${o.keys.toLocaleString('en-US')} keys, hash murmur3-32`,
    `  ${'placement'.padEnd(26)}${'std/mean'.padStart(9)}${'max/mean'.padStart(10)}   ${'join moved (optimal 1/(N+1))'.padEnd(32)}leave moved (optimal 1/N)`,
  ];
  for (const row of r.rows) {
    const join = `${pct(row.joinMoved)} (${pct(r.joinOptimal)}) ${(row.joinMoved / r.joinOptimal).toFixed(2)}×`;
    const leave = r.leaveOptimal > 0 ? `${pct(row.leaveMoved)} (${pct(r.leaveOptimal)}) ${(row.leaveMoved / r.leaveOptimal).toFixed(2)}×` : '-';
    lines.push(`  ${row.label.padEnd(26)}${pct(row.stdOverMean).padStart(9)}${row.maxOverMean.toFixed(3).padStart(10)}   ${join.padEnd(32)}${leave}`);
  }
  lines.push(`keys per node (${r.rows[0]!.label}):`);
  const byName = [...r.counts].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const cells = byName.map((c) => `${c.id} ${c.keys.toLocaleString('en-US')}`);
  for (let i = 0; i < cells.length; i += 5) lines.push(`  ${cells.slice(i, i + 5).map((c) => c.padEnd(18)).join('').trimEnd()}`);
  return `${lines.join('\n')}\n`;
}
