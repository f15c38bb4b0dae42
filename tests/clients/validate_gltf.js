// Khronos glTF-Validator over GLB files: prints one JSON report per file, one per line:
// {"file", "errors", "warnings", "infos", "messages": [{code, severity, pointer, message}]}.
// Usage: node validate_gltf.js FILE...
"use strict";
const fs = require("fs");
const validator = require("gltf-validator");

async function main(files) {
  for (const file of files) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 100 });
    const issues = report.issues;
    console.log(JSON.stringify({
      file,
      errors: issues.numErrors,
      warnings: issues.numWarnings,
      infos: issues.numInfos,
      messages: issues.messages.map(({ code, severity, pointer, message }) => ({ code, severity, pointer, message })),
    }));
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
