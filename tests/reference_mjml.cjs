// Compile MJML files with the reference implementation (npm mjml), in one process.
// Usage: node tests/reference_mjml.cjs IN.mjml OUT.html [IN.mjml OUT.html ...]
const fs = require("fs");
const mjml2html = require("mjml");

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const result = mjml2html(fs.readFileSync(args[i], "utf8"), { validationLevel: "soft" });
  for (const error of result.errors) {
    process.stderr.write(`${args[i]}:${error.line}: ${error.message}\n`);
  }
  fs.writeFileSync(args[i + 1], result.html);
}
