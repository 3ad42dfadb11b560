"""Every link and section reference in the docs resolves. A relative markdown link in
README.md or docs/*.md names a file that exists, and its #anchor names a heading of
that file (GitHub's slugs). Every docs/<name>.md or docs/<name>.md#anchor that code,
scripts or the template mention resolves the same way. These tests fail on the first
dangling one, and check that their own detection works."""

import os
import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]

# Files whose mentions of docs/<name>.md are checked: by suffix, and by name.
SOURCE_SUFFIXES = {".rs", ".sh", ".py", ".java"}
SOURCE_NAMES = {"template.yaml", "openapi.yaml", "Makefile", "Cargo.toml"}
# Never walked: build output, installed tools, git's own files.
SKIPPED_DIRS = {".git", ".venv", "target", "node_modules", ".aws-sam", "__pycache__"}

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the target ends at whitespace or ")".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
# [label]: target
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
DOCS_MENTION = re.compile(r"(?<![\w/.-])docs/([A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?")


def slug(text):
    """GitHub's heading anchor: the heading's text, lower case, every character but
    letters, digits, spaces, - and _ removed, spaces turned into -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.strip().lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def prose_lines(text):
    """The lines outside fenced code blocks, with their numbers."""
    fenced = None
    for number, line in enumerate(text.splitlines(), 1):
        mark = FENCE.match(line)
        if mark:
            if fenced is None:
                fenced = mark.group(1)
            elif mark.group(1) == fenced:
                fenced = None
            continue
        if fenced is None:
            yield number, line


def anchors(path):
    """Every anchor the headings of a markdown file give, duplicates numbered -1, -2."""
    seen = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path):
    """(line number, target) of every link in a markdown file, code left out."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        reference = REFERENCE_LINK.match(line)
        if reference:
            yield number, reference.group(1)
            continue
        line = INLINE_CODE.sub("", line)
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)


def is_external(target):
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) is not None or target.startswith("//")


def resolve(base, target, root):
    """Why `target` (a path relative to the folder `base`, with an optional #anchor)
    does not resolve, or None when it does."""
    path_part, _, anchor = target.partition("#")
    path = (base / unquote(path_part)).resolve() if path_part else None
    if path is not None:
        try:
            path.relative_to(root.resolve())
        except ValueError:
            return "points outside the repository"
        if not path.exists():
            return "no such file"
    if not anchor:
        return None
    if path is not None and (path.is_dir() or path.suffix.lower() != ".md"):
        return None  # GitHub's line anchors (#L10) and folders: not headings
    if unquote(anchor) not in anchors(path):
        return f"no heading #{anchor}"
    return None


def markdown_files(root):
    files = [root / "README.md"] if (root / "README.md").exists() else []
    return files + sorted((root / "docs").glob("*.md"))


def dangling_links(root):
    """Every link of README.md and docs/*.md that does not resolve, as readable lines."""
    found = []
    for path in markdown_files(root):
        for number, target in links(path):
            if is_external(target):
                continue
            base = path.parent
            reason = resolve(base, target if not target.startswith("#") else path.name + target, root)
            if reason:
                found.append(f"{path.relative_to(root)}:{number}: {target}: {reason}")
    return found


def source_files(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            if name in SOURCE_NAMES or Path(name).suffix in SOURCE_SUFFIXES:
                yield Path(folder) / name


def dangling_mentions(root, suffixes=None):
    """Every docs/<name>.md[#anchor] in code, scripts and the template that does not
    resolve; `suffixes` narrows the files read."""
    found = []
    for path in source_files(root):
        if suffixes is not None and path.suffix not in suffixes:
            continue
        if path.resolve() == Path(__file__).resolve():
            continue  # this file: its examples dangle on purpose
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for match in DOCS_MENTION.finditer(line):
                target = "docs/" + match.group(1) + (match.group(2) or "")
                reason = resolve(root, target, root)
                if reason:
                    found.append(f"{path.relative_to(root)}:{number}: {target}: {reason}")
    return found


def test_every_link_in_the_readme_and_docs_resolves():
    assert dangling_links(ROOT) == []


def test_every_docs_file_named_in_scripts_and_the_template_resolves():
    not_rust = SOURCE_SUFFIXES - {".rs"} | {".yaml", ".toml", ""}
    assert dangling_mentions(ROOT, not_rust) == []


def test_every_docs_file_named_in_rust_code_resolves():
    assert dangling_mentions(ROOT, {".rs"}) == []


# The slugs are GitHub's.

def test_slugs_follow_githubs_rules():
    assert slug("Sessions, devices and trust: the rules") == "sessions-devices-and-trust-the-rules"
    assert slug("Security events on the platform's bus") == "security-events-on-the-platforms-bus"
    assert slug("Published keys (`JWT_JWKS_URL`)") == "published-keys-jwt_jwks_url"
    assert slug("`SESSION_EXPIRED` is late") == "session_expired-is-late"
    assert slug("Edge protection — what it costs") == "edge-protection--what-it-costs"
    assert slug("See [the API](api.md)") == "see-the-api"


def test_duplicate_headings_are_numbered(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Costs\n\n## Costs\n\n```\n# not a heading\n```\n\n## Costs\n")
    assert anchors(page) == {"notes", "costs", "costs-1", "costs-2"}


# A dangling link, anchor or mention is caught, wherever it is.

def repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Local stack\n\nSee [the README](../README.md#the-commands).\n"
    )
    (tmp_path / "README.md").write_text(
        "# Service\n\n## The commands\n\n"
        "[guide](docs/guide.md), [its stack](docs/guide.md#local-stack), [here](#service), "
        "[site](https://example.com/x.md#nowhere), `[code](docs/none.md)`.\n\n"
        "```\n[fenced](docs/none.md)\n```\n"
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("# see docs/guide.md#local-stack\n")
    assert dangling_links(tmp_path) == []
    assert dangling_mentions(tmp_path) == []
    return tmp_path


def test_a_link_to_a_missing_file_is_caught(tmp_path):
    root = repository(tmp_path)
    with (root / "docs" / "guide.md").open("a") as page:
        page.write("\nMore in [local](LOCAL.md).\n")
    assert dangling_links(root) == ["docs/guide.md:7: LOCAL.md: no such file"]


def test_a_link_to_a_missing_heading_is_caught(tmp_path):
    root = repository(tmp_path)
    with (root / "README.md").open("a") as page:
        page.write("\n[stack](docs/guide.md#local-stacks) and [tests](#tests)\n")
    assert dangling_links(root) == [
        "README.md:11: docs/guide.md#local-stacks: no heading #local-stacks",
        "README.md:11: #tests: no heading #tests",
    ]


def test_a_dangling_mention_in_code_is_caught(tmp_path):
    root = repository(tmp_path)
    (root / "scripts" / "tools.sh").write_text("# never committed, see docs/LOCAL.md)\n")
    (root / "lib.rs").write_text("//! (docs/guide.md#testing).\n")
    (root / "Makefile").write_text("# docs/guide.md#local-stack\n")
    assert dangling_mentions(root) == [
        "lib.rs:1: docs/guide.md#testing: no heading #testing",
        "scripts/tools.sh:1: docs/LOCAL.md: no such file",
    ]
