#!/usr/bin/env python3
"""The label taxonomy: WordNet 3.0 hypernyms corrected by the reviewed rules in Models/label-rules.json.

Used by Scripts/convert_model.py to write Models/imagenet-taxonomy.json. Run on its own to review
the rules against the current class list without converting the model:

    python3 Scripts/label_taxonomy.py --review            # every class: category, label, parents
    python3 Scripts/label_taxonomy.py --review --category household

How a class's entry is built:
  1. its category is the one whose anchor synset is nearest up the hypernym graph (ties: the
     category listed first), unless the rule names `categories`;
  2. its parents are the parent-label synsets above it that belong to the same category, nearest
     first, at most MAX_PARENTS, then the general label of the anchor reached ("animal"; a class a
     rule moves to another category gets that category's `label`);
  3. the rule removes parents (`remove_parents`), adds parents nearest first (`add_parents`,
     more specific than WordNet's: "tusker" -> "elephant") or above WordNet's (`add_above`, before
     the general label: "beer bottle" -> bottle, container, "beer"), renames it (`label`, the old name becomes an alias), adds `aliases`, sets a
     per-label `threshold` (percent) or `report: false` (counts towards its parents, never
     reported itself); a `groups` rule adds parents to every class below a parent label
     ("dog" -> "pet"), right after that label.
Needs only the Python standard library and Debian's wordnet-base.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

WORDNET_DATA_NOUN = Path("/usr/share/wordnet/data.noun")
MAX_PARENTS = 3  # WordNet parent labels before the category's general label; nearest first
RULE_KEYS = {"label", "aliases", "add_parents", "add_above", "remove_parents", "categories", "threshold", "report", "why"}


class TaxonomyError(Exception):
    pass


def parse_wordnet(path: Path = WORDNET_DATA_NOUN):
    """(lemmas, hypernyms) of every noun synset, keyed by ImageNet-style id ("n" + offset)."""
    lemmas, hypernyms = {}, {}
    with path.open("r", encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split(" | ")[0].split()
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            p = 4 + 2 * n_words
            hyps = []
            for i in range(int(fields[p])):
                sym, target, pos = fields[p + 1 + 4 * i: p + 4 + 4 * i]
                if sym in ("@", "@i") and pos == "n":
                    hyps.append("n" + target)
            wnid = "n" + fields[0]
            lemmas[wnid] = words
            hypernyms[wnid] = hyps
    return lemmas, hypernyms


def bfs(start: str, hypernyms) -> dict[str, int]:
    """Distance of every ancestor of `start` (itself at 0)."""
    seen = {start: 0}
    queue = collections.deque([start])
    while queue:
        node = queue.popleft()
        for parent in hypernyms.get(node, []):
            if parent not in seen:
                seen[parent] = seen[node] + 1
                queue.append(parent)
    return seen


def load_rules(path: Path, lemmas, names: list[str]) -> dict:
    """Reads and checks the rules file: every synset exists with the lemma written beside it
    (a wrong offset fails loudly), category ids are unique, every rule names a real class and
    only known keys, and every category a rule names exists."""
    rules = json.loads(path.read_text(encoding="utf-8"))
    ids = [c["id"] for c in rules["categories"]]
    if len(ids) != len(set(ids)):
        raise TaxonomyError(f"{path}: duplicate category ids")
    for entry in [a for c in rules["categories"] for a in c["anchors"]] + rules["parent_labels"]:
        if entry["wnid"] not in lemmas:
            raise TaxonomyError(f"{path}: {entry['wnid']} is not a WordNet 3.0 noun synset")
        if entry["lemma"] not in lemmas[entry["wnid"]]:
            raise TaxonomyError(f"{path}: {entry['wnid']} is {lemmas[entry['wnid']]}, not {entry['lemma']!r}")
    known = set(names)
    for name, rule in rules["classes"].items():
        if name not in known:
            raise TaxonomyError(f"{path}: rule for '{name}', which is not a class name")
        if set(rule) - RULE_KEYS:
            raise TaxonomyError(f"{path}: rule for '{name}' has unknown keys {sorted(set(rule) - RULE_KEYS)}")
        for category in rule.get("categories", []):
            if category not in ids:
                raise TaxonomyError(f"{path}: rule for '{name}' names unknown category '{category}'")
    return rules


def nearest_anchor(wnid: str, hypernyms, categories) -> tuple[dict, dict, dict[str, int]]:
    """(category, anchor, distances) for the anchor nearest up the hypernym graph."""
    reach = bfs(wnid, hypernyms)
    best = None
    for rank, category in enumerate(categories):
        for anchor in category["anchors"]:
            if anchor["wnid"] in reach:
                key = (reach[anchor["wnid"]], rank)
                if best is None or key < best[0]:
                    best = (key, category, anchor)
    if best is None:
        raise TaxonomyError(f"{wnid} reaches no category anchor")
    return best[1], best[2], reach


def build_taxonomy(wnids: list[str], names: list[str], hypernyms, rules: dict) -> list[dict]:
    """One entry per class: index, wnid, name, label, aliases, parents, categories
    (and threshold / report when a rule sets them)."""
    categories = rules["categories"]
    by_id = {c["id"]: c for c in categories}
    parent_labels = {p["wnid"]: p["label"] for p in rules["parent_labels"]}
    groups = {label: g.get("add_parents", []) for label, g in rules.get("groups", {}).items()}
    # A parent label only counts for classes of its own category (a car is a "container" in
    # WordNet through "wheeled vehicle", which is no use to a person filtering labels).
    label_category = {w: nearest_anchor(w, hypernyms, categories)[0]["id"] for w in parent_labels}
    classes = []
    for index, (wnid, name) in enumerate(zip(wnids, names)):
        rule = rules["classes"].get(name, {})
        category, anchor, reach = nearest_anchor(wnid, hypernyms, categories)
        chosen = rule.get("categories") or [category["id"]]
        # The general label comes from the anchor reached, or for a moved class from its new category.
        general = anchor["label"] if chosen[0] == category["id"] else by_id[chosen[0]].get("label")
        label = rule.get("label", name)
        found = sorted((dist, node) for node, dist in reach.items()
                       if node in parent_labels and node != wnid and label_category[node] == category["id"])
        removed = set(rule.get("remove_parents", []))
        parents = []
        for _, node in found:
            parent = parent_labels[node]
            if parent not in (general, label) and parent not in parents and parent not in removed:
                parents.append(parent)
        parents = parents[:MAX_PARENTS]
        for group, adds in groups.items():
            if group in parents:
                at = parents.index(group) + 1
                parents[at:at] = [a for a in adds if a not in parents]
        parents = [a for a in rule.get("add_parents", []) if a not in parents] + parents
        parents += [a for a in rule.get("add_above", []) if a not in parents]
        if general and general not in parents and general not in removed:
            parents.append(general)
        parents = [p for p in parents if p.lower() != label.lower()]
        # A renamed class keeps its ImageNet name as an alias, unless the rule lists the aliases itself
        # (the old name may be misleading: "plane" for a woodworking plane).
        aliases = list(rule.get("aliases", [name] if label != name else []))
        entry = {"index": index, "wnid": wnid, "name": name, "label": label, "aliases": aliases,
                 "parents": parents, "categories": chosen}
        if "threshold" in rule:
            entry["threshold"] = rule["threshold"]
        if rule.get("report") is False:
            entry["report"] = False
        classes.append(entry)
    return classes


def check_taxonomy(classes: list[dict], categories: list[dict]) -> list[str]:
    """The invariants the Swift side relies on; returns the problems found (empty when sound)."""
    problems = []
    ids = {c["id"] for c in categories}
    labels = {c["label"].lower() for c in classes}
    if len(labels) != len(classes):
        dup = [n for n, k in collections.Counter(c["label"].lower() for c in classes).items() if k > 1]
        problems.append(f"class labels not unique: {dup}")
    # A parent "above" another in one chain and "below" it in another would be a cycle.
    above = collections.defaultdict(set)
    for c in classes:
        chain = [c["label"]] + c["parents"]
        for i, node in enumerate(chain):
            above[node.lower()].update(p.lower() for p in chain[i + 1:])
    for node, ups in above.items():
        for up in ups:
            if node in above.get(up, set()):
                problems.append(f"cycle: '{node}' is both above and below '{up}'")
    owner = {}
    for c in classes:
        if not c["categories"] or not set(c["categories"]) <= ids:
            problems.append(f"{c['name']}: categories {c['categories']}")
        for alias in c["aliases"]:
            key = alias.lower()
            if key in owner and owner[key] != c["label"]:
                problems.append(f"alias '{alias}' of {c['label']} is also an alias of {owner[key]}")
            if key in labels and key != c["name"].lower():
                problems.append(f"alias '{alias}' of {c['label']} is another class's label")
            owner[key] = c["label"]
    return sorted(set(problems))


def write_rules(path: Path, rules: dict) -> None:
    """Rewrites the rules file in its reviewed layout: one line per parent label and per class."""
    lines = ["{", f'  "about": {json.dumps(rules["about"], ensure_ascii=False)},', '  "categories": [']
    lines.append(",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in rules["categories"]))
    lines += ["  ],", '  "parent_labels": [']
    lines.append(",\n".join("    " + json.dumps(p, ensure_ascii=False) for p in rules["parent_labels"]))
    lines += ["  ],", '  "groups": {']
    lines.append(",\n".join(f"    {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
                            for k, v in rules.get("groups", {}).items()))
    lines += ["  },", '  "classes": {']
    lines.append(",\n".join(f"    {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
                            for k, v in rules["classes"].items()))
    lines += ["  }", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--review", action="store_true", help="print every class with its category, label and parents")
    ap.add_argument("--category", help="only this category (with --review)")
    ap.add_argument("--format", action="store_true", help="rewrite Models/label-rules.json in its layout")
    args = ap.parse_args()
    current = json.loads((args.root / "Models/imagenet-taxonomy.json").read_text())["classes"]
    wnids, names = [c["wnid"] for c in current], [c["name"] for c in current]
    lemmas, hypernyms = parse_wordnet()
    rules_path = args.root / "Models/label-rules.json"
    rules = load_rules(rules_path, lemmas, names)
    if args.format:
        write_rules(rules_path, rules)
    classes = build_taxonomy(wnids, names, hypernyms, rules)
    if args.review:
        for c in classes:
            if args.category and args.category not in c["categories"]:
                continue
            extra = "".join([f" ~{c['threshold']}%" if "threshold" in c else "",
                             " (not alone)" if c.get("report") is False else "",
                             f" aka {', '.join(c['aliases'])}" if c["aliases"] else ""])
            print(f"{c['index']:4} {'/'.join(c['categories']):22} {c['label']}{extra} <- {', '.join(c['parents'])}")
    print("per category:", dict(collections.Counter(c["categories"][0] for c in classes)), file=sys.stderr)
    problems = check_taxonomy(classes, rules["categories"])
    for p in problems:
        print("problem:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TaxonomyError as e:
        print(f"label_taxonomy: {e}", file=sys.stderr)
        sys.exit(1)
