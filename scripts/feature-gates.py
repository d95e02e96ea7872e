#!/usr/bin/env python3
"""Print the lifecycle of every Kubernetes feature gate as the `feature_gates:` YAML of kubeharden.

Input (read only; no network, standard library only):
  WEBSITE          a kubernetes/website checkout, or any directory holding the per-gate pages
                   content/en/docs/reference/command-line-tools-reference/feature-gates/<Gate>.md
                   (or the *.md files themselves). Each page's front matter lists `stages:`
                   (`stage: alpha|beta|stable|deprecated`, `locked: true`, `fromVersion`,
                   `toVersion`) and carries `removed: true` once the gate is gone.
  --releases DIR   optional, for what the website lacks or states late: DIR/1.N/ holds the Go
                   files that register the gates of Kubernetes 1.N, laid out by Go module
                   (DIR/1.N/k8s.io/kubernetes/pkg/features/kube_features.go,
                   DIR/1.N/k8s.io/apiserver/pkg/features/kube_features.go, ...). A release may
                   hold only some modules: it then speaks only for the gates those modules own.

Rules, per gate and per minor version m (1.m):
  * The Go registrations of 1.m decide whether the gate exists in 1.m and its stage
    (PreRelease Alpha/Beta/GA/Deprecated, LockToDefault; versioned specs are read at 1.m),
    provided release 1.m holds the module(s) owning the gate (declaring it unqualified).
  * Otherwise the website decides: the stage whose fromVersion..toVersion covers m; after the
    last stage the gate is gone if the page says `removed: true` (unless a release shows it
    still there), else it keeps its last stage. A gate without a page keeps its state, and
    a gate once gone stays gone (pages can lag behind the code).
  * since = first minor with the gate (left out when "0.0", as for AllAlpha, or unknown: no
    page and already in the oldest release given);
    ga = first minor at GA (`stable`); locked = first minor locked to its default
    (`locked: true`, or LockToDefault); deprecated = first minor deprecated;
    removed = the minor after the last one with the gate, if that is <= --newest.
  * Only gates some minor in --oldest..--newest accepts are printed (`removed` > --oldest,
    `since` <= --newest); later stages are ignored. Output is sorted by gate name.
Naming a removed gate in --feature-gates or KubeletConfiguration featureGates stops the
component with "unrecognized feature gate".

  --removals FILE  optional: removals known from a merged pull request when the release's gate
                   files are not at hand, one per line: `Gate N source...` (N: the first minor
                   without the gate). Lines starting with # are comments. Empty it once the
                   release's files are read with --releases.

Usage: scripts/feature-gates.py WEBSITE [--releases DIR] [--removals FILE] [--oldest 19]
       [--newest 37] > out.yaml
"""
import argparse
import glob
import os
import re

PAGES = "content/en/docs/reference/command-line-tools-reference/feature-gates"
STAGE = {"alpha": "Alpha", "beta": "Beta", "stable": "GA", "ga": "GA", "deprecated": "Deprecated"}


def minor(v):
    m = re.fullmatch(r'\s*"?v?(\d+)\.(\d+)(?:\.\d+)?"?\s*', str(v))
    if not m:
        raise ValueError(f"not a version: {v!r}")
    return int(m.group(2)) if m.group(1) == "1" else 0  # "0.0": since the beginning


def read_page(path):
    """The stages [(from, to|None, stage, locked)] and `removed` of one gate page."""
    text = open(path, encoding="utf-8").read()
    m = re.match(r"---\s*\n(.*?)\n---", text, re.S)
    if not m:
        raise SystemExit(f"{path}: no front matter")
    stages, removed, cur = [], False, None
    for line in m.group(1).splitlines():
        line = line.split(" #")[0].rstrip()
        kv = re.match(r"\s*(-\s+)?(\w+):\s*(.*)$", line)
        if not kv or line.lstrip().startswith("#"):
            continue
        item, key, val = kv.group(1), kv.group(2), kv.group(3).strip().strip('"')
        if key == "removed" and not line.startswith(" "):
            removed = val == "true"
        if item:
            cur = {}
            stages.append(cur)
        if cur is not None and line.startswith((" ", "-")):
            cur[key] = val
    out = []
    for s in stages:
        stage = STAGE.get(s.get("stage", "").lower())
        if stage is None or "fromVersion" not in s:
            raise SystemExit(f"{path}: unreadable stage {s}")
        to = minor(s["toVersion"]) if s.get("toVersion") else None
        out.append((minor(s["fromVersion"]), to, stage, s.get("locked") == "true"))
    return sorted(out), removed


def read_website(root):
    for d in (os.path.join(root, PAGES), root):
        files = [f for f in glob.glob(os.path.join(d, "*.md"))
                 if os.path.basename(f) not in ("index.md", "_index.md")]
        if files:
            return {os.path.basename(f)[:-3]: read_page(f) for f in sorted(files)}
    raise SystemExit(f"no feature-gate pages (*.md) under {root} or {os.path.join(root, PAGES)}")


