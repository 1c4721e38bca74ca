import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReport } from './html.js';
import { reportData, type ReportInput } from './model.js';

/** Writes <dir>/report.html for a finished run; returns its path. */
export function writeReport(dir: string, input: ReportInput): string {
  const path = join(dir, 'report.html');
  writeFileSync(path, renderReport(reportData(input), input.summary, input.history, input.linearizability));
  return path;
}
