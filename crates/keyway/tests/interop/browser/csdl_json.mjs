// Validates CSDL JSON documents against OASIS's JSON Schema for CSDL 4.01 (from OASIS's
// odata-csdl package) with ajv. Arguments: the files to check. Prints each verdict; exits 1
// when one fails.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import Ajv from 'ajv';

const require = createRequire(import.meta.url);
const schema = JSON.parse(readFileSync(require.resolve('odata-csdl/schemas/csdl.schema.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
const validate = ajv.compile(schema);
let failed = false;
for (const file of process.argv.slice(2)) {
  const document = JSON.parse(readFileSync(file, 'utf8'));
  if (validate(document)) {
    console.log(`${file}: valid CSDL JSON`);
  } else {
    failed = true;
    console.log(`${file}: ${JSON.stringify(validate.errors, null, 1)}`);
  }
}
process.exit(failed ? 1 : 0);
