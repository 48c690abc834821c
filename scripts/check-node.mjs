// Plain JavaScript on purpose: it must run, and explain, on the Node that cannot run the .ts scripts.
// npm scripts use the Node that `npm ci` installs into node_modules/.bin (the `node` devDependency);
// when that install step was skipped they silently fall back to the system Node.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `StreamForge Edge needs Node >= 22.18 to run its scripts, wrangler and the tests; this is Node ${process.versions.node}.\n` +
      "Run through npm (npm run dev, npm test), which uses node_modules/.bin/node. If that Node is missing, " +
      "`npm ci` ran without install scripts: run `npm ci` again with scripts enabled.",
  );
  process.exit(1);
}
