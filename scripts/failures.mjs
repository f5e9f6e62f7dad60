// Prints each failed test of vitest JSON reports (name, file, first lines of the error) so that the end
// of a long CI log says what failed first, not only the last failure's stack.
//   node scripts/failures.mjs test-results/unit.json test-results/browser.json
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) continue;
  const report = JSON.parse(readFileSync(file, 'utf8'));
  for (const suite of report.testResults ?? []) {
    const where = relative(process.cwd(), suite.name);
    const failed = (suite.assertionResults ?? []).filter((t) => t.status === 'failed');
    // A file that failed outside its tests (an import error, a hook) has no failed test to name.
    if (!failed.length && suite.status === 'failed') console.log(`  ${where}: ${firstLines(suite.message)}`);
    for (const t of failed) console.log(`  ${where} > ${t.fullName}\n      ${firstLines(t.failureMessages?.[0])}`);
  }
}

function firstLines(message = '') {
  // eslint-disable-next-line no-control-regex
  const plain = message.replace(/\u001b\[[0-9;]*m/g, '');
  return plain.split('\n').filter((l) => l.trim()).slice(0, 3).join('\n      ');
}
