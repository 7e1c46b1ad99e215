// RADIUS dictionaries: the FreeRADIUS `dictionary` file format read into lookup maps.
//
// Supported statements: ATTRIBUTE, VALUE, VENDOR (with format=t,l), BEGIN-VENDOR / END-VENDOR,
// $INCLUDE and $INCLUDE- (optional include). Anything else (TLVs, extended attributes, PROTOCOL,
// FLAGS...) is refused with the file and line, so a dictionary never half-loads silently.
// The parser is pure; only loadDictionary() touches the file system, once, at start-up.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RadiusDictionaryError } from './errors.js';

/** Value types of RFC 2865 section 5 / RFC 8044, named as in FreeRADIUS dictionaries. */
export type RadiusDataType =
  | 'string' // printable text, decoded as UTF-8 (RFC 8044 "text")
  | 'text'
  | 'octets' // opaque binary
  | 'integer' // 32-bit unsigned
  | 'byte' // 8-bit unsigned
  | 'short' // 16-bit unsigned
  | 'signed' // 32-bit signed
  | 'integer64' // 64-bit unsigned, decoded as bigint
  | 'date' // 32-bit seconds since the Unix epoch
  | 'ipaddr' // IPv4 address
  | 'ipv6addr' // RFC 3162 IPv6 address
  | 'ipv6prefix' // RFC 3162 reserved octet, prefix length, prefix
  | 'ifid' // RFC 3162 64-bit interface identifier
  | 'ether' // 6-octet MAC address
  | 'vsa'; // Vendor-Specific container (attribute 26)

const DATA_TYPES: ReadonlySet<string> = new Set<RadiusDataType>([
  'string', 'text', 'octets', 'integer', 'byte', 'short', 'signed', 'integer64',
  'date', 'ipaddr', 'ipv6addr', 'ipv6prefix', 'ifid', 'ether', 'vsa',
]);

/** Other spellings seen in FreeRADIUS / RFC 8044 dictionaries, mapped to what we decode them as. */
const TYPE_ALIASES: Readonly<Record<string, RadiusDataType>> = {
  uint8: 'byte',
  uint16: 'short',
  uint32: 'integer',
  uint64: 'integer64',
  int32: 'signed',
  time: 'date',
  ipv4addr: 'ipaddr',
  // Structures we keep opaque rather than interpret.
  abinary: 'octets',
  tlv: 'octets',
  ipv4prefix: 'octets',
  'combo-ip': 'octets',
};

const INTEGER_TYPES: ReadonlySet<RadiusDataType> = new Set<RadiusDataType>(['integer', 'byte', 'short', 'signed', 'integer64']);

export interface RadiusAttributeDef {
  readonly name: string;
  /** Attribute type; for a vendor attribute, the vendor's sub-attribute type. */
  readonly code: number;
  /** 0 for standard attributes, else the IANA enterprise number. */
  readonly vendorId: number;
  readonly type: RadiusDataType;
  /** From `octets[N]`: the value must be exactly N octets. */
  readonly fixedLength: number | undefined;
  /** 1 = User-Password hiding (RFC 2865 5.2), 2 = Tunnel-Password salt (RFC 2868), 3 = Ascend. */
  readonly encrypt: 0 | 1 | 2 | 3;
  /** RFC 2868 tag octet. Parsed for completeness; the codec keeps such values as they are on the wire. */
  readonly hasTag: boolean;
  /** Enumerated values: number to name (the first name defined for a number wins). */
  readonly values: ReadonlyMap<number | bigint, string>;
  /** Enumerated values: name to number. */
  readonly valuesByName: ReadonlyMap<string, number | bigint>;
}

export interface RadiusVendorDef {
  readonly name: string;
  readonly id: number;
  /** Octets of the sub-attribute type field (1, 2 or 4). */
  readonly typeSize: 1 | 2 | 4;
  /** Octets of the sub-attribute length field (0, 1 or 2); 0 means one sub-attribute fills the VSA. */
  readonly lengthSize: 0 | 1 | 2;
}

