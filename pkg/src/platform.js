// What differs between browsers and Node.js (loading the wasm, making
// workers, counting cores), set once by the entry module: `index.js`
// (browsers, bundlers) or `node.js` (Node.js).

let current = null;

export function setPlatform(p) {
  current = p;
}

export function platform() {
  if (current === null) {
    throw new Error("fedwasm: no platform set; import 'fedwasm' itself, not a file inside it");
  }
  return current;
}
