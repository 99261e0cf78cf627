"""The project's documents: README.md stays short, the links and images of README.md and docs/*.md resolve,
benchmarks/ holds only tables that docs/performance.md cites, and no tracked text file contains FORBIDDEN_WORD."""

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 250
#: Built from two halves so that this file does not contain the word it looks for.
FORBIDDEN_WORD = "ses" + "sion"
#: Walked when git cannot list the tracked files.
SKIPPED_DIRECTORIES = {".git", "logs", "build", "dist", "__pycache__", ".pytest_cache"}

LINK = re.compile(r"(!?)\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)


def tracked_files(root=ROOT):
    """Paths of the tracked files under ``root`` (``git ls-files``), or of every file but build output and logs."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is not None and listed.returncode == 0:
        return [root / name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]
    paths = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories
                             if name not in SKIPPED_DIRECTORIES and not name.endswith(".egg-info")]
        paths.extend(Path(directory) / name for name in files)
    return paths


def text_of(path):
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8) or a file absent from the work tree."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def files_with_word(paths, word=FORBIDDEN_WORD):
    """``path:line`` of every line of a text file among ``paths`` that contains ``word``, ignoring case."""
    pattern = re.compile(re.escape(word), re.IGNORECASE)
    hits = []
    for path in paths:
        text = text_of(path)
        if text is None or not pattern.search(text):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if pattern.search(line):
                hits.append(f"{path}:{number}")
    return hits


def prose(markdown):
    """Markdown without fenced code blocks and inline code, whose brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading):
    """GitHub's anchor for a heading: link text kept, markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFC", text).strip().lower()
    text = "".join(char for char in text
                   if char in " -_" or unicodedata.category(char)[0] in "LN")
    return text.replace(" ", "-")


def anchors(markdown):
    """Every heading's anchor, with GitHub's -1, -2, ... suffixes for repeated headings."""
    seen, result = {}, set()
    for _, heading in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_problems(document, root=ROOT):
    """Broken relative links of one Markdown file: a missing target, or an ``#anchor`` no heading of it has."""
    markdown = document.read_text(encoding="utf-8")
    problems = []
    for _, _, target in LINK.findall(prose(markdown)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # https:, mailto:, ...
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            problems.append(f"{document.name}: {target} (no such file)")
            continue
        if anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{document.name}: {target} (no heading with that anchor in {linked.name})")
    return problems


def image_problems(document, root=ROOT):
    """Images a Markdown file shows that are not files under ``<root>/img/``."""
    text = prose(document.read_text(encoding="utf-8"))
    sources = [target for bang, _, target in LINK.findall(text) if bang] + HTML_IMAGE.findall(text)
    problems = []
    for source in sources:
        path = (document.parent / source.partition("#")[0]).resolve()
        if not path.is_file() or (root / "img").resolve() not in path.parents:
            problems.append(f"{document.name}: {source}")
    return problems


def test_no_tracked_text_file_contains_the_word():
    hits = files_with_word(tracked_files())
    assert not hits, f"the word {FORBIDDEN_WORD!r} appears in: " + ", ".join(hits)


def test_the_word_check_finds_the_word_in_any_case_and_skips_binary_files(tmp_path):
    (tmp_path / "notes.md").write_text("one line\nthe " + FORBIDDEN_WORD.upper() + " of work\n")
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "model.keras").write_bytes(b"PK\0\0" + FORBIDDEN_WORD.encode())
    assert files_with_word(sorted(tmp_path.iterdir())) == [f"{tmp_path / 'notes.md'}:2"]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, at most {MAX_README_LINES}"


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.name)
def test_relative_links_resolve(document):
    assert not link_problems(document)


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.name)
def test_images_are_files_under_img(document):
    assert not image_problems(document)


def test_readme_links_to_the_docs():
    assert {"results.md", "performance.md"} <= {path.name for path in DOCS}
    text = README.read_text(encoding="utf-8")
    assert "docs/results.md" in text and "docs/performance.md" in text


def test_link_and_image_checks_find_broken_ones(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "figure.png").write_bytes(b"\x89PNG")
    (tmp_path / "other.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Copy: NTM vs LSTM (3 seeds)\n\n## Results\n\n## Results\n")
    document = tmp_path / "README.md"
    document.write_text(
        "[ok](docs/a.md#copy-ntm-vs-lstm-3-seeds) [ok](docs/a.md#results-1) [web](https://example.com/x)\n"
        "[missing](docs/b.md) [bad anchor](docs/a.md#results-2) `[in code](nowhere.md)`\n"
        "![ok](img/figure.png) ![outside img](other.png) ![missing](img/none.png)\n"
        "```\n[in a code block](nowhere.md)\n```\n")
    assert link_problems(document, tmp_path) == [
        "README.md: docs/b.md (no such file)",
        "README.md: docs/a.md#results-2 (no heading with that anchor in a.md)",
        "README.md: img/none.png (no such file)",
    ]
    assert image_problems(document, tmp_path) == ["README.md: other.png", "README.md: img/none.png"]


def test_slugs_follow_github():
    assert slug("Associative recall: train.py's defaults") == "associative-recall-trainpys-defaults"
    assert slug("Ablation: learning rate after convergence") == "ablation-learning-rate-after-convergence"
    assert slug("Copy: NTM with length buckets, 4 seeds") == "copy-ntm-with-length-buckets-4-seeds"
    assert slug("Dynamic N-grams") == "dynamic-n-grams"
    assert slug("`NTMCell` in a [Keras](https://keras.io) model") == "ntmcell-in-a-keras-model"


def test_every_benchmark_table_is_cited_by_the_performance_document():
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    stems = {path.name.split(".")[0] for path in (ROOT / "benchmarks").iterdir() if path.is_file()}
    uncited = sorted(stem for stem in stems if f"benchmarks/{stem}.md" not in performance)
    assert not uncited, f"benchmarks/ tables that docs/performance.md does not cite: {uncited}"


def test_compare_reference_refuses_a_missing_reference_dir_in_one_line():
    script = ROOT / "scripts" / "compare_reference.py"
    for arguments in ([], ["--reference_dir=" + str(ROOT / "no-such-checkout")]):
        result = subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True,
                                timeout=60, cwd=ROOT)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--reference_dir" in lines[0], result.stderr
