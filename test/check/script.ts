/**
 * Histories written as scripts, one event per line: `p<process> <type> <f> [value] [@key]`.
 * The completion of a write, cas, delete or append echoes its invoke's value when none is given;
 * a read's completion gives what was read. Key "x" unless `@key`. Example:
 *   p1 invoke write 1
 *   p2 invoke read
 *   p1 ok write
 *   p2 ok read 1
 */
import type { EventType, HistoryEvent, Json, OpFunction } from '../../src/check/history.js';

export function script(text: string): HistoryEvent[] {
  const open = new Map<number, Json>();
  const events: HistoryEvent[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^p(\d+)\s+(invoke|ok|fail|info)\s+(\w+)\s*(.*?)\s*(?:@(\S+))?$/.exec(line);
    if (m === null) throw new Error(`bad script line: ${line}`);
    const process = Number(m[1]);
    const type = m[2] as EventType;
    const f = m[3] as OpFunction;
    const key = m[5] ?? 'x';
    let value: Json = m[4] === '' ? null : (JSON.parse(m[4] as string) as Json);
    if (type === 'invoke') open.set(process, value);
    else if (m[4] === '' && f !== 'read') value = open.get(process) ?? null;
    events.push({ process, type, f, key, value });
  }
  return events;
}
