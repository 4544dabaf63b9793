// Runs the Argo CD health checks in config/argocd/health/<Kind>.lua against the
// fixtures in config/argocd/health/testdata/<Kind>-<case>.yaml, the way Argo CD
// does: the object is the global `obj`, the script returns {status, message}.
// Each fixture states its expected result in the annotations
// test.shoal.dev/expected-health-status and test.shoal.dev/expected-health-message.
//
// Argo CD runs gopher-lua (Lua 5.1); fengari is Lua 5.3. The scripts must stay in
// the common subset, so the 5.2+ library additions are removed from the VM and the
// sources are checked for 5.2+ syntax.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

type LuaState = object;
type LuaString = Uint8Array;

interface Fengari {
  to_luastring(s: string): LuaString;
  lua: {
    LUA_OK: number;
    LUA_TTABLE: number;
    LUA_TSTRING: number;
    LUA_TNIL: number;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_pushstring(L: LuaState, s: LuaString): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushnil(L: LuaState): void;
    lua_setfield(L: LuaState, idx: number, k: LuaString): void;
    lua_rawseti(L: LuaState, idx: number, n: number): void;
    lua_setglobal(L: LuaState, name: LuaString): void;
    lua_getglobal(L: LuaState, name: LuaString): number;
    lua_getfield(L: LuaState, idx: number, k: LuaString): number;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_type(L: LuaState, idx: number): number;
    lua_tojsstring(L: LuaState, idx: number): string | null;
    lua_pop(L: LuaState, n: number): void;
  };
  lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadbuffer(L: LuaState, buf: LuaString, size: number | null, name: LuaString): number;
  };
  lualib: { luaL_openlibs(L: LuaState): void };
}

const fengari = createRequire(import.meta.url)('fengari') as Fengari;
const { lua, lauxlib, lualib, to_luastring: ls } = fengari;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argocdDir = join(repo, 'config/argocd');
const healthDir = join(argocdDir, 'health');
const testdataDir = join(healthDir, 'testdata');

const KINDS = ['Workload', 'Node', 'MirrorPolicy', 'MeshRoute'] as const;
// Argo CD's Lua cannot import, so kinds judged the same way share one file.
const SCRIPT_FILE: Record<(typeof KINDS)[number], string> = { Workload: 'Workload.lua', Node: 'ready.lua', MirrorPolicy: 'ready.lua', MeshRoute: 'ready.lua' };
const STATUSES = new Set(['Healthy', 'Progressing', 'Degraded', 'Suspended']);
const EXPECTED_STATUS = 'test.shoal.dev/expected-health-status';
const EXPECTED_MESSAGE = 'test.shoal.dev/expected-health-message';

interface HealthStatus {
  status: string;
  message: string;
}

// Pushes a JSON-like value the way Argo CD hands objects to gopher-lua: maps become
// tables with string keys, lists become 1-based sequences, null becomes nil.
function push(L: LuaState, value: unknown): void {
  if (value === null || value === undefined) {
    lua.lua_pushnil(L);
  } else if (typeof value === 'string') {
    lua.lua_pushstring(L, ls(value));
  } else if (typeof value === 'number') {
    if (Number.isInteger(value)) lua.lua_pushinteger(L, value);
    else lua.lua_pushnumber(L, value);
  } else if (typeof value === 'boolean') {
    lua.lua_pushboolean(L, value);
  } else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item, i) => {
      push(L, item);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else if (typeof value === 'object') {
    const entries = Object.entries(value);
    lua.lua_createtable(L, 0, entries.length);
    for (const [k, v] of entries) {
      if (v === null || v === undefined) continue;
      push(L, v);
      lua.lua_setfield(L, -2, ls(k));
    }
  } else {
    throw new Error(`cannot hand ${typeof value} to Lua`);
  }
}

// Library functions Lua 5.1 (gopher-lua) lacks; a script calling them would fail in Argo CD.
const LUA52_PLUS = [
  'utf8 = nil',
  'table.unpack = nil',
  'table.pack = nil',
  'table.move = nil',
  'math.type = nil',
  'math.tointeger = nil',
  'math.ult = nil',
  'string.pack = nil',
  'string.unpack = nil',
  'string.packsize = nil',
].join('\n');

function luaDo(L: LuaState, source: string, name: string, nresults: number): void {
  const buf = ls(source);
  if (lauxlib.luaL_loadbuffer(L, buf, null, ls(`=${name}`)) !== lua.LUA_OK) {
    throw new Error(`${name}: ${lua.lua_tojsstring(L, -1)}`);
  }
  if (lua.lua_pcall(L, 0, nresults, 0) !== lua.LUA_OK) {
    throw new Error(`${name}: ${lua.lua_tojsstring(L, -1)}`);
  }
}

