// Runs graphql-http's GraphQL-over-HTTP audit against a running server and prints every result.
//   node scripts/http-audit.mjs http://127.0.0.1:4000/graphql
// Exit 1 when a MUST fails (status "error"). SHOULD/MAY findings are printed as warn/notice.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node http-audit.mjs URL');
  process.exit(2);
}

const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
const mustFailed = [];
for (const r of results) {
  counts[r.status] = (counts[r.status] ?? 0) + 1;
  let line = `${r.status.padEnd(6)} ${r.id} ${r.name}`;
  if (r.status !== 'ok') {
    line += `\n         reason: ${r.reason}`;
    try {
      const body = await r.response.clone().text();
      line += `\n         response: ${r.response.status} ${r.response.headers.get('content-type')} ${body.slice(0, 300)}`;
    } catch {
      // body already read by the audit
      line += `\n         response: ${r.response.status} ${r.response.headers.get('content-type')}`;
    }
    if (r.status === 'error') mustFailed.push(r);
  }
  console.log(line);
}
const by = (prefix) => results.filter((r) => r.name.startsWith(prefix));
const summarize = (prefix) => {
  const rs = by(prefix);
  return `${prefix} ${rs.filter((r) => r.status === 'ok').length}/${rs.length} ok`;
};
console.log(
  `audit: ${results.length} audits, ${counts.ok} ok, ${counts.warn} warn, ${counts.notice} notice, ${counts.error} error; ` +
    ['MUST', 'SHOULD', 'MAY'].map(summarize).join(', '),
);
process.exit(mustFailed.length ? 1 : 0);
