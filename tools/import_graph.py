#!/usr/bin/env python3
"""Checks the import graph of a Rust crate's `src/` by module file: fails on a cycle, and on an
arrow from a lower layer up to a higher one (the layers of `LAYERS`, top first).

A file `a/b.rs` (or `a/b/mod.rs`) is module `a::b`; every `crate::x::y` path it names (in `use`
items or inline) is an edge to the longest module prefix that exists. Edges from a module to its
own descendants or ancestors (a parent declaring children, a child using its parent's items)
are kept only when they go down; `#[cfg(test)]` modules and `tests.rs` files are left out.

    python3 tools/import_graph.py vault/src clients/cli/src
"""

import re
import sys
from pathlib import Path

# Top-level modules by layer, top first: a module may use its own layer and the layers below.
LAYERS = {
    "vault/src": [
        ["", "main", "cli", "server", "bootstrap", "tls"],
        ["api"],
        ["ops"],
        ["jobs"],
        ["authz"],
        ["app"],
        ["audit", "keys", "observe", "config", "config_file"],
        ["engine", "error"],
        ["store"],
        ["model"],
    ],
    "clients/cli/src": [
        ["", "main"],
        ["commands"],
        ["admin", "pseudonym"],
        ["consent", "settings", "subjects", "policy", "keys", "approval", "audit", "bench", "retention", "seal", "processing", "sharing"],
        ["bulk"],
        ["witness", "soak"],
        ["audit_file", "bench_tenant", "disk_probe"],
        ["output", "args", "config", "table"],
    ],
}

PATH = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::\{(.*?)\};", re.S)
SUPER_GROUP = re.compile(r"\buse\s+super::\{(.*?)\};", re.S)
SUPER = re.compile(r"\b(?:use\s+)?super::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")


def modules(src: Path) -> dict[str, Path]:
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        if parts and parts[-1] in ("tests", "conformance", "testkit"):
            continue
        if "conformance" in parts:
            continue
        out["::".join(parts)] = f
    return out


def strip_tests(text: str) -> str:
    # Drop `#[cfg(test)] mod x { ... }` blocks (brace matching) and `#[cfg(test)] mod x;` lines.
    out, i = [], 0
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod\s+\w+\s*\{", text[i:])
        if not m:
            out.append(text[i:])
            break
        start = i + m.start()
        out.append(text[i:start])
        depth, j = 0, i + m.end() - 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        i = j + 1
    return "".join(out)


def flatten_groups(text: str, pattern: re.Pattern = USE_GROUP) -> list[str]:
    """`use crate::{a::b, c::{d, e}}` → ["a::b", "c::d", "c::e"] (enough for edges)."""
    paths = []
    for group in pattern.findall(text):
        depth, token, stack = 0, "", [""]
        for ch in group:
            if ch == "{":
                stack.append(stack[-1] + token.strip())
                token = ""
            elif ch == "}":
                if token.strip():
                    paths.append(stack[-1] + token.strip())
                token = ""
                stack.pop()
            elif ch == ",":
                if token.strip():
                    paths.append(stack[-1] + token.strip())
                token = ""
            else:
                token += ch
        if token.strip():
            paths.append(stack[-1] + token.strip())
    return [p.replace(" ", "").replace("\n", "") for p in paths]


def resolve(path: str, mods: dict[str, Path]) -> str | None:
    parts = [p for p in path.split("::") if p and p != "self"]
    while parts:
        name = "::".join(parts)
        if name in mods:
            return name
        parts.pop()
    return None


def edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        text = strip_tests(f.read_text())
        text = re.sub(r"//[^\n]*", "", text)
        found = set(PATH.findall(text)) | set(flatten_groups(text))
        parent = "::".join(m.split("::")[:-1]) if "::" in m else ""
        for p in SUPER.findall(text) + flatten_groups(text, SUPER_GROUP):
            # `super::x` from a `mod.rs` is the parent's x too (files are modules here).
            base = parent if not str(f).endswith("mod.rs") else "::".join(m.split("::")[:-1])
            found.add(f"{base}::{p}" if base else p)
        # A module naming its own child module (`rotation::run`) uses it; `pub mod` and
        # `pub use` lines (declarations and re-exports: a facade) do not count.
        plain = re.sub(r"(?m)^\s*(pub(\([a-z]+\))?\s+)?(mod|use)\b[^;]*;", "", text)
        for child in {c.split("::")[len(m.split("::")) if m else 0] for c in mods if c.startswith(m + "::") or (not m and c)}:
            if re.search(rf"(?<![:\w]){child}::", plain):
                found.add(f"{m}::{child}" if m else child)
        for p in found:
            target = resolve(p, mods)
            if target is None or target == m:
                continue
            graph[m].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_of(layers: list[list[str]], module: str) -> int | None:
    top = module.split("::")[0]
    for i, names in enumerate(layers):
        if top in names:
            return i
    return None


def upward(src: str, graph: dict[str, set[str]]) -> list[str]:
    layers = LAYERS.get(src.rstrip("/"))
    if not layers:
        return []
    out = []
    for m in sorted(graph):
        lm = layer_of(layers, m)
        if lm is None:
            out.append(f"{m}: in no layer (add it to LAYERS)")
            continue
        for t in sorted(graph[m]):
            lt = layer_of(layers, t)
            if lt is not None and lt < lm:
                out.append(f"{m} -> {t} (up from layer {lm} to {lt})")
    return out


def main() -> int:
    failed = False
    for src in sys.argv[1:] or ["vault/src"]:
        mods = modules(Path(src))
        graph = edges(mods)
        found = cycles(graph)
        up = upward(src, graph)
        n = sum(len(e) for e in graph.values())
        for line in up:
            print(f"{src}: upward arrow {line}")
        failed |= bool(up)
        if not found:
            print(f"{src}: {len(mods)} modules, {n} edges, no import circle" + ("" if up else ", no upward arrow"))
            continue
        failed = True
        for comp in found:
            print(f"{src}: import circle of {len(comp)} modules: {', '.join(comp)}")
            inside = set(comp)
            for m in comp:
                for t in sorted(graph[m] & inside):
                    print(f"    {m} -> {t}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
