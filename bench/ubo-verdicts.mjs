// Verdicts of uBlock Origin's own engine (@gorhill/ubo-core) for a request
// file "url<TAB>type<TAB>page_url", one line per request: "0", "1" or "2"
// (no match, block, exception), as matchRequest() returns them.
// Usage: node ubo-verdicts.mjs REQUESTS.tsv PSL.dat LIST... > verdicts.txt
// Types are mapped like the Ghostery/uBO benchmark: document -> sub_frame,
// xhr/fetch -> xmlhttprequest, texttrack/manifest/eventsource -> other.
// UBO_PREPARSE="ublock html_filtering ..." resolves "!#if" blocks with uBO's
// own preparser and that environment first (useLists() keeps every block);
// quell's environment is "ublock html_filtering user_stylesheet ipaddress"
// (uBO on Firefox, minus env_firefox: quell is a proxy).
import fs from 'node:fs';
import { StaticNetFilteringEngine, pslInit } from '@gorhill/ubo-core';
import { utils } from '@gorhill/ubo-core/js/static-filtering-parser.js';

const [reqFile, pslFile, ...lists] = process.argv.slice(2);
const snfe = await StaticNetFilteringEngine.create({ noPSL: true });
pslInit(fs.readFileSync(pslFile, 'utf8'));
const env = process.env.UBO_PREPARSE ? process.env.UBO_PREPARSE.split(/\s+/).filter(Boolean) : null;
const load = (p) => {
  const raw = fs.readFileSync(p, 'utf8');
  return env ? utils.preparser.prune(raw, env) : raw;
};
await snfe.useLists(lists.map((p) => ({ name: p, raw: load(p) })));
const map = { document: 'sub_frame', xhr: 'xmlhttprequest', fetch: 'xmlhttprequest',
  texttrack: 'other', manifest: 'other', eventsource: 'other' };
const out = [];
for (const line of fs.readFileSync(reqFile, 'utf8').split('\n')) {
  if (line === '') continue;
  const [url, type, page] = line.split('\t');
  out.push(String(snfe.matchRequest({ originURL: page, url, type: map[type] || type })));
}
process.stdout.write(out.join('\n') + '\n');
