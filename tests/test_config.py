"""Experiment TOML files: validation messages, overrides, adapters forms, hash, CompareConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell_eval.config import load_experiment, loads_experiment, parse_override
from xsell_eval.errors import ConfigError, UnknownNameError

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

MINIMAL = """
[adapters.random]
[metrics]
k = [5, 10]
"""


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_file_gives_defaults(tmp_path: Path) -> None:
    exp = load_experiment(_write(tmp_path, MINIMAL))
    cfg = exp.to_compare_config()
    assert exp.name == "exp"  # the file stem
    assert cfg.adapters == ("random",) and cfg.baseline == "popular" and cfg.ks == (5, 10)
    assert cfg.data is None  # the embedded data
    assert cfg.protocol == "basket-completion" and cfg.split == "temporal" and cfg.primary_metric == "hit_rate@10"
    assert cfg.validate().adapters == ("popular", "random")


def test_unknown_key_names_key_section_allowed_keys_and_file(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "[split]\ntets_fraction = 0.3\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    msg = str(e.value)
    assert str(p) in msg and "'tets_fraction'" in msg and "[split]" in msg
    assert "Did you mean 'test_fraction'" in msg
    assert "kind, test_fraction, valid_fraction, cutoff" in msg


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("seeed = 1\n", ["unknown top-level key 'seeed'", "Did you mean 'seed'"]),
        ("[metrics]\nprimery = 'ndcg@10'\n", ["'primery'", "[metrics]", "primary"]),
        ("[data.cleaning]\nreturn = 'keep'\n", ["'return'", "[data.cleaning]", "returns"]),
        ("[reprot]\nhtml = true\n", ["'reprot'", "Did you mean 'report'"]),
        ("[tune]\ntrails = 3\n", ["'trails'", "[tune]", "trials", "[tune.<adapter>] tables"]),
    ],
)
def test_unknown_keys_everywhere(tmp_path: Path, text: str, needles: list[str]) -> None:
    base = MINIMAL.replace("[metrics]\nk = [5, 10]\n", "") if "[metrics]" in text else MINIMAL
    body = text + base if not text.startswith("[") else base + text  # top-level keys go first in TOML
    with pytest.raises(ConfigError) as e:
        load_experiment(_write(tmp_path, body))
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[protocol]\nreveal = 'one'\n", ["[protocol] key 'reveal' must be an integer", "'one' (str)"]),
        ("[split]\ntest_fraction = '0.2'\n", ["'test_fraction' must be a number"]),
        ("[metrics]\nk = 10\n", ["'k' must be a list"]),
        ("seed = 1.5\n", ["key 'seed' must be an integer"]),
        ("[report]\nhtml = 'yes'\n", ["'html' must be true or false"]),
        ("[split]\ntest_fraction = 1.5\n", ["test_fraction", "less than 1"]),
        ("[data.cleaning]\nreturns = 'delete'\n", ["returns", "'drop', 'keep' or 'raise'"]),
    ],
)
def test_wrong_types_name_key_and_expectation(tmp_path: Path, text: str, needles: list[str]) -> None:
    base = MINIMAL.replace("[metrics]\nk = [5, 10]\n", "") if "[metrics]" in text else MINIMAL
    body = text + base if not text.startswith("[") else base + text
    with pytest.raises(ConfigError) as e:
        load_experiment(_write(tmp_path, body))
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


def test_several_errors_are_listed_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_experiment(_write(tmp_path, MINIMAL + "[split]\nkinds = 'x'\n[protocol]\nreveal = 'one'\n"))
    assert "'kinds'" in str(e.value) and "'reveal'" in str(e.value)


def test_missing_referenced_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[data\] path = 'nope.csv'.*not found at") as e:
        load_experiment(_write(tmp_path, MINIMAL + "[data]\npath = 'nope.csv'\n"))
    assert str(tmp_path / "nope.csv") in str(e.value)  # relative to the experiment file's folder
    with pytest.raises(ConfigError, match=r"\[adapters.business-rules\] path = 'rules.toml'.*not found"):
        load_experiment(_write(tmp_path, "[adapters.business-rules]\npath = 'rules.toml'\n"))
    with pytest.raises(ConfigError, match=r"\[data\] catalog = 'cat.csv'"):
        load_experiment(_write(tmp_path, MINIMAL + "[data]\ncatalog = 'cat.csv'\n"))
    with pytest.raises(ConfigError, match=r"experiment file .* not found"):
        load_experiment(tmp_path / "missing.toml")


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "exp"
    sub.mkdir()
    (tmp_path / "shop.csv").write_text("basket_id,item_id\n1,a\n")
    exp = load_experiment(_write(sub, MINIMAL + "[data]\npath = '../shop.csv'\n"))
    assert Path(exp.to_compare_config().data or "").resolve() == (tmp_path / "shop.csv").resolve()


def test_bad_toml_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_experiment(_write(tmp_path, "[metrics]\nk = [5,,]\n"))


def test_unknown_names_get_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match=r"\[protocol\] name.*Did you mean 'next-basket'"):
        load_experiment(_write(tmp_path, MINIMAL + "[protocol]\nname = 'next-baskets'\n"))
    with pytest.raises(UnknownNameError, match=r"\[adapters.popluar\].*Did you mean 'popular'"):
        load_experiment(_write(tmp_path, "[adapters.popluar]\n"))
    with pytest.raises(ConfigError, match=r"\[metrics\] primary.*Did you mean 'ndcg'"):
        load_experiment(_write(tmp_path, MINIMAL.replace("k = [5, 10]", "primary = 'ndgc@10'")))
    with pytest.raises(ConfigError, match=r"\[adapters.cf\].*unknown hyperparameter.*k_neighbours.*allowed"):
        load_experiment(_write(tmp_path, "[adapters.cf]\nk_neighbours = 5\n"))


def test_adapter_forms_are_equivalent(tmp_path: Path) -> None:
    tables = load_experiment(_write(tmp_path, "[adapters.popular]\n[adapters.cf]\nk_neighbors = 20\n", "x.toml"))
    array = load_experiment(
        _write(
            tmp_path,
            "[[adapters]]\nname = 'popular'\n[[adapters]]\nname = 'cf'\nparams = { k_neighbors = 20 }\n",
            "sub.toml",
        ),
        ["name=x"],
    )
    names = load_experiment(_write(tmp_path, "adapters = ['popular', 'cf']\n", "c.toml"))
    assert tables.to_compare_config().params == array.to_compare_config().params == {"cf": {"k_neighbors": 20}}
    assert tables.specs == array.specs == names.specs == ["popular", "cf"]
    assert tables.hash == array.hash  # same resolved experiment, same hash
    with pytest.raises(ConfigError, match="listed twice"):
        loads_experiment("adapters = ['cf', 'cf']\n")


def test_overrides_apply_and_are_validated(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "[adapters.cf]\nk_neighbors = 20\n")
    exp = load_experiment(
        p, ["protocol.max_queries=50", "adapters.cf.k_neighbors=7", "metrics.k=[10]", "seed=3", "name=other"]
    )
    cfg = exp.to_compare_config()
    assert cfg.max_queries == 50 and cfg.params["cf"]["k_neighbors"] == 7 and cfg.ks == (10,) and cfg.seed == 3
    assert exp.overrides == (
        "protocol.max_queries=50",
        "adapters.cf.k_neighbors=7",
        "metrics.k=[10]",
        "seed=3",
        "name=other",
    )
    assert exp.hash != load_experiment(p).hash
    with pytest.raises(ConfigError, match=r"unknown key 'max_querys' in \[protocol\]"):
        load_experiment(p, ["protocol.max_querys=5"])
    with pytest.raises(ConfigError, match="no adapter 'knn'"):
        load_experiment(p, ["adapters.knn.k=5"])
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_experiment(p, ["protocol.max_queries"])
    subset = load_experiment(p, ['adapters=["random"]'])
    assert subset.specs == ["random"]


def test_override_values_are_toml_or_text() -> None:
    assert parse_override("a.b=5") == (["a", "b"], 5)
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("a.b=[5, 10]") == (["a", "b"], [5, 10])
    assert parse_override("data.path=/tmp/x") == (["data", "path"], "/tmp/x")
    assert parse_override('m.p="ndcg@10"') == (["m", "p"], "ndcg@10")


def test_abtest_and_tune_sections_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[abtest\] arms.*'cf'.*not adapters of this experiment"):
        load_experiment(_write(tmp_path, MINIMAL + "[abtest]\narms = ['popular', 'cf']\n"))
    with pytest.raises(ConfigError, match=r"\[abtest\] k = 20 is larger"):
        load_experiment(_write(tmp_path, MINIMAL + "[abtest]\nk = 20\n"))
    with pytest.raises(ConfigError, match=r"\[abtest\] split"):
        load_experiment(_write(tmp_path, MINIMAL + "[abtest]\nsplit = [60, 30]\n"))
    with pytest.raises(ConfigError, match=r"\[tune\] give either trials"):
        load_experiment(_write(tmp_path, MINIMAL + "[tune]\nstorage = 'sqlite:///x.db'\n"))
    with pytest.raises(ConfigError, match=r"\[tune.rnd\].*Did you mean \[tune.random\]"):
        load_experiment(_write(tmp_path, MINIMAL + "[tune]\ntrials = 2\n[tune.rnd]\nx = 1\n"))
    ok = load_experiment(_write(tmp_path, MINIMAL + "[tune]\ntrials = 2\n[tune.random]\nx = { low = 1, high = 2 }\n"))
    assert ok.tune is not None and ok.tune.overrides == {"random": {"x": {"low": 1, "high": 2}}}


def test_business_rules_file_is_not_an_experiment() -> None:
    with pytest.raises(ConfigError, match="business-rules file"):
        load_experiment(EXPERIMENTS / "rules" / "online_retail.toml")


def test_cleaning_switches_become_a_policy_spec(tmp_path: Path) -> None:
    exp = load_experiment(_write(tmp_path, MINIMAL + "[data.cleaning]\npreset = 'literature'\nduplicates = 'drop'\n"))
    assert exp.data.cleaning.spec() == "literature,duplicates=drop"
    from xsell_eval.data.cleaning import CleaningPolicy

    policy = CleaningPolicy.from_spec(exp.data.cleaning.spec())
    assert policy.non_product == "keep" and policy.duplicates == "drop"


def test_shipped_experiments_validate() -> None:
    files = sorted(p for p in EXPERIMENTS.glob("*.toml") if "[[rule]]" not in p.read_text(encoding="utf-8"))
    assert {p.stem for p in files} >= {"default_retail", "tuned_comparison", "abtest", "synthetic_truth"}
    for p in files:
        exp = load_experiment(p)
        assert exp.to_compare_config().validate().adapters[0] == exp.baseline
        assert len(exp.hash) == 12


def test_paths_typed_on_the_command_line_are_read_from_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "exp"
    sub.mkdir()
    (tmp_path / "shop.csv").write_text("basket_id,item_id\n1,a\n")
    p = _write(sub, MINIMAL)
    monkeypatch.chdir(tmp_path)
    exp = load_experiment(p, ["data.path=shop.csv"])
    assert Path(exp.to_compare_config().data or "") == (tmp_path / "shop.csv").absolute()