function stringField(L: LuaState, key: string): string | undefined {
  const t = lua.lua_getfield(L, -1, ls(key));
  const v = t === lua.LUA_TSTRING ? (lua.lua_tojsstring(L, -1) ?? undefined) : undefined;
  lua.lua_pop(L, 1);
  return v;
}

/** Runs one health script against one object, as Argo CD does. */
function runHealthScript(script: string, name: string, obj: unknown): HealthStatus {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  luaDo(L, LUA52_PLUS, 'lua51-subset', 0);
  push(L, obj);
  lua.lua_setglobal(L, ls('obj'));
  luaDo(L, script, name, 1);
  assert.equal(lua.lua_type(L, -1), lua.LUA_TTABLE, `${name} must return a table`);
  const status = stringField(L, 'status');
  const message = stringField(L, 'message');
  assert.ok(status !== undefined, `${name} returned no status`);
  return { status, message: message ?? '' };
}

// Lua 5.2+ syntax that gopher-lua rejects: goto and labels, integer division,
// bitwise operators. Comments and string literals are blanked out first.
function lua52Syntax(source: string): string[] {
  const code = source
    .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, ' ')
    .replace(/--[^\n]*/g, ' ')
    .replace(/\[(=*)\[[\s\S]*?\]\1\]/g, '""')
    .replace(/"(?:\\.|[^"\\\n])*"/g, '""')
    .replace(/'(?:\\.|[^'\\\n])*'/g, "''");
  const rules: [RegExp, string][] = [
    [/\bgoto\b/, 'goto'],
    [/::\w+::/, 'label'],
    [/\/\//, 'integer division //'],
    [/[&|]/, 'bitwise and/or'],
    [/<<|>>/, 'bit shift'],
    [/~(?!=)/, 'bitwise not/xor'],
  ];
  return rules.filter(([re]) => re.test(code)).map(([, what]) => what);
}

interface Fixture {
  file: string;
  kind: string;
  obj: Record<string, unknown>;
  expected: HealthStatus;
}

function loadFixtures(): Fixture[] {
  return readdirSync(testdataDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const obj = parse(readFileSync(join(testdataDir, file), 'utf8')) as Record<string, unknown>;
      const meta = (obj.metadata ?? {}) as { annotations?: Record<string, string> };
      const status = meta.annotations?.[EXPECTED_STATUS];
      const message = meta.annotations?.[EXPECTED_MESSAGE];
      assert.ok(status !== undefined && message !== undefined, `${file}: missing ${EXPECTED_STATUS}/${EXPECTED_MESSAGE}`);
      return { file, kind: String(obj.kind), obj, expected: { status, message } };
    });
}

function findKubectl(): string | undefined {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  const cache = join(process.env.SHOAL_CACHE ?? join(homedir(), '.cache/shoal'), 'bin');
  if (!existsSync(cache)) return undefined;
  const candidates = readdirSync(cache)
    .filter((d) => /^v\d/.test(d))
    .sort()
    .reverse()
    .map((d) => join(cache, d, 'kubectl'));
  return candidates.find((p) => existsSync(p));
}