interface MutableAttributeDef {
  name: string;
  code: number;
  vendorId: number;
  type: RadiusDataType;
  fixedLength: number | undefined;
  encrypt: 0 | 1 | 2 | 3;
  hasTag: boolean;
  values: Map<number | bigint, string>;
  valuesByName: Map<string, number | bigint>;
}

/** Lookup maps built from dictionary files. Immutable once built. */
export class RadiusDictionary {
  /** Standard attributes by type: a plain array is the fastest lookup on the decode path. */
  private readonly standard: (RadiusAttributeDef | undefined)[] = new Array(256);
  private readonly vendorAttrs = new Map<number, Map<number, RadiusAttributeDef>>();
  private readonly byName = new Map<string, RadiusAttributeDef>();
  private readonly vendorsById = new Map<number, RadiusVendorDef>();
  private readonly vendorsByName = new Map<string, RadiusVendorDef>();

  /** @internal use parseDictionary() / loadDictionary(). */
  constructor(vendors: Iterable<RadiusVendorDef>, attributes: Iterable<RadiusAttributeDef>) {
    for (const v of vendors) {
      this.vendorsById.set(v.id, v);
      this.vendorsByName.set(v.name.toLowerCase(), v);
    }
    for (const a of attributes) {
      const key = a.name.toLowerCase();
      if (!this.byName.has(key)) this.byName.set(key, a);
      if (a.vendorId === 0) {
        if (this.standard[a.code] === undefined) this.standard[a.code] = a;
      } else {
        let m = this.vendorAttrs.get(a.vendorId);
        if (m === undefined) this.vendorAttrs.set(a.vendorId, (m = new Map()));
        if (!m.has(a.code)) m.set(a.code, a);
      }
    }
  }

  /** The attribute with this type (and vendor), if known. */
  attribute(code: number, vendorId = 0): RadiusAttributeDef | undefined {
    if (vendorId === 0) return this.standard[code];
    return this.vendorAttrs.get(vendorId)?.get(code);
  }

  /** The attribute with this name (case-insensitive, as in FreeRADIUS). */
  attributeByName(name: string): RadiusAttributeDef | undefined {
    return this.byName.get(name.toLowerCase());
  }

  vendor(id: number): RadiusVendorDef | undefined {
    return this.vendorsById.get(id);
  }

  vendorByName(name: string): RadiusVendorDef | undefined {
    return this.vendorsByName.get(name.toLowerCase());
  }

  /** Every attribute definition, standard ones first. */
  *attributes(): IterableIterator<RadiusAttributeDef> {
    const seen = new Set<RadiusAttributeDef>();
    for (const a of this.byName.values()) {
      if (!seen.has(a)) {
        seen.add(a);
        yield a;
      }
    }
  }

  *vendors(): IterableIterator<RadiusVendorDef> {
    yield* this.vendorsById.values();
  }
}

/** Reads one dictionary file; given the absolute path, returns its text or undefined when it does not exist. */
export type DictionaryFileReader = (path: string) => string | undefined;

const MAX_INCLUDE_DEPTH = 16;

interface ParseState {
  vendors: Map<string, RadiusVendorDef>; // by lower-case name
  vendorIds: Map<number, RadiusVendorDef>;
  attrs: MutableAttributeDef[];
  attrsByName: Map<string, MutableAttributeDef>; // lower-case name
  pendingValues: { attr: string; name: string; value: string; file: string; line: number }[];
  reader: DictionaryFileReader;
  stack: string[]; // files being read, for include loops
}

/**
 * Parses dictionary text. `file` names it in errors and anchors relative $INCLUDEs, which are read with
 * `reader` (default: none, so an $INCLUDE is an error).
 */
export function parseDictionary(
  text: string,
  opts: { file?: string; reader?: DictionaryFileReader } = {},
): RadiusDictionary {
  const state = newState(opts.reader ?? (() => undefined));
  parseText(state, text, opts.file ?? '<dictionary>', 0);
  return finish(state);
}