def go_body(text, start):
    """Index after the brace that closes the one at text[start]."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == '"':
            i = text.index('"', i + 1)
        elif text.startswith("//", i):
            i = text.index("\n", i)
            continue
        depth += (c == "{") - (c == "}")
        if depth == 0:
            return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def read_release(d):
    """{gate: (stage, locked)} and {gate: owning modules} from the Go files under d."""
    texts = {}
    for f in sorted(glob.glob(os.path.join(d, "**", "*.go"), recursive=True)):
        module = "/".join(os.path.relpath(f, d).split(os.sep)[:2])
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", open(f, encoding="utf-8").read(), flags=re.S)
        texts.setdefault(module, []).append(text)
    consts = {}
    for module in texts:
        for t in texts[module]:
            consts.update(re.findall(r'(\w+)\s+(?:featuregate\.)?Feature\s*=\s*"([^"]+)"', t))
    n = minor(os.path.basename(d))
    gates, owners = {}, {}
    for module, ts in texts.items():
        for t in ts:
            for m in re.finditer(r"map\[(?:featuregate\.)?Feature\](?:featuregate\.)?"
                                 r"(?:FeatureSpec|VersionedSpecs)\s*\{", t):
                body, pos = t[m.end():go_body(t, m.end() - 1) - 1], 0
                for e in re.finditer(r"(?m)^\s*([\w.]+)\s*:\s*\{", body):
                    if e.start() < pos:
                        continue
                    pos = go_body(body, e.end() - 1)
                    name = consts.get(e.group(1).split(".")[-1], e.group(1).split(".")[-1])
                    if "." not in e.group(1):
                        owners.setdefault(name, set()).add(module)
                    specs = []  # (version or 0, stage, locked); a versioned gate is read at 1.n
                    for s in re.findall(r"\{([^{}]*PreRelease[^{}]*)\}", body[e.end() - 1:pos]):
                        v = re.search(r'Version:\s*version\.MustParse\("([\d.]+)"\)', s)
                        stage = re.search(r"PreRelease:\s*(?:featuregate\.)?(\w+)", s).group(1)
                        specs.append((minor(v.group(1)) if v else 0, stage,
                                      bool(re.search(r"LockToDefault:\s*true", s))))
                    specs = [s for s in sorted(specs) if s[0] <= n]
                    if specs:
                        gates[name] = specs[-1][1:]
    return gates, owners, set(texts)


def lifecycle(name, page, releases, newest):
    """The minor -> (stage, locked) | None timeline of a gate, and whether its start is known."""
    stages, removed = page if page else ([], False)
    gone_at = stages[-1][1] + 1 if removed and stages and stages[-1][1] is not None else None
    owners = next((releases[n][1][name] for n in sorted(releases, reverse=True)
                   if name in releases[n][1]), set())
    if gone_at is not None and any(name in releases[n][0] for n in releases if n >= gone_at):
        gone_at = None  # a release still has the gate: the page is wrong or stale
    timeline, state = {}, None
    for m in range(0, newest + 1):
        if m in releases and owners and owners <= releases[m][2]:
            state = releases[m][0].get(name)
        elif state is None and any(timeline.values()):
            pass  # a removed gate does not come back
        elif stages:
            cover = [s for s in stages if s[0] <= m]
            state = (cover[-1][2], cover[-1][3]) if cover else None
            if gone_at is not None and m >= gone_at:
                state = None
        timeline[m] = state
    known = bool(stages) or not releases or timeline.get(min(releases)) is None
    return timeline, known


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("website")
    ap.add_argument("--releases")
    ap.add_argument("--removals")
    ap.add_argument("--oldest", type=int, default=19)
    ap.add_argument("--newest", type=int, default=37)
    a = ap.parse_args()
    pages = read_website(a.website)
    releases = {}
    if a.releases:
        for d in sorted(glob.glob(os.path.join(a.releases, "1.*"))):
            releases[minor(os.path.basename(d))] = read_release(d)
        if not releases:
            raise SystemExit(f"no 1.N directories under {a.releases}")
    removals = {}
    if a.removals:
        for line in open(a.removals, encoding="utf-8"):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 3 or not parts[1].isdigit():
                raise SystemExit(f"{a.removals}: expected `Gate N source...`: {line.strip()}")
            removals[parts[0]] = int(parts[1])
    names = set(pages).union(*(r[0] for r in releases.values()))
    unknown = sorted(set(removals) - names)
    if unknown:
        raise SystemExit(f"{a.removals}: no such gate in the sources: {', '.join(unknown)}")
    lines = []
    for name in sorted(names):
        timeline, known = lifecycle(name, pages.get(name), releases, a.newest)
        if name in removals:
            timeline = {m: (s if m < removals[name] else None) for m, s in timeline.items()}
        present = [m for m, s in timeline.items() if s]
        if not present or present[-1] + 1 <= a.oldest:
            continue
        first = lambda ok: next((m for m in present if ok(timeline[m])), None)  # noqa: E731
        keys = [("since", present[0] if known and present[0] > 0 else None),
                ("ga", first(lambda s: s[0] == "GA")),
                ("locked", first(lambda s: s[1])),
                ("deprecated", first(lambda s: s[0] == "Deprecated")),
                ("removed", present[-1] + 1 if present[-1] < a.newest else None)]
        body = ", ".join(f"{k}: {v}" for k, v in keys if v is not None)
        lines.append(f"  {name}: {{ {body} }}" if body else f"  {name}: {{}}")
    src = f"kubernetes/website feature-gates/*.md ({len(pages)} pages)"
    if releases:
        src += f" and the Go gate registrations of 1.{min(releases)}-1.{max(releases)}"
    if removals:
        src += f", with the {len(removals)} removal(s) of {os.path.basename(a.removals)}"
    print(f"# Generated by scripts/feature-gates.py from {src}; do not edit by hand.\n"
          "# Re-run at each Kubernetes release (docs/versions.md).\nfeature_gates:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
