// Data-driven Diameter dictionary: AVP, command, application and vendor definitions loaded from the
// JSON files in dictionaries/diameter/ (one per specification). Lookups used on the codec hot path
// ((vendor, code) → entry, name → entry) are precomputed Maps.
//
// createDictionary() is pure. loadDictionary() reads the JSON files once (synchronously, at start-up);
// a malformed file raises DiameterDictionaryError naming the file and entry, so a bad dictionary
// stops the process before a socket opens.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AVP_TYPES, T, typeIdOf, isAvpType, isSmallIntegerType, type AvpType } from './avp-types.js'
import { DiameterDictionaryError } from './errors.js'

// ---------------------------------------------------------------------------------------------
// JSON file format

export interface DictionaryAvpDef {
  name: string
  code: number
  /** 0 for IETF AVPs, 10415 for 3GPP. */
  vendorId: number
  type: AvpType
  /** Whether we set the M bit when encoding this AVP. */
  mandatory: boolean
  /** Specification section defining the AVP, e.g. "RFC 4006 §8.3". */
  source: string
  /** Named values (Enumerated, or integer AVPs with well-known values such as Result-Code). */
  values?: Record<string, number>
  note?: string
}

export interface DictionaryCommandDef {
  name: string
  code: number
  /** Short names of the request and the answer, e.g. ["CCR", "CCA"]. */
  abbrev: [string, string]
  /** Application the command belongs to (0 for base protocol commands usable by any application). */
  applicationId: number
  source: string
}

export interface DictionaryApplicationDef {
  id: number
  name: string
  source: string
}

export interface DictionaryVendorDef {
  id: number
  name: string
}

/** Adds named values to an AVP defined in another file (e.g. RFC 4006 Result-Codes). */
export interface DictionaryValueExtension {
  avp: string
  source: string
  values: Record<string, number>
}

export interface DictionaryFile {
  name: string
  description?: string
  source: string
  vendors?: DictionaryVendorDef[]
  applications?: DictionaryApplicationDef[]
  commands?: DictionaryCommandDef[]
  avps: DictionaryAvpDef[]
  valueExtensions?: DictionaryValueExtension[]
}

// ---------------------------------------------------------------------------------------------
// Runtime entries (frozen)

export interface AvpEntry {
  readonly name: string
  readonly code: number
  readonly vendorId: number
  readonly type: AvpType
  /** Index into AVP_TYPES (see T in avp-types.ts). */
  readonly typeId: number
  readonly mandatory: boolean
  readonly source: string
  /** Value name → number, when the AVP has named values. */
  readonly values: ReadonlyMap<string, number> | undefined
  /** Number → value name, when the AVP has named values. */
  readonly valueNames: ReadonlyMap<number, string> | undefined
  /** The dictionary file the entry came from. */
  readonly file: string
}

export interface CommandEntry {
  readonly name: string
  readonly code: number
  readonly requestAbbrev: string
  readonly answerAbbrev: string
  readonly applicationId: number
  readonly source: string
}

export interface ApplicationEntry {
  readonly id: number
  readonly name: string
  readonly source: string
}

const U32_MAX = 0xffffffff

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32_MAX
}

function isNonEmptyString(s: unknown): s is string {
  return typeof s === 'string' && s.trim().length > 0
}

export class Dictionary {
  /** vendor id → (code → entry). Vendor 0 also kept separately for the common case. */
  private readonly byVendor = new Map<number, Map<number, AvpEntry>>()
  private readonly ietf = new Map<number, AvpEntry>()
  private readonly byName = new Map<string, AvpEntry>()
  private readonly byLowerName = new Map<string, AvpEntry>()
  private readonly commands = new Map<number, CommandEntry>()
  private readonly commandsByName = new Map<string, CommandEntry>()
  private readonly applications = new Map<number, ApplicationEntry>()
  private readonly vendors = new Map<number, string>()
  /** Names of the files this dictionary was built from, in load order. */
  readonly files: readonly string[]

  /** Use createDictionary() or loadDictionary(). */
  constructor(files: readonly DictionaryFile[]) {
    this.vendors.set(0, 'IETF')
    const pendingValues: Array<{ file: string; ext: DictionaryValueExtension }> = []
    for (const file of files) {
      validateFileShape(file)
      const where = file.name
      for (const v of file.vendors ?? []) {
        if (!isU32(v.id) || !isNonEmptyString(v.name)) fail(where, `bad vendor ${JSON.stringify(v)}`)
        this.vendors.set(v.id, v.name)
      }
      for (const a of file.applications ?? []) {
        if (!isU32(a.id) || !isNonEmptyString(a.name) || !isNonEmptyString(a.source)) {
          fail(where, `bad application ${JSON.stringify(a)}`)
        }
        const prev = this.applications.get(a.id)
        if (prev && prev.name !== a.name) fail(where, `application ${a.id} defined twice (${prev.name}, ${a.name})`)
        this.applications.set(a.id, Object.freeze({ id: a.id, name: a.name, source: a.source }))
      }
      for (const c of file.commands ?? []) this.addCommand(where, c)
      for (const a of file.avps) this.addAvp(where, a)
      for (const ext of file.valueExtensions ?? []) pendingValues.push({ file: where, ext })
    }
    for (const { file, ext } of pendingValues) this.extendValues(file, ext)
    this.files = Object.freeze(files.map((f) => f.name))
  }

