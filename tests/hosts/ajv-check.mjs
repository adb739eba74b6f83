// Compiles every tool input schema with Ajv in strict mode (tests/real_hosts.rs).
// stdin: a JSON array of MCP tools ({name, inputSchema}); exits 1 if any fails.
import Ajv from 'ajv';
import fs from 'node:fs';

const tools = JSON.parse(fs.readFileSync(0, 'utf8'));
let failed = 0;
for (const tool of tools) {
  const ajv = new Ajv({ strict: true, allErrors: true, strictTypes: true, strictTuples: true, strictRequired: true });
  try {
    ajv.compile(tool.inputSchema);
    console.log(`ok ${tool.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${tool.name}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