describe('Argo CD health checks (config/argocd/health)', () => {
  const fixtures = loadFixtures();
  const scripts = new Map(KINDS.map((k) => [k, readFileSync(join(healthDir, SCRIPT_FILE[k]), 'utf8')] as const));

  it('ships exactly the scripts the kinds map to', () => {
    const lua = readdirSync(healthDir).filter((f) => f.endsWith('.lua')).sort();
    assert.deepEqual(lua, [...new Set(Object.values(SCRIPT_FILE))].sort());
  });

  it('has fixtures for every kind, each for a known kind and a valid status', () => {
    for (const kind of KINDS) {
      const mine = fixtures.filter((f) => f.kind === kind);
      assert.ok(mine.length >= 3, `${kind}: want at least 3 fixtures, have ${mine.length}`);
      for (const status of ['Healthy', 'Progressing', 'Degraded']) {
        assert.ok(mine.some((f) => f.expected.status === status), `${kind}: no fixture expecting ${status}`);
      }
    }
    for (const f of fixtures) {
      assert.ok((KINDS as readonly string[]).includes(f.kind), `${f.file}: unknown kind ${f.kind}`);
      assert.ok(f.file.startsWith(`${f.kind}-`), `${f.file}: name it ${f.kind}-<case>.yaml`);
      assert.equal(f.obj.apiVersion, 'shoal.dev/v1alpha1', `${f.file}: apiVersion`);
      assert.ok(STATUSES.has(f.expected.status), `${f.file}: bad expected status ${f.expected.status}`);
    }
  });

  for (const kind of KINDS) {
    it(`${kind}.lua uses only Lua 5.1 syntax`, () => {
      assert.deepEqual(lua52Syntax(scripts.get(kind) ?? ''), [], `${kind}.lua`);
    });
  }

  for (const f of fixtures) {
    it(`${f.file} → ${f.expected.status}: ${f.expected.message}`, () => {
      const script = scripts.get(f.kind as (typeof KINDS)[number]);
      assert.ok(script !== undefined, `no script for ${f.kind}`);
      assert.deepEqual(runHealthScript(script, SCRIPT_FILE[f.kind as (typeof KINDS)[number]], f.obj), f.expected);
    });
  }

  it('treats a stale observedGeneration as Progressing whatever the conditions say', () => {
    for (const kind of KINDS) {
      const obj = {
        apiVersion: 'shoal.dev/v1alpha1',
        kind,
        metadata: { name: 'x', generation: 7 },
        status: {
          observedGeneration: 6,
          phase: 'Failed',
          conditions: [{ type: 'Ready', status: 'False', reason: 'Broken', message: 'broken' }],
        },
      };
      assert.deepEqual(runHealthScript(scripts.get(kind) ?? '', kind, obj), {
        status: 'Progressing',
        message: 'Waiting for controller',
      });
    }
  });

  it('the Lua 5.1 syntax check catches 5.2+ constructs', () => {
    assert.deepEqual(lua52Syntax('local a = 7 // 2 -- a // comment'), ['integer division //']);
    assert.deepEqual(lua52Syntax('goto done\n::done::'), ['goto', 'label']);
    assert.deepEqual(lua52Syntax('local s = "a // b ~ c" if a ~= b then end'), []);
    assert.throws(() => runHealthScript('return { status = table.unpack({"Healthy"}) }', 'x', {}), /unpack/);
  });

  describe('config/argocd kustomization', () => {
    const kustomization = parse(readFileSync(join(argocdDir, 'kustomization.yaml'), 'utf8')) as {
      kind: string;
      generatorOptions?: { disableNameSuffixHash?: boolean };
      configMapGenerator?: { name: string; behavior?: string; files?: string[] }[];
    };

    it('merges every script into argocd-cm under resource.customizations.health.shoal.dev_<Kind>', () => {
      assert.equal(kustomization.kind, 'Component');
      assert.equal(kustomization.generatorOptions?.disableNameSuffixHash, true);
      const gens = kustomization.configMapGenerator ?? [];
      assert.equal(gens.length, 1);
      assert.equal(gens[0]?.name, 'argocd-cm');
      assert.equal(gens[0]?.behavior, 'merge');
      assert.deepEqual(
        [...(gens[0]?.files ?? [])].sort(),
        KINDS.map((k) => `resource.customizations.health.shoal.dev_${k}=health/${SCRIPT_FILE[k]}`).sort(),
      );
    });

    it('renders with kubectl kustomize into an Argo CD install, byte for byte', function () {
      const kubectl = findKubectl();
      if (kubectl === undefined) this.skip();
      this.timeout(30_000);
      const dir = mkdtempSync(join(tmpdir(), 'shoal-argocd-'));
      try {
        writeFileSync(
          join(dir, 'install.yaml'),
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n  url: https://argocd.example.com\n',
        );
        writeFileSync(
          join(dir, 'kustomization.yaml'),
          [
            'apiVersion: kustomize.config.k8s.io/v1beta1',
            'kind: Kustomization',
            'namespace: argocd',
            'resources: [install.yaml]',
            `components: [${JSON.stringify(relative(dir, argocdDir))}]`,
            '',
          ].join('\n'),
        );
        const out = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' });
        const docs = parseAllDocuments(out).map((d) => d.toJS() as Record<string, unknown>);
        assert.equal(docs.length, 1);
        const cm = docs[0] as { metadata: { name: string; namespace: string }; data: Record<string, string> };
        assert.equal(cm.metadata.name, 'argocd-cm');
        assert.equal(cm.metadata.namespace, 'argocd');
        assert.equal(cm.data.url, 'https://argocd.example.com');
        for (const kind of KINDS) {
          assert.equal(cm.data[`resource.customizations.health.shoal.dev_${kind}`], scripts.get(kind), kind);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