  private addCommand(where: string, c: DictionaryCommandDef): void {
    if (!isNonEmptyString(c.name) || !isU32(c.code) || c.code > 0xffffff) fail(where, `bad command ${JSON.stringify(c)}`)
    if (!Array.isArray(c.abbrev) || c.abbrev.length !== 2 || !c.abbrev.every(isNonEmptyString)) {
      fail(where, `command ${c.name}: abbrev must be [request, answer]`)
    }
    if (!isU32(c.applicationId)) fail(where, `command ${c.name}: bad applicationId`)
    if (!isNonEmptyString(c.source)) fail(where, `command ${c.name}: missing source`)
    if (this.commands.has(c.code)) fail(where, `command code ${c.code} defined twice`)
    const entry: CommandEntry = Object.freeze({
      name: c.name,
      code: c.code,
      requestAbbrev: c.abbrev[0],
      answerAbbrev: c.abbrev[1],
      applicationId: c.applicationId,
      source: c.source,
    })
    this.commands.set(c.code, entry)
    for (const key of [c.name, c.abbrev[0], c.abbrev[1]]) {
      const k = key.toLowerCase()
      if (this.commandsByName.has(k)) fail(where, `command name ${key} defined twice`)
      this.commandsByName.set(k, entry)
    }
  }

  private addAvp(where: string, a: DictionaryAvpDef): void {
    const label = `AVP ${JSON.stringify(a?.name)}`
    if (typeof a !== 'object' || a === null) fail(where, 'AVP entry is not an object')
    if (!isNonEmptyString(a.name) || /\s/.test(a.name)) fail(where, `${label}: bad name`)
    if (!isU32(a.code) || a.code === 0) fail(where, `${label}: code must be an integer 1..2^32-1`)
    if (!isU32(a.vendorId)) fail(where, `${label}: vendorId must be an integer 0..2^32-1`)
    if (!isAvpType(a.type)) fail(where, `${label}: type must be one of ${AVP_TYPES.join(', ')}`)
    if (typeof a.mandatory !== 'boolean') fail(where, `${label}: mandatory must be true or false`)
    if (!isNonEmptyString(a.source)) fail(where, `${label}: source (spec section) is required`)
    const typeId = typeIdOf(a.type)
    let values: Map<string, number> | undefined
    let valueNames: Map<number, string> | undefined
    if (a.values !== undefined) {
      if (!isSmallIntegerType(typeId)) fail(where, `${label}: values only allowed on Enumerated/Integer32/Unsigned32`)
      values = new Map()
      valueNames = new Map()
      addValues(where, label, typeId, a.values, values, valueNames)
    } else if (typeId === T.Enumerated) {
      values = new Map()
      valueNames = new Map()
    }
    let vendorMap = this.byVendor.get(a.vendorId)
    if (!vendorMap) {
      vendorMap = a.vendorId === 0 ? this.ietf : new Map()
      this.byVendor.set(a.vendorId, vendorMap)
    }
    const prev = vendorMap.get(a.code)
    if (prev) fail(where, `${label}: code ${a.code} vendor ${a.vendorId} already defined as ${prev.name} in ${prev.file}`)
    if (this.byName.has(a.name)) fail(where, `${label}: name already defined in ${this.byName.get(a.name)!.file}`)
    const lower = a.name.toLowerCase()
    if (this.byLowerName.has(lower)) fail(where, `${label}: name clashes (case-insensitively) with ${this.byLowerName.get(lower)!.name}`)
    const entry: AvpEntry = {
      name: a.name,
      code: a.code,
      vendorId: a.vendorId,
      type: a.type,
      typeId,
      mandatory: a.mandatory,
      source: a.source,
      values,
      valueNames,
      file: where,
    }
    vendorMap.set(a.code, entry)
    this.byName.set(a.name, entry)
    this.byLowerName.set(lower, entry)
  }

  private extendValues(where: string, ext: DictionaryValueExtension): void {
    const entry = this.byName.get(ext.avp)
    if (!entry) fail(where, `valueExtensions: unknown AVP ${JSON.stringify(ext.avp)}`)
    if (!isNonEmptyString(ext.source)) fail(where, `valueExtensions for ${ext.avp}: missing source`)
    if (!entry.values || !entry.valueNames) fail(where, `valueExtensions: ${ext.avp} has no named values to extend`)
    addValues(where, `valueExtensions for ${ext.avp}`, entry.typeId, ext.values, entry.values as Map<string, number>, entry.valueNames as Map<number, string>)
  }