/**
 * Loads one or more dictionary files (each may $INCLUDE others, relative to itself), merged in order.
 * Throws RadiusDictionaryError naming the file and line of the first problem.
 */
export function loadDictionary(paths: string | readonly string[], reader: DictionaryFileReader = readFileOrUndefined): RadiusDictionary {
  const state = newState(reader);
  for (const p of typeof paths === 'string' ? [paths] : paths) {
    const abs = resolvePath(p);
    const text = reader(abs);
    if (text === undefined) throw new RadiusDictionaryError(`cannot read dictionary file`, abs);
    parseText(state, text, abs, 0);
  }
  return finish(state);
}

/** The project's dictionaries/radius/dictionary (found relative to this module in src/ and in dist/). */
export const DEFAULT_DICTIONARY_PATH = fileURLToPath(new URL('../../dictionaries/radius/dictionary', import.meta.url));

let cachedDefault: RadiusDictionary | undefined;

/** The default dictionary, loaded on first use and cached for the life of the process. */
export function defaultDictionary(): RadiusDictionary {
  if (cachedDefault === undefined) cachedDefault = loadDictionary(DEFAULT_DICTIONARY_PATH);
  return cachedDefault;
}

function readFileOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function newState(reader: DictionaryFileReader): ParseState {
  return {
    vendors: new Map(),
    vendorIds: new Map(),
    attrs: [],
    attrsByName: new Map(),
    pendingValues: [],
    reader,
    stack: [],
  };
}

function parseText(state: ParseState, text: string, file: string, depth: number): void {
  if (depth > MAX_INCLUDE_DEPTH) throw new RadiusDictionaryError(`$INCLUDE nested more than ${MAX_INCLUDE_DEPTH} deep`, file);
  if (state.stack.includes(file)) throw new RadiusDictionaryError(`$INCLUDE loop: ${[...state.stack, file].join(' -> ')}`, file);
  state.stack.push(file);
  let blockVendor: RadiusVendorDef | undefined; // inside BEGIN-VENDOR ... END-VENDOR (per file)
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (msg: string): never => {
      throw new RadiusDictionaryError(msg, file, lineNo);
    };
    const hash = lines[i].indexOf('#');
    const content = hash >= 0 ? lines[i].slice(0, hash) : lines[i];
    const tok = content.trim().split(/\s+/).filter((t) => t.length > 0);
    if (tok.length === 0) continue;
    const keyword = tok[0];
    switch (keyword) {
      case '$INCLUDE':
      case '$INCLUDE-': {
        if (tok.length !== 2) fail(`${keyword} takes one file name`);
        const target = isAbsolute(tok[1]) ? tok[1] : resolvePath(dirname(file), tok[1]);
        const included = state.reader(target);
        if (included === undefined) {
          if (keyword === '$INCLUDE-') break;
          fail(`cannot read included file ${target}`);
        }
        parseText(state, included as string, target, depth + 1);
        break;
      }
      case 'VENDOR':
        parseVendor(state, tok, fail);
        break;
      case 'BEGIN-VENDOR': {
        if (tok.length !== 2) fail('BEGIN-VENDOR takes one vendor name (vendor-specific formats are not supported)');
        if (blockVendor !== undefined) fail(`BEGIN-VENDOR ${tok[1]} inside BEGIN-VENDOR ${blockVendor.name}`);
        blockVendor = state.vendors.get(tok[1].toLowerCase());
        if (blockVendor === undefined) fail(`BEGIN-VENDOR of unknown vendor ${tok[1]}`);
        break;
      }
      case 'END-VENDOR': {
        if (tok.length !== 2) fail('END-VENDOR takes one vendor name');
        if (blockVendor === undefined || blockVendor.name.toLowerCase() !== tok[1].toLowerCase()) {
          fail(`END-VENDOR ${tok[1]} does not close ${blockVendor ? `BEGIN-VENDOR ${blockVendor.name}` : 'any BEGIN-VENDOR'}`);
        }
        blockVendor = undefined;
        break;
      }
      case 'ATTRIBUTE':
        parseAttribute(state, tok, blockVendor, fail);
        break;
      case 'VALUE':
        if (tok.length !== 4) fail('VALUE takes an attribute name, a value name and a number');
        state.pendingValues.push({ attr: tok[1], name: tok[2], value: tok[3], file, line: lineNo });
        break;
      default:
        fail(`unsupported dictionary statement ${keyword}`);
    }
  }
  if (blockVendor !== undefined) throw new RadiusDictionaryError(`BEGIN-VENDOR ${blockVendor.name} is never closed`, file);
  state.stack.pop();
}

