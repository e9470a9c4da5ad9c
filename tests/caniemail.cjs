// Which HTML and CSS features of each email are unsupported by the mail clients we care about,
// from caniemail.com's data through @jsx-email/doiuse-email. Used by tests/test_email_clients.py.
//   node tests/caniemail.cjs < {"clients": [...globs], "files": [...paths]}
//   → {"<file>": {"errors": ["`feature` is not supported by `client`", ...], "notes": [...]}}
// doiuse-email 1.0.4 leaves Outlook.com ("outlook.outlook-com") out of its list of clients
// although its caniemail data covers it; the list is extended here before the module loads.
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");

const file = require.resolve("@jsx-email/doiuse-email");
const source = fs.readFileSync(file, "utf8");
const patched = source.replace('"outlook.android",\n', '"outlook.android",\n  "outlook.outlook-com",\n');
if (patched === source) throw new Error("doiuse-email changed: Outlook.com could not be added");
const loaded = new Module(file, module);
loaded.filename = file;
loaded.paths = Module._nodeModulePaths(path.dirname(file));
loaded._compile(patched, file);
const { doIUseEmail } = loaded.exports;

const request = JSON.parse(fs.readFileSync(0, "utf8"));
const out = {};
for (const name of request.files) {
  const result = doIUseEmail(fs.readFileSync(name, "utf8"), { emailClients: request.clients });
  out[name] = { errors: result.errors || [], notes: result.notes || [] };
}
process.stdout.write(JSON.stringify(out));