  /** Entry for an AVP code and vendor, or undefined. */
  avp(code: number, vendorId = 0): AvpEntry | undefined {
    if (vendorId === 0) return this.ietf.get(code)
    return this.byVendor.get(vendorId)?.get(code)
  }

  /** Entry for an AVP name (exact, then case-insensitive), or undefined. */
  avpByName(name: string): AvpEntry | undefined {
    return this.byName.get(name) ?? this.byLowerName.get(name.toLowerCase())
  }

  /** Command by code. */
  command(code: number): CommandEntry | undefined {
    return this.commands.get(code)
  }

  /** Command by name or abbreviation ('Credit-Control', 'CCR', 'cca'), case-insensitive. */
  commandByName(name: string): CommandEntry | undefined {
    return this.commandsByName.get(name.toLowerCase())
  }

  application(id: number): ApplicationEntry | undefined {
    return this.applications.get(id)
  }

  vendorName(id: number): string | undefined {
    return this.vendors.get(id)
  }

  /** Number of a named value: enumValue('CC-Request-Type', 'INITIAL_REQUEST') → 1. */
  enumValue(avpName: string, valueName: string): number | undefined {
    return this.avpByName(avpName)?.values?.get(valueName)
  }

  /** Name of a value: enumName('Result-Code', 2001) → 'DIAMETER_SUCCESS'. */
  enumName(avpName: string, value: number): string | undefined {
    return this.avpByName(avpName)?.valueNames?.get(value)
  }

  /** All AVP entries (for listings and tests). */
  *allAvps(): IterableIterator<AvpEntry> {
    yield* this.byName.values()
  }

  get avpCount(): number {
    return this.byName.size
  }
}

function fail(file: string, message: string): never {
  throw new DiameterDictionaryError(`dictionary ${file}: ${message}`)
}

function addValues(
  where: string,
  label: string,
  typeId: number,
  src: Record<string, number>,
  values: Map<string, number>,
  valueNames: Map<number, string>,
): void {
  if (typeof src !== 'object' || src === null || Array.isArray(src)) fail(where, `${label}: values must be an object`)
  const unsigned = typeId === T.Unsigned32
  for (const [k, v] of Object.entries(src)) {
    const ok = Number.isInteger(v) && (unsigned ? v >= 0 && v <= U32_MAX : v >= -0x80000000 && v <= 0x7fffffff)
    if (!isNonEmptyString(k) || !ok) fail(where, `${label}: bad value ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    if (values.has(k)) fail(where, `${label}: value name ${k} defined twice`)
    if (valueNames.has(v)) fail(where, `${label}: value ${v} named twice (${valueNames.get(v)}, ${k})`)
    values.set(k, v)
    valueNames.set(v, k)
  }
}

function validateFileShape(file: DictionaryFile): void {
  if (typeof file !== 'object' || file === null) throw new DiameterDictionaryError('dictionary file is not an object')
  const where = isNonEmptyString(file.name) ? file.name : '(unnamed)'
  if (!isNonEmptyString(file.name)) fail(where, 'missing "name"')
  if (!isNonEmptyString(file.source)) fail(where, 'missing "source"')
  if (!Array.isArray(file.avps)) fail(where, '"avps" must be an array')
  for (const key of ['vendors', 'applications', 'commands', 'valueExtensions'] as const) {
    if (file[key] !== undefined && !Array.isArray(file[key])) fail(where, `"${key}" must be an array`)
  }
}

/** Build a dictionary from parsed JSON files (pure). */
export function createDictionary(files: readonly DictionaryFile[]): Dictionary {
  return new Dictionary(files)
}

/** dictionaries/diameter/ of this repository (resolves the same from src/diameter and dist/diameter). */
export const DEFAULT_DICTIONARY_DIR = fileURLToPath(new URL('../../dictionaries/diameter/', import.meta.url))

/** Read every *.json file of a directory (sorted by name) into one dictionary. Synchronous: call at start-up. */
export function loadDictionary(dir: string = DEFAULT_DICTIONARY_DIR): Dictionary {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
  } catch (err) {
    throw new DiameterDictionaryError(`cannot read dictionary directory ${dir}: ${(err as Error).message}`)
  }
  if (names.length === 0) throw new DiameterDictionaryError(`no *.json dictionary in ${dir}`)
  const files: DictionaryFile[] = names.map((n) => {
    const path = join(dir, n)
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as DictionaryFile
    } catch (err) {
      throw new DiameterDictionaryError(`dictionary ${path}: ${(err as Error).message}`)
    }
  })
  return new Dictionary(files)
}

let defaultDict: Dictionary | undefined

/** The repository's dictionaries, loaded once on first use. */
export function defaultDictionary(): Dictionary {
  defaultDict ??= loadDictionary()
  return defaultDict
}
