"""No secret is stored or printed: storage passwords, ``?password=`` queries, sweep-file comments.

The end-to-end tests run a real sweep on the real PostgreSQL server (trust auth accepts and
ignores a password), so "never stored" is checked against a store that was really written: every
value of every table, ours and Optuna's, every line the commands print, every file they write.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from storage.engine import mask_url, scrub
from sweeps.sweep_file import load_sweep_file, saved_text
from tests.conftest import invoke

SECRET = "s3cretPw9x"  # letters and digits: the same percent-encoded or not


def _with_password(url: str) -> str:
    return sa.engine.make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def _with_query(url: str) -> str:
    return f"{url}?password={SECRET}"


def _every_value(url: str) -> list[str]:
    """Every value of every table of the store, as text."""
    engine = sa.create_engine(url)
    values = []
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            assert {"studies", "trials", "sweeps_sweep", "sweeps_trial_result"} <= set(tables)
            for table in tables:
                rows = connection.exec_driver_sql(f'SELECT * FROM "{table}"').all()
                values += [str(value) for row in rows for value in row]
    finally:
        engine.dispose()
    return values


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def _sweep_file(tmp_path: Path, storage: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"# old server: postgresql://postgres:{SECRET}@10.0.0.9/sweeps\n"
        "space: mnist_cnn\n"
        f"storage: {storage}  # password {SECRET}\n"
        "trials: 1\n"
        "epochs: 1\n"
        "baseline: false   # the notebook's recipe is not needed here\n"
        "lr_range_test: false\n"
        "parameters:\n"
        f"  # token={SECRET}\n"
        "  batch_size: {value: 64}\n"
    )
    return path


@pytest.mark.slow  # three real sweeps; the masking itself is checked quickly below
@pytest.mark.parametrize("where", ["url", "query", "sweep file"])
def test_a_password_given_to_a_real_sweep_is_never_stored_or_printed(
    tmp_path: Path, postgres_url: str, where: str
) -> None:
    secret_url = _with_query(postgres_url) if where == "query" else _with_password(postgres_url)
    artifacts, out = tmp_path / "artifacts", tmp_path / "export"
    out.mkdir()
    common = ["--storage", secret_url, "--study", "s", "--artifacts", artifacts]
    if where == "sweep file":
        config = _sweep_file(tmp_path, secret_url)
        run = ["run", "--config", config, "--study", "s", "--artifacts", artifacts]
    else:
        run = ["run", *common, "--trials", 1, "--epochs", 1, "--no-baseline", "--no-lr-range-test"]
    printed = []
    result = invoke(CliRunner(), *run)
    assert result.exit_code == 0, result.output
    printed.append(result.output)
    for command in (
        ["status", "--study", "s"],
        ["show", 0, "--study", "s"],
        ["best", "--study", "s"],
        ["best", "--study", "s", "--format", "json"],
        ["studies"],
        ["export", "--study", "s", "--out", out],
    ):
        result = invoke(CliRunner(), *command, "--storage", secret_url)
        assert result.exit_code == 0, (command, result.output)
        printed.append(result.output)
    if where == "sweep file":  # the saved text is shown, masked, and still parses
        assert "Sweep file" in printed[1] and "postgres:***@" in printed[1]
    for text in printed:
        assert SECRET not in text, text
    stored = [value for value in _every_value(postgres_url) if SECRET in value]
    assert not stored, stored
    written = _files_under(out) + _files_under(artifacts)
    assert len(_files_under(out)) == 2 and _files_under(artifacts)
    leaked = [str(path) for path in written if SECRET.encode() in path.read_bytes()]
    assert not leaked, leaked


# Without a server: the saved text of sweep files that hide a secret in every way YAML allows.

TRICKY_FILES = {
    "plain url": f"storage: postgresql://u:{SECRET}@h/db\n",
    # "\\x50" is the P of the secret: the text never holds the secret as such, the value does
    "double-quoted, escaped": 'storage: "postgresql://u:s3cret\\x50w9x@h/db"\n',
    "single-quoted": f"storage: 'postgresql://u:{SECRET}@h/db'\n",
    "unencoded @ in the password": f"storage: postgresql://u:{SECRET}@x@h/db\n",
    "query password": f"storage: postgresql://h/db?sslmode=disable&password={SECRET}\n",
    "query token, percent-encoded name": f"storage: postgresql://h/db?%74oken={SECRET}\n",
    "flow mapping": f"{{space: mlp, storage: 'postgresql://u:{SECRET}@h/db'}}\n",
    "anchor": f"storage: &db postgresql://u:{SECRET}@h/db\nstudy: x\n",
    "block scalar": f"storage: >-\n  postgresql://u:{SECRET}@h/db\n",
    "comment line": f"# {SECRET}\nspace: mlp\n",
    "trailing comment": f"space: mlp  # {SECRET}\n",
    "comment in parameters": f"parameters:\n  # {SECRET}\n  units: {{value: 64}}\n",
    "comment after a block scalar header": f"study: |  # {SECRET}\n  x\n",
}


@pytest.mark.parametrize("text", TRICKY_FILES.values(), ids=TRICKY_FILES.keys())
def test_the_saved_sweep_file_holds_no_secret(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    loaded = load_sweep_file(path)
    assert SECRET not in loaded.text, loaded.text
    saved = yaml.safe_load(loaded.text) or {}
    assert set(saved) == set(yaml.safe_load(text))  # still the same keys, still YAML
    if "storage" in saved:
        assert "***" in saved["storage"]
        assert loaded.settings["storage"] == yaml.safe_load(text)["storage"]  # used unmasked


def test_what_is_not_secret_stays_as_written() -> None:
    text = (
        "space: mlp   \n"
        "study: 'a # not a comment'\n"
        "dataset: digits\n"
        "storage: postgresql://alice@h/db?sslmode=require\n"
        "parameters:\n"
        "  units: {values: [128, 256]}\n"
    )
    assert saved_text(text) == text
    assert saved_text(f"# note\n{text}") == (
        "# (comments left out: sweeps stores none, as one may hold a password)\n" + text
    )


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}@h/db",
        f"postgresql://h/db?password={SECRET}",
        f"postgresql://h/db?sslpassword={SECRET}&sslmode=require",
        f"postgresql://h/db?PWD={SECRET}",
        f"postgresql://h/db?access_token={SECRET}",
        f"postgresql://h/db?client_secret={SECRET}",
        f"postgresql://h/db?api_key={SECRET}",
        f"postgresql://h/db?pass%77ord={SECRET}",
        f"mysql+pymysql://u:{SECRET}/x@h/db",
    ],
)
def test_mask_url_and_scrub_hide_every_credential(url: str) -> None:
    assert SECRET not in mask_url(url) and "***" in mask_url(url)
    assert SECRET not in scrub(f"could not connect to {url}: authentication failed", url)


def test_a_sweep_file_saved_unmasked_by_an_older_release_is_printed_masked(capsys) -> None:
    from sweeps.cli.query_commands import echo_sweep_file
    from sweeps.config import SweepConfig, SweepSpec

    raw = f"# {SECRET}\nstorage: postgresql://u:{SECRET}@h/db\ntrials: 2\n"
    echo_sweep_file(SweepConfig(SweepSpec(sweep_file="/x/sweep.yaml", sweep_file_text=raw)))
    printed = capsys.readouterr().out
    assert SECRET not in printed and "trials: 2" in printed and "u:***@h" in printed


def test_a_value_repeated_by_an_alias_even_inside_itself_is_masked_once() -> None:
    text = f"study: &a [postgresql://u:{SECRET}@h/x, *a]\n"
    assert saved_text(text) == 'study: &a ["postgresql://u:***@h/x", *a]\n'
