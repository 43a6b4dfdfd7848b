// Writes a zip with Node's yazl, as "zip on the fly" services do: every file from a stream of
// unknown size (data descriptors), deflated and stored alternately.
// usage: WYVERN_CORPUS_YAZL=<path to the yazl package> node yazl.js OUT.zip FOLDER
const fs = require("fs");
const path = require("path");
const yazl = require(process.env.WYVERN_CORPUS_YAZL);

const [out, root] = process.argv.slice(2);
const zip = new yazl.ZipFile();
let n = 0;
function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      zip.addEmptyDirectory(full);
      walk(full);
    } else {
      zip.addReadStream(fs.createReadStream(full), full, { compress: n++ % 2 === 0 });
    }
  }
}
walk(root);
zip.outputStream.pipe(fs.createWriteStream(out));
zip.end();