function parseNumber(s: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return parseInt(s, 10);
  return undefined;
}

function parseVendor(state: ParseState, tok: string[], fail: (msg: string) => never): void {
  if (tok.length !== 3 && tok.length !== 4) fail('VENDOR takes a name, a number and an optional format=t,l');
  const name = tok[1];
  const id = parseNumber(tok[2]);
  if (id === undefined || id <= 0 || id > 0xffffffff) fail(`bad vendor number ${tok[2]}`);
  let typeSize: 1 | 2 | 4 = 1;
  let lengthSize: 0 | 1 | 2 = 1;
  if (tok.length === 4) {
    const m = /^format=([124]),([012])$/.exec(tok[3]);
    if (m === null) fail(`unsupported vendor option ${tok[3]} (only format=t,l with t in 1,2,4 and l in 0,1,2)`);
    typeSize = Number(m![1]) as 1 | 2 | 4;
    lengthSize = Number(m![2]) as 0 | 1 | 2;
  }
  const def: RadiusVendorDef = { name, id: id as number, typeSize, lengthSize };
  const byName = state.vendors.get(name.toLowerCase());
  if (byName !== undefined) {
    if (byName.id !== def.id || byName.typeSize !== typeSize || byName.lengthSize !== lengthSize) {
      fail(`vendor ${name} redefined differently`);
    }
    return;
  }
  const byId = state.vendorIds.get(def.id);
  if (byId !== undefined) fail(`vendor number ${def.id} already defined as ${byId.name}`);
  state.vendors.set(name.toLowerCase(), def);
  state.vendorIds.set(def.id, def);
}

