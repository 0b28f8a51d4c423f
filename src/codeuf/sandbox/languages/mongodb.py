# ruff: noqa: E501  (lines of the shell's source in JavaScript, kept as that language reads best)
"""MongoDB's shell language (`db.users.find({ age: { $gt: 30 } }).sort({ age: -1 })`, as mongosh runs a
script), run by Node with a `db` whose collections live in memory and are queried by mingo, MongoDB's query
language written in JavaScript (npm; `make install` puts it beside TypeScript). Debian has no MongoDB server:
what runs here is MongoDB's query, update and aggregation operators as mingo implements them, not MongoDB's
storage; an operator mingo lacks fails the run. Collections start empty, as SQL's tables do when the code
creates none, and every query a script makes is evaluated by the time it ends (a cursor nobody reads too).

Code labelled JavaScript that only talks to the shell's `db` (it never makes one: no driver, no `require`) is
this dialect (`javascript.dialect`), and JavaScript's tests run here for it, with `db` in place."""

from __future__ import annotations

from codeuf.sandbox.languages import javascript
from codeuf.sandbox.languages.base import Language, find_node_tool
from codeuf.sandbox.languages.javascript import SHELL_CALL

SHELL = r"""
// codeuf's MongoDB shell: argv = [node, shell.js, mingo's folder, the script]
const Module = require('module'), path = require('path'), fs = require('fs');
const mingo = require(process.argv[2]);
const pending = new Set();
let counter = 0;
class ObjectId {
  constructor(hex) { this.hex = hex ? String(hex) : (Date.now().toString(16) + (++counter).toString(16).padStart(14, '0')).slice(-24).padStart(24, '0'); }
  toString() { return this.hex; } toJSON() { return { $oid: this.hex }; } equals(o) { return String(o) === this.hex; }
  getTimestamp() { return new Date(parseInt(this.hex.slice(0, 8), 16) * 1000); }
}
class Cursor {
  constructor(compute, query, projection) { this.compute = compute; this.query = query || {}; this.projection = projection; this.steps = []; pending.add(this); }
  sort(spec) { this.steps.push(['sort', spec]); return this; }
  skip(n) { this.steps.push(['skip', n]); return this; }
  limit(n) { this.steps.push(['limit', n]); return this; }
  project(spec) { this.projection = spec; return this; }
  pretty() { return this; } batchSize() { return this; } hint() { return this; } collation() { return this; } allowDiskUse() { return this; }
  toArray() {
    pending.delete(this);
    let cursor = mingo.find(this.compute(), this.query, this.projection);
    for (const [step, value] of this.steps) cursor = cursor[step](value);
    return cursor.all();
  }
  count() { return this.toArray().length; } size() { return this.count(); } itcount() { return this.count(); }
  forEach(f) { this.toArray().forEach(f); } map(f) { return this.toArray().map(f); }
  hasNext() { return this.toArray().length > 0; } next() { return this.toArray()[0] ?? null; }
  explain() { this.toArray(); return { queryPlanner: {}, executionStats: {} }; }
  [Symbol.iterator]() { return this.toArray()[Symbol.iterator](); }
}
const matches = (docs, query) => new Set(mingo.find(docs, query || {}).all());
class Collection {
  constructor(name) { this.name = name; this.docs = []; this.indexes = []; }
  withId(doc) { return doc && doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc; }
  find(query, projection) { new mingo.Query(query || {}); return new Cursor(() => this.docs, query, projection); }
  findOne(query, projection) { return this.find(query, projection).limit(1).toArray()[0] ?? null; }
  aggregate(pipeline, options) { const stages = Array.isArray(pipeline) ? pipeline : [pipeline]; return new Cursor(() => mingo.aggregate(this.docs, stages)); }
  countDocuments(query) { return matches(this.docs, query).size; }
  count(query) { return this.countDocuments(query); }
  estimatedDocumentCount() { return this.docs.length; }
  distinct(field, query) { const seen = new Map(); for (const d of mingo.find(this.docs, query || {}).all()) { const v = field.split('.').reduce((o, k) => o == null ? o : o[k], d); if (v !== undefined) seen.set(JSON.stringify(v), v); } return [...seen.values()]; }
  insertOne(doc) { const d = this.withId(doc); this.docs.push(d); return { acknowledged: true, insertedId: d._id }; }
  insertMany(docs) { const ids = docs.map((doc) => this.insertOne(doc).insertedId); return { acknowledged: true, insertedIds: ids }; }
  insert(docs) { return Array.isArray(docs) ? this.insertMany(docs) : this.insertOne(docs); }
  save(doc) { return this.insertOne(doc); }
  modify(query, update, options, many) {
    const replacing = update && !Array.isArray(update) && !Object.keys(update).some((k) => k.startsWith('$'));
    const found = [...matches(this.docs, query)].slice(0, many ? undefined : 1);
    if (replacing) { for (const d of found) { const i = this.docs.indexOf(d); this.docs[i] = { _id: d._id, ...update }; } }
    else if (found.length) { (many ? mingo.updateMany : mingo.updateOne)(this.docs, query || {}, update); }
    if (!found.length && options && options.upsert) { const id = this.insertOne(replacing ? update : {}).insertedId; if (!replacing) mingo.updateOne(this.docs, { _id: id }, update); return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedId: id }; }
    return { acknowledged: true, matchedCount: found.length, modifiedCount: found.length };
  }
  updateOne(query, update, options) { return this.modify(query, update, options, false); }
  updateMany(query, update, options) { return this.modify(query, update, options, true); }
  update(query, update, options) { return this.modify(query, update, options, Boolean(options && options.multi)); }
  replaceOne(query, doc, options) { return this.modify(query, doc, options, false); }
  findOneAndUpdate(query, update, options) { const before = this.findOne(query); this.modify(query, update, options, false); return before; }
  findOneAndReplace(query, doc, options) { return this.findOneAndUpdate(query, doc, options); }
  findOneAndDelete(query) { const d = this.findOne(query); this.deleteOne(query); return d; }
  findAndModify(spec) { return spec.remove ? this.findOneAndDelete(spec.query) : this.findOneAndUpdate(spec.query, spec.update, spec); }
  remove(query, justOne) { return justOne ? this.deleteOne(query) : this.deleteMany(query); }
  deleteOne(query) { const d = [...matches(this.docs, query)][0]; if (d) this.docs.splice(this.docs.indexOf(d), 1); return { acknowledged: true, deletedCount: d ? 1 : 0 }; }
  deleteMany(query) { const gone = matches(this.docs, query); this.docs = this.docs.filter((d) => !gone.has(d)); return { acknowledged: true, deletedCount: gone.size }; }
  bulkWrite(ops) { for (const op of ops) { const [kind, a] = Object.entries(op)[0]; if (kind === 'insertOne') this.insertOne(a.document); else if (kind === 'deleteOne' || kind === 'deleteMany') this[kind](a.filter); else if (kind === 'replaceOne') this.replaceOne(a.filter, a.replacement, a); else this[kind](a.filter, a.update, a); } return { acknowledged: true }; }
  createIndex(keys, options) { const name = (options && options.name) || Object.entries(keys).map(([k, v]) => `${k}_${v}`).join('_'); this.indexes.push(name); return name; }
  ensureIndex(keys, options) { return this.createIndex(keys, options); }
  createIndexes(list) { return list.map((keys) => this.createIndex(keys)); }
  getIndexes() { return [{ name: '_id_', key: { _id: 1 } }, ...this.indexes.map((name) => ({ name }))]; }
  dropIndex() { return { ok: 1 }; } dropIndexes() { return { ok: 1 }; }
  drop() { this.docs = []; return true; }
  renameCollection(name) { return { ok: 1 }; }
  stats() { return { ns: this.name, count: this.docs.length }; }
}
function database(name) {
  const collections = new Map();
  const collection = (c) => { if (!collections.has(c)) collections.set(c, new Collection(c)); return collections.get(c); };
  const methods = {
    getName: () => name, getCollection: collection, createCollection: (c) => { collection(c); return { ok: 1 }; },
    getCollectionNames: () => [...collections.keys()], getSiblingDB: (n) => database(n), getMongo: () => ({ getDB: database }),
    dropDatabase: () => { collections.clear(); return { ok: 1 }; }, runCommand: () => ({ ok: 1 }), adminCommand: () => ({ ok: 1 }),
    stats: () => ({ db: name, collections: collections.size }), createView: (v) => { collection(v); return { ok: 1 }; },
  };
  return new Proxy(methods, { get: (target, key) => typeof key !== 'string' ? undefined : key in target ? target[key] : collection(key) });
}
Object.assign(global, {
  db: database('test'), ObjectId, ISODate: (s) => (s ? new Date(s) : new Date()), NumberInt: Number, NumberLong: Number,
  NumberDecimal: Number, Timestamp: () => new Date(), print: (...a) => console.log(...a),
  printjson: (o) => console.log(JSON.stringify(o, null, 2)), sleep: () => {},
});
const file = path.resolve(process.argv[3]);
const code = fs.readFileSync(file, 'utf8')
  .replace(/^[ \t]*use[ \t]+([\w-]+)[ \t]*;?[ \t]*$/gm, (_, n) => `db = db.getSiblingDB(${JSON.stringify(n)});`)
  .replace(/^[ \t]*show[ \t]+\w+[ \t]*;?[ \t]*$/gm, '');
const m = new Module(file, module); m.filename = file; m.paths = Module._nodeModulePaths(path.dirname(file));
m._compile(code, file);
for (const cursor of [...pending]) cursor.toArray();
"""

LANGUAGE = Language(
    name="mongodb", title="MongoDB (shell)", fences=("mongodb", "mongo", "mongosh"), tools=("node", "mingo"),
    install="npm install --prefix .venv/lib/codeuf-node mingo (make install does)", source="main.js",
    markers=(SHELL_CALL, r"\{\s*['\"]?\$(gt|gte|lt|lte|ne|eq|in|nin|and|or|not|regex|exists|match|group|project|sum|avg|set|unset|inc|push|lookup|unwind)['\"]?\s*:"),
    prepare=lambda code: {"main.js": code, "shell.js": SHELL},
    run=lambda tools, source: [tools["node"], "--max-old-space-size=512", "--stack-size=4000", "shell.js",
                               tools["mingo"], source],
    threads=32, address_space_bytes=1 << 40, find_tool=find_node_tool, family="javascript",
    tests_program=javascript.tests_program, calls_program=javascript.calls_program,
    assert_line=javascript.LANGUAGE.assert_line,
    assert_example="assert.strictEqual(db.users.countDocuments({ age: { $gt: 30 } }), ...);",
)  # fmt: skip
