"""Every example of README.md runs as written.

The README is parsed, not copied: a ```toml block whose first line is a comment naming a file
(``# link.toml -- ...``, ``# chain.toml``) is saved under that name in one temporary directory, the
working directory of every example. Each shell line of a ```bash block (``\\`` continuations
joined, trailing ``# comments`` dropped, ``&&`` chains split, ``> FILE`` writes the command's
stdout to FILE) that calls ``ionjax`` runs in-process through :func:`ionjax.cli.main` and must
exit 0; ``python -c CODE`` runs CODE. Each ```python block runs, in README
order, in one namespace shared by all python blocks (the README reads as one session: the
engine block uses the ``ij`` imported by the block before it) and must not raise.

``pip install`` and ``pytest`` are not run (they are the set-up commands, checked to be exactly
the two of the quick start); GPU lines (``.[cuda]``) are skipped with a reason. Any other
command, code fence language or shell construct fails the test until this file learns it, so the
README cannot drift from the code unnoticed. One test runs the real ``ionjax`` console script in
a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: The two set-up commands of the quick start, exactly.
QUICK_START_SETUP = ["pip install -e . && ionjax demo", 'pip install -e ".[test]" && pytest']
KNOWN_FENCES = ("toml", "bash", "python")
_FILE_COMMENT = re.compile(r"^#\s*([\w.-]+\.toml)\b")
_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # README line of the block's first content line (1-based)
    text: str
    section: str  # the ``## heading`` the block is under


@dataclass(frozen=True)
class Command:
    """One command of a shell line (a line may chain several with ``&&``)."""

    line: int
    source: str  # the logical shell line, continuations joined
    argv: tuple[str, ...]
    tokens: tuple[str, ...] = ()  # the whole line's words, comment dropped
    env: tuple[tuple[str, str], ...] = ()
    section: str = ""
    block_is_gpu: bool = False
    stdout_to: str | None = None  # `> FILE` (or `>> FILE`: append)
    append: bool = False


@dataclass
class Readme:
    blocks: list[Block]
    commands: list[Command]
    errors: list[str] = field(default_factory=list)  # what this parser could not classify


def parse_blocks(text: str) -> tuple[list[Block], list[str]]:
    blocks, errors = [], []
    lines = text.splitlines()
    section, i = "", 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("## "):
            section = ln[3:].strip()
        fence = re.match(r"^(\s*)```(.*)$", ln)
        if fence:
            lang = fence.group(2).strip()
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            if j == len(lines):
                errors.append(f"README.md:{i + 1}: code fence ```{lang} is never closed.")
                break
            blocks.append(Block(lang, start + 1, "\n".join(lines[start:j]), section))
            i = j + 1
            continue
        i += 1
    return blocks, errors


def _logical_lines(block: Block) -> list[tuple[int, str]]:
    out, buf, first = [], "", None
    for k, raw in enumerate(block.text.splitlines()):
        if first is None:
            first = block.line + k
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        if buf.strip():
            out.append((first, buf))
        buf, first = "", None
    if buf.strip():
        out.append((first, buf))
    return out


def shell_words(src: str) -> list[str]:
    """``src`` split as a shell line: quotes removed, ``# comment`` dropped, ``&&`` etc. separate words."""
    lexer = shlex.shlex(src, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def parse_commands(block: Block) -> tuple[list[Command], list[str]]:
    cmds, errors = [], []
    gpu = ".[cuda]" in block.text
    for line, src in _logical_lines(block):
        try:
            tokens = shell_words(src)
        except ValueError as exc:
            errors.append(f"README.md:{line}: cannot split {src!r} as a shell line ({exc}).")
            continue
        if not tokens:
            continue
        shown = re.sub(r"\s+", " ", src).strip()
        parts: list[list[str]] = [[]]
        redirects: list[tuple[str | None, bool]] = [(None, False)]
        k = 0
        while k < len(tokens):
            tok = tokens[k]
            if tok == "&&":
                parts.append([])
                redirects.append((None, False))
            elif tok in (">", ">>") and k + 1 < len(tokens) and not set(tokens[k + 1]) <= set("|&;<>()"):
                redirects[-1] = (tokens[k + 1], tok == ">>")
                k += 1
            elif set(tok) <= set("|&;<>()"):
                errors.append(f"README.md:{line}: {src.strip()!r} uses the shell construct {tok!r}, which "
                              "tests/test_readme.py does not run; teach it, or write the line without it.")
                parts = []
                break
            elif redirects[-1][0] is not None:
                errors.append(f"README.md:{line}: {src.strip()!r}: words after a `> FILE` redirect.")
                parts = []
                break
            else:
                parts[-1].append(tok)
            k += 1
        for argv, (target, append) in zip(parts, redirects):
            env = []
            while argv and _ENV_ASSIGN.match(argv[0]):
                name, _, value = argv.pop(0).partition("=")
                env.append((name, value))
            if not argv:
                errors.append(f"README.md:{line}: {src.strip()!r} has an empty command.")
                continue
            cmds.append(Command(line, shown, tuple(argv), tuple(tokens), tuple(env), block.section, gpu,
                                target, append))
    return cmds, errors


def load_readme(path: Path = README) -> Readme:
    blocks, errors = parse_blocks(path.read_text(encoding="utf-8"))
    commands = []
    for b in blocks:
        if b.lang not in KNOWN_FENCES:
            errors.append(f"README.md:{b.line}: code fence language {b.lang!r} is not one this test runs "
                          f"({', '.join(KNOWN_FENCES)}); use one of them or teach tests/test_readme.py.")
        if b.lang == "bash":
            c, e = parse_commands(b)
            commands += c
            errors += e
    return Readme(blocks, commands, errors)


def toml_files(readme: Readme) -> dict[str, Block]:
    out = {}
    for b in readme.blocks:
        if b.lang == "toml":
            m = _FILE_COMMENT.match(b.text.splitlines()[0] if b.text else "")
            if m:
                out[m.group(1)] = b
    return out


def is_setup(cmd: Command) -> bool:
    return cmd.argv[:2] == ("pip", "install") or cmd.argv[0] == "pytest"


# ------------------------------------------------------------------------------------------ cases
RM = load_readme()


def _case_id(kind: str, line: int, text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return f"README.md:{line}:{kind}:{text[:60]}"


def _examples() -> list:
    """Every runnable thing, in README order, as pytest params (the id names the README line)."""
    items = []
    for b in RM.blocks:
        if b.lang == "python":
            items.append((b.line, pytest.param(("python", b), id=_case_id("python", b.line, b.text.splitlines()[0]))))
    for c in RM.commands:
        marks = []
        if c.argv[:2] == ("pip", "install"):
            gpu = any(".[cuda]" in a or "[cuda]" in a for a in c.argv)
            marks.append(pytest.mark.skip(reason="GPU set-up: needs an NVIDIA GPU and the network (.[cuda])" if gpu
                                          else "set-up command, not run here (checked by "
                                               "test_readme_setup_commands_are_the_quick_start)"))
        elif c.argv[0] == "pytest":
            marks.append(pytest.mark.skip(reason="runs the test suite itself (checked by "
                                                 "test_readme_setup_commands_are_the_quick_start)"))
        # anything else: not skipped, so test_readme_example fails naming the line
        items.append((c.line, pytest.param(("shell", c), marks=marks,
                                           id=_case_id("shell", c.line, shlex.join(c.argv)))))
    items.sort(key=lambda t: t[0])
    return [p for _, p in items]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The directory every example runs in: the README's named TOML files, and its Python namespace."""
    d = tmp_path_factory.mktemp("readme")
    for name, block in toml_files(RM).items():
        (d / name).write_text(block.text + "\n", encoding="utf-8")
    return d, {"__name__": "__readme__"}


def _run_ionjax(argv: list[str]) -> tuple[object, str, str]:
    from ionjax.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _write_inputs(cmd: Command, cwd, namespace: dict) -> None:
    """A command that reads a file an earlier Python example of the README writes (``heralds.csv``) runs that
    example first when this worker has not run it (the examples are spread over the test workers)."""
    for arg in cmd.argv[1:]:
        if "/" in arg or (cwd / arg).exists():
            continue
        for b in RM.blocks:
            if b.lang == "python" and (f'"{arg}"' in b.text or f"'{arg}'" in b.text):
                exec(compile("\n" * (b.line - 1) + b.text, str(README), "exec"), namespace)
                break


@pytest.mark.parametrize("example", _examples())
def test_readme_example(example, workspace, monkeypatch):
    """The README example at this line runs as written (cwd: a directory holding the README's TOML files)."""
    kind, item = example
    cwd, namespace = workspace
    monkeypatch.chdir(cwd)
    if kind == "python":
        code = compile("\n" * (item.line - 1) + item.text, str(README), "exec")
        exec(code, namespace)  # a traceback points at the README line
        return
    for k, v in item.env:
        monkeypatch.setenv(k, v)
    _write_inputs(item, cwd, namespace)
    if item.argv[0] == "ionjax":
        rc, out, err = _run_ionjax(list(item.argv[1:]))
        output = out + err
        assert rc in (0, None) and "Traceback" not in output, (
            f"README.md:{item.line}: `{item.source}` exited with {rc!r}; output:\n{output[-4000:]}")
        if item.stdout_to is not None:
            with open(item.stdout_to, "a" if item.append else "w", encoding="utf-8") as f:
                f.write(out)
    elif item.argv[:2] == ("python", "-c"):
        exec(compile(item.argv[2], f"README.md:{item.line} (python -c)", "exec"), {"__name__": "__main__"})
    else:
        pytest.fail(f"README.md:{item.line}: `{item.source}` runs {item.argv[0]!r}, which tests/test_readme.py "
                    "does not know how to run: teach it (and keep the README runnable as written).")


def test_readme_parses():
    """The parser understood everything the README holds, and found its examples."""
    assert not RM.errors, "\n".join(RM.errors)
    files = toml_files(RM)
    assert files, "README.md: no ```toml block names a file (first line `# link.toml ...`)"
    assert any(c.argv[0] == "ionjax" for c in RM.commands), "README.md: no `ionjax` command found"
    assert any(b.lang == "python" for b in RM.blocks), "README.md: no ```python block found"
    for b in RM.blocks:
        if b.lang == "toml":
            try:
                tomllib.loads(b.text)
            except tomllib.TOMLDecodeError as exc:
                pytest.fail(f"README.md:{b.line}: the ```toml block is not valid TOML: {exc}")


def test_readme_toml_files_are_used():
    """Every file the README writes is read by one of its examples (no stale file)."""
    used = " ".join([" ".join(c.argv) for c in RM.commands] + [b.text for b in RM.blocks if b.lang == "python"])
    for name, block in toml_files(RM).items():
        assert name in used, f"README.md:{block.line}: the file {name} is written but no example reads it."


def test_readme_setup_commands_are_the_quick_start():
    """The README's set-up commands are exactly the quick start's two lines (plus the GPU install)."""
    setup_lines = {}
    for c in RM.commands:
        if is_setup(c):
            setup_lines.setdefault(c.line, c)
    quick = [" ".join(c.tokens) for c in setup_lines.values() if not c.block_is_gpu]
    want = [" ".join(shell_words(s)) for s in QUICK_START_SETUP]
    assert quick == want, f"README set-up commands {quick} != the quick start's {want}"
    assert all(c.section == "Quick start" for c in setup_lines.values() if not c.block_is_gpu), (
        "the set-up commands must be in the README's `## Quick start`")
    gpu = [c for c in setup_lines.values() if c.block_is_gpu]
    for c in gpu:
        assert c.argv[:2] == ("pip", "install") and any("[cuda]" in a for a in c.argv), c.source
    # every extra the README installs exists in pyproject.toml
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for c in setup_lines.values():
        for a in c.argv:
            m = re.fullmatch(r"\.\[([\w,-]+)\]", a)
            if m:
                for extra in m.group(1).split(","):
                    assert extra in extras, f"README.md:{c.line}: `{c.source}` installs the unknown extra {extra!r}"


def test_readme_names_exist():
    """Every ``ij.NAME`` the README mentions exists, and every repository path it names is there."""
    import ionjax as ij

    text = README.read_text(encoding="utf-8")
    missing = []
    for dotted in sorted(set(re.findall(r"\bij\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text))):
        obj = ij
        for part in dotted.split("."):
            if not hasattr(obj, part):
                missing.append(f"ij.{dotted}")
                break
            obj = getattr(obj, part)
    for mod in sorted(set(re.findall(r"`(ionjax(?:\.\w+)+)`", text))):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    for p in sorted(set(re.findall(r"(?<![\w./~$-])((?:ionjax|experiments|benchmarks|tests)/[\w./-]*)", text))):
        if not (ROOT / p.rstrip(".")).exists():
            missing.append(p)
    assert not missing, f"README.md names things that do not exist: {missing}"


def test_ionjax_console_script(tmp_path):
    """The installed `ionjax` entry point runs (exit 0, JSON on stdout)."""
    exe = shutil.which("ionjax") or str(Path(sys.executable).with_name("ionjax"))
    if not Path(exe).exists():
        pytest.skip("the ionjax console script is not installed (pip install -e .)")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([exe, "simulate", "--preset", "oxford_2020", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    d = json.loads(proc.stdout)
    assert {"fidelity", "success_probability", "rate_hz"} <= set(d)