function parseAttribute(
  state: ParseState,
  tok: string[],
  blockVendor: RadiusVendorDef | undefined,
  fail: (msg: string) => never,
): void {
  if (tok.length !== 4 && tok.length !== 5) fail('ATTRIBUTE takes a name, a number, a type and optional flags');
  const name = tok[1];
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(name)) fail(`bad attribute name ${name}`);
  const code = parseNumber(tok[2]);
  if (code === undefined) fail(`bad attribute number ${tok[2]} (extended and TLV attributes are not supported)`);

  let typeTok = tok[3];
  let fixedLength: number | undefined;
  const sized = /^([a-z0-9-]+)\[([0-9]+)\]$/i.exec(typeTok);
  if (sized !== null) {
    typeTok = sized[1];
    fixedLength = Number(sized[2]);
    if (typeTok !== 'octets' || fixedLength < 1 || fixedLength > 253) fail(`bad sized type ${tok[3]}`);
  }
  const type: RadiusDataType | undefined = DATA_TYPES.has(typeTok) ? (typeTok as RadiusDataType) : TYPE_ALIASES[typeTok];
  if (type === undefined) fail(`unsupported attribute type ${tok[3]}`);

  let vendor = blockVendor;
  let encrypt: 0 | 1 | 2 | 3 = 0;
  let hasTag = false;
  if (tok.length === 5) {
    const extra = tok[4];
    const asVendor = state.vendors.get(extra.toLowerCase());
    if (!extra.includes('=') && asVendor !== undefined) {
      // Old syntax: ATTRIBUTE name number type VendorName
      if (blockVendor !== undefined && blockVendor !== asVendor) fail(`vendor ${extra} inside BEGIN-VENDOR ${blockVendor.name}`);
      vendor = asVendor;
    } else {
      for (const flag of extra.split(',')) {
        const [k, v] = flag.split('=', 2);
        if (k === 'encrypt' && (v === '1' || v === '2' || v === '3')) encrypt = Number(v) as 1 | 2 | 3;
        else if (k === 'has_tag' && v === undefined) hasTag = true;
        else if ((k === 'array' || k === 'concat') && v === undefined) {
          // Multi-valued / concatenated values: each attribute instance is still decoded on its own.
        } else fail(`unsupported attribute flag ${flag}`);
      }
    }
  }
  const vendorId = vendor?.id ?? 0;
  const max = vendor === undefined ? 255 : vendor.typeSize === 1 ? 255 : vendor.typeSize === 2 ? 0xffff : 0xffffff;
  const min = vendor === undefined || vendor.typeSize === 1 ? (vendor === undefined ? 1 : 0) : 1;
  if ((code as number) < min || (code as number) > max) fail(`attribute number ${code} out of range ${min}-${max}`);
  if (type === 'vsa' && (vendorId !== 0 || code !== 26)) fail('type vsa is only for attribute 26');
  if (encrypt !== 0 && type !== 'string' && type !== 'octets' && type !== 'text') fail('encrypt= needs a string or octets attribute');

  const existing = state.attrsByName.get(name.toLowerCase());
  if (existing !== undefined) {
    if (existing.code !== code || existing.vendorId !== vendorId || existing.type !== type || existing.encrypt !== encrypt) {
      fail(`attribute ${name} redefined differently`);
    }
    return;
  }
  const def: MutableAttributeDef = {
    name,
    code: code as number,
    vendorId,
    type: type as RadiusDataType,
    fixedLength,
    encrypt,
    hasTag,
    values: new Map(),
    valuesByName: new Map(),
  };
  state.attrs.push(def);
  state.attrsByName.set(name.toLowerCase(), def);
}

function finish(state: ParseState): RadiusDictionary {
  // VALUE lines may precede their ATTRIBUTE (FreeRADIUS allows it), so they are resolved last.
  for (const pv of state.pendingValues) {
    const fail = (msg: string): never => {
      throw new RadiusDictionaryError(msg, pv.file, pv.line);
    };
    const attr = state.attrsByName.get(pv.attr.toLowerCase());
    if (attr === undefined) fail(`VALUE for unknown attribute ${pv.attr}`);
    const a = attr as MutableAttributeDef;
    if (!INTEGER_TYPES.has(a.type)) fail(`VALUE for ${a.name}, which is of type ${a.type}, not an integer type`);
    let n: number | bigint;
    if (a.type === 'integer64') {
      if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(pv.value)) fail(`bad number ${pv.value}`);
      n = BigInt(pv.value);
      if (n > 0xffffffffffffffffn) fail(`value ${pv.value} out of range for ${a.type}`);
    } else {
      const sign = a.type === 'signed' && pv.value.startsWith('-') ? -1 : 1;
      const parsed = parseNumber(sign === -1 ? pv.value.slice(1) : pv.value);
      if (parsed === undefined) fail(`bad number ${pv.value}`);
      n = sign * (parsed as number);
      const [lo, hi] = integerRange(a.type);
      if (n < lo || n > hi) fail(`value ${pv.value} out of range for ${a.type}`);
    }
    const known = a.valuesByName.get(pv.name);
    if (known !== undefined && known !== n) fail(`VALUE ${a.name} ${pv.name} redefined as ${pv.value}`);
    a.valuesByName.set(pv.name, n);
    if (!a.values.has(n)) a.values.set(n, pv.name);
  }
  return new RadiusDictionary(state.vendorIds.values(), state.attrs);
}

/** Inclusive range of a (non-64-bit) integer type. */
export function integerRange(type: RadiusDataType): [number, number] {
  switch (type) {
    case 'byte':
      return [0, 0xff];
    case 'short':
      return [0, 0xffff];
    case 'signed':
      return [-0x80000000, 0x7fffffff];
    default:
      return [0, 0xffffffff];
  }
}
