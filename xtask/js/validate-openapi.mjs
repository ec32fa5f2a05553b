// Validates an OpenAPI document against the OpenAPI 3.1 schema (the document's own
// `openapi` version decides), so the published contract is one any OpenAPI tool can read.
// Usage: node xtask/js/validate-openapi.mjs docs/portal-api.openapi.json
import { readFile } from "node:fs/promises";
import { Validator } from "@seriousme/openapi-schema-validator";

const path = process.argv[2];
if (!path) {
  console.error("usage: validate-openapi.mjs <document.json>");
  process.exit(2);
}
const document = JSON.parse(await readFile(path, "utf8"));
const validator = new Validator();
const result = await validator.validate(document);
if (!result.valid) {
  console.error(`${path} is not a valid OpenAPI ${validator.version} document:`);
  console.error(JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
const operations = Object.values(document.paths ?? {}).flatMap((item) => Object.keys(item));
console.error(
  `${path}: valid OpenAPI ${validator.version}, ${operations.length} operations, ${Object.keys(document.components?.schemas ?? {}).length} schemas`,
);
