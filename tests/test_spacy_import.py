"""spaCy is imported without its command line (filters/spacy_import.py)."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys

from pln.filters.spacy_import import _imports_cli_for_info


def run_python(script: str) -> list[str]:
    """Run script in a fresh interpreter (spaCy is already imported in this one)."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_curating_never_loads_spacys_cli_yet_spacy_info_and_the_cli_still_work():
    out = run_python(
        "import sys\n"
        "from pln.config import NlpConfig, TopicConfig\n"
        "from pln.filters.curator import Curator\n"
        "from pln.record import Item\n"
        "topic = TopicConfig(id='ld', title='L&D', phrases=('instructional design',))\n"
        "item = Item.create(source='s', platform='p', kind='post', native_id='1',\n"
        "                   text='Instructional designers on instructional design')\n"
        "[d] = Curator((topic,), NlpConfig()).curate([item]).decisions\n"
        "heavy = [m for m in ('spacy.cli', 'typer', 'weasel', 'requests', 'httpx')\n"
        "         if m in sys.modules]\n"
        "print(d.kept, heavy or 'none')\n"
        "import spacy\n"
        "print(sorted(spacy.info(markdown=False, silent=True))[0], 'typer' in sys.modules)\n"
        "import spacy.cli\n"
        "print(callable(spacy.cli.download))\n"
    )
    assert out == ["True", "none", "location", "True", "True"]


def test_a_config_check_that_looks_for_spacy_leaves_the_cli_deferred():
    """`pln run` checks `nlp.pipeline` (importlib.util.find_spec("spacy")) after pln.filters
    set the finder up and before the crew imports spaCy: the lookup must not use it up (it did
    on 3 December: +0.2 s and +40 MB a run, measured by bench_peers)."""
    out = run_python(
        "import sys\n"
        "import pln.filters\n"
        "from pln.config import load_config\n"
        "config = load_config('examples/pln.yaml')\n"
        "from pln.filters.curator import Curator\n"
        "Curator.for_config(config)\n"
        "print('spacy' in sys.modules, 'spacy.cli' in sys.modules, 'weasel' in sys.modules)\n"
    )
    assert out == ["True", "False", "False"]


def test_python_m_spacy_still_runs_its_cli():
    done = subprocess.run(
        [sys.executable, "-m", "spacy", "info"], capture_output=True, text=True, check=True
    )
    assert "spaCy version" in done.stdout


def test_another_spacy_init_is_left_alone(tmp_path):
    """Only the import this module knows is replaced; a spaCy without it imports untouched."""
    known = tmp_path / "known.py"
    known.write_text("import sys\nfrom .cli.info import info  # noqa: F401\n")
    other = tmp_path / "other.py"
    other.write_text("from .cli import info\n")

    def spec(path):
        return importlib.machinery.ModuleSpec("spacy", None, origin=str(path))

    assert _imports_cli_for_info(spec(known))
    assert not _imports_cli_for_info(spec(other))
    assert not _imports_cli_for_info(spec(tmp_path / "missing.py"))
    assert not _imports_cli_for_info(importlib.machinery.ModuleSpec("spacy", None))
